"""The RPC benchmark's peers do the same tiny work as edgeoffload's path: decode, echo,
encode (a peer doing less would flatter it in docs/performance.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from edgeoffload.bench import ceiling_server, http_server, peers


def test_echo_returns_its_argument_itself() -> None:
    value = {"a": [1, 2]}
    assert peers.echo(value) is value


class _Request:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self) -> bytes:
        return self.body


def test_the_http_peer_answers_task_id_and_first_argument_in_msgpack() -> None:
    body = msgspec.msgpack.encode([7, "echo", [b"xy", "ignored"]])
    response = asyncio.run(http_server.call(_Request(body)))  # type: ignore[arg-type]
    assert response.content_type == "application/msgpack"
    assert isinstance(response.body, bytes)
    assert msgspec.msgpack.decode(response.body) == [7, b"xy"]


class _Socket:
    def __init__(self, messages: list[str | bytes]) -> None:
        self.messages = messages
        self.sent: list[bytes] = []

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        async def gen() -> AsyncIterator[str | bytes]:
            for m in self.messages:
                yield m

        return gen()

    async def send(self, data: bytes) -> None:
        self.sent.append(data)


def test_the_ceiling_peer_echoes_each_frame_decoded_and_reencoded() -> None:
    frames: list[Any] = [[1, "echo", [b"a"]], {"k": 2.5}]
    raw: list[str | bytes] = [msgspec.msgpack.encode(f) for f in frames]
    ws = _Socket(raw)
    asyncio.run(ceiling_server._echo(ws))  # type: ignore[arg-type]
    assert [msgspec.msgpack.decode(s) for s in ws.sent] == frames
    assert ws.sent == raw


def test_the_ceiling_peer_takes_a_text_frame_as_its_utf8_bytes() -> None:
    ws = _Socket([msgspec.msgpack.encode(5).decode("ascii")])  # b"\x05"
    asyncio.run(ceiling_server._echo(ws))  # type: ignore[arg-type]
    assert ws.sent == [b"\x05"]
