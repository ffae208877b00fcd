"""controller.web's routes on a real controller in process: the page with its security
headers (rendered with the site only when reads are allowed), HEAD, the two static
files with their types and nothing else, and server-sent events framing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from edgeoffload.controller import web
from tests.unit.controller.serving import serving

SECRET = "w" * 40


def test_the_page_with_its_headers_and_the_site(tmp_path: Path) -> None:
    with serving(tmp_path) as s:
        s.register("edge-7", with_sample=True)
        status, body, headers = s.request("GET", "/")
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        for name, value in web.PAGE_HEADERS.items():
            assert headers[name.lower()] == value
        assert 'data-node="edge-7"' in body
        status, body, _ = s.request("HEAD", "/")
        assert (status, body) == (200, "")


def test_with_a_secret_the_page_is_served_without_the_site(tmp_path: Path) -> None:
    with serving(tmp_path, auth_secret=SECRET) as s:
        s.register("edge-7")
        status, body, _ = s.request("GET", "/")
        assert status == 200
        assert "A token is needed" in body
        assert "edge-7" not in body


def test_static_files_and_nothing_else(tmp_path: Path) -> None:
    with serving(tmp_path) as s:
        for name, kind in (
            ("dashboard.js", "text/javascript; charset=utf-8"),
            ("dashboard.css", "text/css; charset=utf-8"),
        ):
            status, body, headers = s.request("GET", f"/static/{name}")
            assert status == 200
            assert headers["content-type"] == kind
            assert headers["cache-control"] == "no-cache"
            assert headers["x-content-type-options"] == "nosniff"
            assert body == web._read(name).decode()
        for name in ("dashboard.html", "x.js"):  # the template is not a static file
            assert s.request("GET", f"/static/{name}")[:2] == (404, "not found\n")
        status, body, _ = s.request("GET", "/static/..%2Fapi.py")  # no route outside
        assert (status, body["error"]) == (404, "not_found")


def test_the_stream_needs_a_token_when_reads_are_closed(tmp_path: Path) -> None:
    with serving(tmp_path, auth_secret=SECRET) as s:
        status, body, _ = s.request("GET", "/api/stream")
        assert (status, body["error"]) == (401, "unauthorized")


def test_sse_framing() -> None:
    async def frames() -> AsyncIterator[bytes | None]:
        yield b'{"type":"snapshot"}'
        yield None
        yield b'{"type":"sample"}'

    async def collect() -> list[bytes]:
        return [chunk async for chunk in web._sse(frames())]

    assert asyncio.run(collect()) == [
        b"retry: 2000\n\n",
        b'data: {"type":"snapshot"}\n\n',
        b": keep-alive\n\n",
        b'data: {"type":"sample"}\n\n',
    ]
