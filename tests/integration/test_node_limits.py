"""A real node process against clients that hold its workers, never read, never say
hello or open too many connections: the node stops running work nobody wants, bounds
what it keeps for a connection, and closes or refuses with the documented codes
(docs/protocol.md)."""

from __future__ import annotations

import asyncio
import http.client
import time
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.connection import CLOSE_BACKLOG_FULL, CLOSE_HELLO_TIMEOUT
from edgeoffload.protocol.messages import Cancel, Error, Result, ResultBatch, Submit, SubmitBatch
from tests.conftest import NodeProcess, run
from tests.integration.test_node_process import answer, raw_session

codec = Codec()


async def answers(ws, ids: set[int]) -> dict[int, Result | Error]:  # type: ignore[no-untyped-def]
    """Read frames until there is an answer for each of ``ids``."""
    got: dict[int, Result | Error] = {}
    while not ids <= got.keys():
        message = codec.decode(await ws.recv(decode=False))
        for item in message.items if isinstance(message, ResultBatch) else [message]:
            if isinstance(item, Result | Error) and item.id in ids:
                got[item.id] = item
    return got


async def warm(ws) -> None:  # type: ignore[no-untyped-def]
    """Wait for the pool's workers (a time measured after this is not their start)."""
    await ws.send(codec.encode(Submit(10_000, "echo_pool", [0])))
    assert isinstance(await asyncio.wait_for(answer(ws, 10_000), 20), Result)


def _http(url: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request(method, path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), body


def test_cancelled_sleeps_free_their_workers_within_a_second(node_factory) -> None:  # type: ignore[no-untyped-def]
    """Seen: two sleep(20) cancelled at once left every other pool task unanswered."""
    node: NodeProcess = node_factory("--workers", "2")

    async def main() -> None:
        pinner, _ = await raw_session(node.url)
        other, _ = await raw_session(node.url)
        await warm(other)
        for i in (1, 2):
            await pinner.send(codec.encode(Submit(i, "sleep", [20.0])))
        await asyncio.sleep(0.3)  # both running
        t0 = time.monotonic()
        await pinner.send(codec.encode(Cancel([1, 2])))
        for got in (await answers(pinner, {1, 2})).values():
            assert isinstance(got, Error) and got.code is ErrorCode.CANCELLED
        await other.send(codec.encode(Submit(2, "echo_pool", [7])))
        got = await asyncio.wait_for(answer(other, 2), 5)
        assert isinstance(got, Result), got
        assert time.monotonic() - t0 < 1.0
        await pinner.close()
        await other.close()

    run(main(), timeout=30)


def test_a_client_that_leaves_frees_its_workers(node_factory) -> None:  # type: ignore[no-untyped-def]
    node: NodeProcess = node_factory("--workers", "1")

    async def main() -> None:
        pinner, _ = await raw_session(node.url)
        await warm(pinner)
        await pinner.send(codec.encode(Submit(1, "sleep", [20.0])))
        await asyncio.sleep(0.5)
        await pinner.close()
        other, _ = await raw_session(node.url)
        t0 = time.monotonic()
        await other.send(codec.encode(Submit(2, "echo_pool", [7])))
        assert isinstance(await asyncio.wait_for(answer(other, 2), 5), Result)
        assert time.monotonic() - t0 < 1.5
        await other.close()

    run(main(), timeout=30)


def test_deadline_and_time_limit_stop_running_tasks(node_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EDGEOFFLOAD_NODE__MAX_TASK_S", "1.0")
    node: NodeProcess = node_factory("--workers", "1")

    async def main() -> None:
        ws, _ = await raw_session(node.url)
        await warm(ws)
        t0 = time.monotonic()
        await ws.send(codec.encode(Submit(1, "sleep", [20.0], deadline_ms=500)))
        got = await asyncio.wait_for(answer(ws, 1), 5)
        assert isinstance(got, Error) and got.code is ErrorCode.DEADLINE_EXCEEDED, got
        assert "stopped" in got.message and time.monotonic() - t0 < 1.5
        t0 = time.monotonic()
        await ws.send(codec.encode(Submit(2, "sleep", [20.0])))  # no deadline: the cap
        got = await asyncio.wait_for(answer(ws, 2), 5)
        assert isinstance(got, Error) and got.code is ErrorCode.DEADLINE_EXCEEDED, got
        assert "time limit" in got.message and time.monotonic() - t0 < 2.0
        await ws.send(codec.encode(Submit(3, "echo_pool", [3])))
        assert isinstance(await asyncio.wait_for(answer(ws, 3), 5), Result)
        await ws.close()

    run(main(), timeout=30)


def test_readyz_says_not_ready_while_every_worker_is_pinned(node_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EDGEOFFLOAD_NODE__POOL_STALL_S", "0.5")
    node: NodeProcess = node_factory("--workers", "1")

    async def main() -> None:
        ws, _ = await raw_session(node.url)
        await ws.send(codec.encode(Submit(1, "sleep", [3.0])))
        await asyncio.sleep(1.2)
        status, _, body = await asyncio.to_thread(_http, node.url, "/readyz")
        assert status == 503 and b"no free worker" in body, body
        assert (await asyncio.to_thread(_http, node.url, "/healthz"))[0] == 200
        await ws.close()

    run(main(), timeout=30)


def test_a_client_that_never_reads_is_paused_then_closed(node_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Seen: 48 frames of 8 MiB accepted in 4 s, +436 MiB, no send ever blocking."""
    monkeypatch.setenv("EDGEOFFLOAD_NODE__MAX_BACKLOG_BYTES", str(4 << 20))
    monkeypatch.setenv("EDGEOFFLOAD_NODE__BACKLOG_TIMEOUT_S", "3.0")
    node: NodeProcess = node_factory("--workers", "1", "--max-frame-bytes", str(16 << 20))
    import psutil

    proc = psutil.Process(node.pid)
    payload = b"x" * (4 << 20)

    async def main() -> None:
        ws, _ = await raw_session(node.url, max_queue=1)
        # The client's own reading stops too: its socket buffer fills, then the node's.
        ws.transport.pause_reading()
        rss0 = proc.memory_info().rss
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for i in range(48):
                await ws.send(codec.encode(Submit(i, "echo", [payload])))
                sent += 1

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flood(), 2.0)
        growth = (proc.memory_info().rss - rss0) / 2**20
        assert sent < 20, sent
        assert growth < 64, growth
        # Still full past the timeout: the node closes with the documented code.
        await asyncio.sleep(3.0)
        ws.transport.resume_reading()

        async def read_all() -> None:
            while True:
                await ws.recv()

        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(read_all(), 10)
        assert info.value.rcvd is None or info.value.rcvd.code == CLOSE_BACKLOG_FULL

    run(main(), timeout=40)


def test_a_connection_without_hello_is_closed_with_its_code(node_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Seen: 1,000 connections that never sent a hello were still open after 25 s."""
    monkeypatch.setenv("EDGEOFFLOAD_NODE__HELLO_TIMEOUT_S", "0.5")
    node: NodeProcess = node_factory("--workers", "1")

    async def main() -> None:
        ws = await connect(node.url, compression=None)
        t0 = time.monotonic()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == CLOSE_HELLO_TIMEOUT
        assert time.monotonic() - t0 < 2.0

    run(main(), timeout=30)


def test_connections_beyond_the_caps_are_refused(node_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EDGEOFFLOAD_NODE__MAX_CONNECTIONS_PER_ADDRESS", "3")
    node: NodeProcess = node_factory("--workers", "1")

    async def main() -> None:
        held = [await connect(node.url, compression=None) for _ in range(3)]
        with pytest.raises(InvalidStatus) as info:
            await connect(node.url, compression=None)
        assert info.value.response.status_code == 429
        await held.pop().close()
        await asyncio.sleep(0.1)
        held.append(await connect(node.url, compression=None))  # room again
        for ws in held:
            await ws.close()

    run(main(), timeout=30)


def test_fragmented_messages_are_assembled(node: NodeProcess) -> None:
    """Seen: dropped silently, and after about 14 the connection stopped being read."""

    async def main() -> None:
        ws, _ = await raw_session(node.url)
        for i in range(40):
            frame = codec.encode(Submit(i, "echo", [i]))
            half = len(frame) // 2
            ws.protocol.send_frame(Frame(Opcode.BINARY, frame[:half], fin=False))
            ws.protocol.send_frame(Frame(Opcode.CONT, frame[half:], fin=True))
            ws.send_data()
            got = await asyncio.wait_for(answer(ws, i), 5)
            assert isinstance(got, Result) and got.value == i
        await ws.close()

    run(main(), timeout=30)


def test_metrics_are_cached_and_405_names_what_is_allowed(node: NodeProcess) -> None:
    status, _, first = _http(node.url, "/metrics")
    assert status == 200
    again = _http(node.url, "/metrics")[2]
    assert again == first  # one sample for the cache interval
    status, headers, _ = _http(node.url, "/metrics", "POST")
    assert status == 405 and headers.get("Allow") == "GET"


def test_answers_of_admitted_work_cannot_grow_a_backlog_past_twice_its_bound(  # type: ignore[no-untyped-def]
    node_factory, monkeypatch
) -> None:
    """Reading paused, pool tasks admitted before still answer: past twice the bound the
    connection is closed at once (4002), not when the timeout ends."""
    monkeypatch.setenv("EDGEOFFLOAD_NODE__MAX_BACKLOG_BYTES", str(4 << 20))
    # One task per chunk: a chunk's results cross from its worker together, a cost
    # bounded by max_chunk (not the backlog's to bound).
    monkeypatch.setenv("EDGEOFFLOAD_NODE__MAX_CHUNK", "1")
    node: NodeProcess = node_factory("--workers", "1", "--tasks", "tests.remote_tasks")
    import psutil

    proc = psutil.Process(node.pid)

    async def main() -> None:
        ws, _ = await raw_session(node.url, max_queue=1)
        ws.transport.pause_reading()
        rss0 = proc.memory_info().rss
        batch = [Submit(i, "blob", [1 << 20]) for i in range(120)]  # 120 MiB of answers
        await ws.send(codec.encode(SubmitBatch(batch)))
        peak = rss0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 4.0:
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.05)
        assert (peak - rss0) / 2**20 < 40, (peak - rss0) / 2**20
        ws.transport.resume_reading()

        async def read_all() -> None:
            while True:
                await ws.recv()

        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(read_all(), 10)

    run(main(), timeout=40)
