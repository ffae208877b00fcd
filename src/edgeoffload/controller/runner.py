"""Run the controller until SIGTERM or SIGINT: the process side of ``edgeoffload controller``."""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from collections.abc import Callable

from ..config import ControllerConfig
from .api import create_app
from .service import Controller


class ControllerServer:
    """The controller and its HTTP server (uvicorn), started and stopped together."""

    def __init__(self, config: ControllerConfig) -> None:
        import uvicorn

        self.controller = Controller(config)
        self._config = uvicorn.Config(
            create_app(self.controller),
            host=config.host,
            port=config.port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            ws_ping_interval=None,
            ssl_certfile=config.tls_cert_file,
            ssl_keyfile=config.tls_key_file,
            ssl_ca_certs=config.tls_client_ca_file,
            ssl_cert_reqs=ssl.CERT_REQUIRED if config.tls_client_ca_file else ssl.CERT_NONE,
        )
        self._server = uvicorn.Server(self._config)
        self._serving: asyncio.Task[None] | None = None
        self.port = config.port

    async def start(self) -> None:
        """Bind the port, open the store, then serve; returns when serving.

        The port is bound first so that a port in use fails at once, before anything
        is created (a second controller on a taken port once created its database,
        then let uvicorn print its error and exit 3).

        Raises:
            OSError: the address cannot be bound (in use, not this host's, privileged).
        """
        cfg = self.controller.config
        family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        sock = socket.create_server((cfg.host, cfg.port), family=family, backlog=2048)
        try:
            await self.controller.start()
        except BaseException:
            sock.close()
            raise
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                await self._serving  # raises why it could not start
                raise RuntimeError("controller server stopped during start-up")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.controller.config.tls else "http"
        return f"{scheme}://{self._config.host}:{self.port}"

    async def stop(self) -> None:
        self.controller.end_streams()  # the server waits for open responses to end
        self._server.should_exit = True
        if self._serving is not None:
            await self._serving
        await self.controller.close()


async def serve_until_signalled(
    config: ControllerConfig, on_ready: Callable[[ControllerServer], None]
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = ControllerServer(config)
        await server.start()
        on_ready(server)
        await stop.wait()
        await server.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
