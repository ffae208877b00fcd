"""The HTTP/1.1 peer's server: aiohttp, POST /call with a msgpack body, keep-alive.

The handler decodes the request, runs the same tiny task (echo), and encodes the reply:
the same work as the WebSocket paths, over one request per task.
"""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web


async def call(request: web.Request) -> web.Response:
    task_id, _name, args = msgspec.msgpack.decode(await request.read())
    return web.Response(
        body=msgspec.msgpack.encode([task_id, args[0]]), content_type="application/msgpack"
    )


async def main() -> None:
    app = web.Application()
    app.router.add_post("/call", call)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr,unused-ignore]
    print(f"READY http://127.0.0.1:{port}/call", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
