"""controller.runner: the server binds before it creates anything (a taken port fails
at once, with no database left behind), reports the port it got and its URL, serves
until stopped, and serve_until_signalled stops on SIGTERM and gives the signal back."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edgeoffload.config import ControllerConfig
from edgeoffload.controller.runner import ControllerServer, serve_until_signalled
from tests.conftest import run


def config(tmp_path: Path, **kw: object) -> ControllerConfig:
    kw.setdefault("port", 0)
    return ControllerConfig(store=f"sqlite:///{tmp_path}/c.db", **kw)  # type: ignore[arg-type]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


def test_start_picks_a_port_serves_and_stop_closes(tmp_path: Path) -> None:
    async def main() -> None:
        server = ControllerServer(config(tmp_path))
        assert server.port == 0
        await server.start()
        try:
            assert server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}"
            assert server.controller.ready
            status, body = await asyncio.to_thread(get, server.url + "/readyz")
            assert (status, body) == (200, b"ready\n")
        finally:
            await server.stop()
        assert not server.controller.ready
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            await asyncio.to_thread(get, server.url + "/healthz")

    run(main())
    assert (tmp_path / "c.db").is_file()


def test_a_taken_port_fails_before_the_store_is_created(tmp_path: Path) -> None:
    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            server = ControllerServer(config(tmp_path, port=s.getsockname()[1]))
            with pytest.raises(OSError, match="in use") as exc:
                await server.start()
            assert exc.value.errno == errno.EADDRINUSE

    run(main())
    assert list(tmp_path.iterdir()) == []


def test_the_url_says_https_with_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"  # read only when serving starts
    server = ControllerServer(config(tmp_path, tls_cert_file=str(cert), tls_key_file=str(key)))
    assert server.url == "https://127.0.0.1:0"
    assert ControllerServer(config(tmp_path, port=8700)).url == "http://127.0.0.1:8700"


def test_serve_until_sigterm_then_the_handler_is_given_back(tmp_path: Path) -> None:
    seen: list[str] = []

    def ready(server: ControllerServer) -> None:
        seen.append(server.url)
        os.kill(os.getpid(), signal.SIGTERM)  # handled by the loop: stop

    before = signal.getsignal(signal.SIGTERM)
    run(serve_until_signalled(config(tmp_path), ready), timeout=30)
    assert len(seen) == 1 and seen[0].startswith("http://127.0.0.1:")
    assert signal.getsignal(signal.SIGTERM) == before
