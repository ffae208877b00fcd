"""The ceiling's server: a bare websockets + msgpack echo, no task layer at all.

Each binary message is decoded and re-encoded (the least any RPC server must do), then
sent back. Run as ``python -m edgeoffload.bench.ceiling_server``; prints ``READY ws://...``.
"""

from __future__ import annotations

import asyncio

import msgspec
from websockets.asyncio.server import ServerConnection, serve


async def _echo(ws: ServerConnection) -> None:
    encode, decode = msgspec.msgpack.encode, msgspec.msgpack.decode
    async for message in ws:
        data = message.encode() if isinstance(message, str) else message
        await ws.send(encode(decode(data)))


async def main() -> None:
    async with serve(_echo, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"READY ws://127.0.0.1:{port}/", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
