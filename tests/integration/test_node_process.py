"""A real node process, real WebSocket connections: results, bad inputs, drain."""

from __future__ import annotations

import asyncio
import signal
import time
from unittest.mock import ANY

import msgspec
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import edgeoffload.examples.tasks as ex
from edgeoffload import Client
from edgeoffload.auth import make_token
from edgeoffload.errors import (
    BadArguments,
    DeadlineExceeded,
    FrameTooLarge,
    TaskFailed,
    Unauthorized,
    UnknownTask,
)
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import (
    PROTOCOL_VERSION,
    Draining,
    Error,
    Heartbeat,
    Hello,
    Result,
    ResultBatch,
    Status,
    Submit,
    SubmitBatch,
    Welcome,
)
from tests.conftest import NodeProcess, run

codec = Codec()


async def raw_session(url: str, **kw: object):  # type: ignore[no-untyped-def]
    """A bare WebSocket with the hello done: for sending hand-made frames."""
    ws = await connect(url, compression=None, max_size=None, **kw)  # type: ignore[arg-type]
    await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "raw")))
    welcome = codec.decode(await ws.recv(decode=False))
    assert isinstance(welcome, Welcome)
    return ws, welcome


async def answer(ws, task_id: int):  # type: ignore[no-untyped-def]
    """Read frames until the answer about ``task_id``."""
    while True:
        message = codec.decode(await ws.recv(decode=False))
        items = message.items if isinstance(message, ResultBatch) else [message]
        for item in items:
            if isinstance(item, Result | Error) and item.id == task_id:
                return item


async def answers_for(ws, ids) -> list[Result | Error]:  # type: ignore[no-untyped-def]
    """Read frames until there is an answer for each of ``ids``; return them in order."""
    got: dict[int, Result | Error] = {}
    while not set(ids) <= got.keys():
        message = codec.decode(await ws.recv(decode=False))
        for item in message.items if isinstance(message, ResultBatch) else [message]:
            if isinstance(item, Result | Error) and item.id is not None:
                got[item.id] = item
    return [got[i] for i in ids]


SECRET = "correct-horse-battery-staple-0123456789"


def test_results_are_the_same_locally_and_on_the_node(node: NodeProcess) -> None:
    frame = np.random.default_rng(1).integers(0, 255, (120, 160), dtype=np.uint8)

    async def main() -> None:
        async with Client([node.url]) as client:
            for fn, args in [
                (ex.add, (2, 3.5)),
                (ex.count_primes, (5000,)),
                (ex.inspect_frame, (frame,)),
            ]:
                remote = await client.submit(fn, *args, where="edge")
                local = await client.submit(fn, *args, where="local")
                assert remote == local == fn(*args)
            stats = client.statistics()
            assert stats.completed_edge == 3 and stats.completed_local == 3

    run(main())


def test_many_in_flight_on_one_connection_all_arrive_in_order(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url]) as client:
            inline = await client.map("echo", range(5000), window=2000)
            pooled = await client.map("echo_pool", range(5000), window=2000)
            assert inline == pooled == list(range(5000))

    run(main())


def test_each_bad_input_gets_its_error_and_the_node_keeps_serving(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url], max_frame_bytes=1 << 20) as client:
            with pytest.raises(UnknownTask, match="no connected node serves task 'nope'"):
                await client.submit("nope", where="edge")
            with pytest.raises(BadArguments, match="takes 2 positional arguments, got 1"):
                await client.submit("add", 1, where="edge")
            with pytest.raises(BadArguments, match="argument 'a'"):
                await client.submit("add", "one", 2, where="edge")
            with pytest.raises(TaskFailed) as failed:
                await client.submit("fail", "boom", where="edge")
            assert failed.value.exc_type == "ValueError" and "boom" in str(failed.value)
            with pytest.raises(DeadlineExceeded):
                await client.submit("sleep", 0.5, deadline=0.05, where="edge")
            with pytest.raises(FrameTooLarge):
                await client.submit("echo", b"x" * (2 << 20), where="edge")
            assert await client.submit("echo", "still serving", where="edge") == "still serving"

        # Raw frames the SDK would never send:
        ws, welcome = await raw_session(node.url)
        await ws.send(b"\xc1 garbage")
        bad = codec.decode(await ws.recv(decode=False))
        assert isinstance(bad, Error) and bad.code is ErrorCode.BAD_FRAME and bad.id is None
        await ws.send(codec.encode(Submit(1, "nope", [])))
        assert (await answer(ws, 1)).code is ErrorCode.UNKNOWN_TASK
        await ws.send(codec.encode(Submit(2, "sleep", [1.0], deadline_ms=0.0)))
        assert (await answer(ws, 2)).code is ErrorCode.DEADLINE_EXCEEDED
        # A task whose labels the node lacks is not offered, and refused by name.
        assert "gpu_pid" not in welcome.tasks and "echo" in welcome.tasks
        await ws.send(codec.encode(Submit(4, "gpu_pid", [])))
        refused = await answer(ws, 4)
        assert refused.code is ErrorCode.UNKNOWN_TASK and "gpu=true" in refused.message
        await ws.send(codec.encode(Heartbeat(5, 1.5)))
        status = codec.decode(await ws.recv(decode=False))
        assert isinstance(status, Status) and (status.seq, status.sent_at) == (5, 1.5)
        await ws.send(codec.encode(Submit(3, "echo", ["ok"])))
        ok = await answer(ws, 3)
        assert isinstance(ok, Result) and ok.value == "ok"
        await ws.close()

    run(main())


def test_worker_crash_fails_the_task_with_a_reason_and_the_pool_recovers(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url]) as client:
            with pytest.raises(TaskFailed, match="worker process died"):
                await client.submit("crash", 3, where="edge")
            assert await client.submit("echo_pool", 41, where="edge") == 41

    run(main())


def test_oversized_frame_is_refused_from_its_header_without_reading_it(node_factory) -> None:  # type: ignore[no-untyped-def]
    small = node_factory("--workers", "1", "--max-frame-bytes", "65536")

    async def main() -> None:
        # A frame header announcing 1 GiB, then nothing: the node must refuse it at once.
        ws, _ = await raw_session(small.url)
        header = bytes([0x82, 0xFF]) + (1 << 30).to_bytes(8, "big") + b"\x00\x00\x00\x00"
        ws.transport.write(header)  # raw bytes: masked frame header, no payload follows
        t0 = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert time.monotonic() - t0 < 2.0
        # others are unaffected
        async with Client([small.url]) as client:
            assert await client.submit("echo", 1) == 1

    run(main())


def test_text_and_wrong_message_types_get_bad_frame(node: NodeProcess) -> None:
    async def main() -> None:
        ws, _ = await raw_session(node.url)
        await ws.send(codec.encode(Result(1, "a node message from a client")))
        error = codec.decode(await ws.recv(decode=False))
        assert isinstance(error, Error) and error.code is ErrorCode.BAD_FRAME
        assert "Result not allowed" in error.message
        await ws.send(msgspec.msgpack.encode([3, 1, "echo"]))  # a submit with fields missing
        error = codec.decode(await ws.recv(decode=False))
        assert isinstance(error, Error) and error.code is ErrorCode.BAD_FRAME
        await ws.close()

    run(main())


def test_version_mismatch_closes_with_an_error(node: NodeProcess) -> None:
    async def main() -> None:
        async with connect(node.url, compression=None) as ws:
            await ws.send(codec.encode(Hello(PROTOCOL_VERSION + 1, "future")))
            error = codec.decode(await ws.recv(decode=False))
            assert isinstance(error, Error) and error.code is ErrorCode.VERSION_MISMATCH
            with pytest.raises(ConnectionClosed):
                await ws.recv()

    run(main())


def test_tokens_are_required_when_the_node_has_a_secret(node_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    secured = node_factory("--workers", "1", "--auth-secret-file", str(secret_file))
    assert SECRET not in " ".join(secured.args)  # nothing on argv for `ps` to show

    async def main() -> None:
        good = make_token(SECRET, "camera", "client", 60)
        async with Client([secured.url], token=good) as client:
            assert await client.submit("echo", "in") == "in"
        expired = make_token(SECRET, "camera", "client", 60, now=time.time() - 3600)
        for token, reason in [
            (None, "a token is required"),
            (expired, "token expired"),
            ("junk", "invalid"),
            (make_token(SECRET, "edge-9", "node", 60), "role 'node' may not do this"),
            ("x" * 100_000, "over the 4096 limit"),
        ]:
            async with connect(secured.url, compression=None) as ws:
                await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "c", token)))
                error = codec.decode(await ws.recv(decode=False))
                assert isinstance(error, Error) and error.code is ErrorCode.UNAUTHORIZED
                assert reason in error.message
        # Seen: a refused token surfaced as `NoNodeAvailable ... within 10.0 s` after
        # 15 s. Now: Unauthorized at once, naming the node and the reason.
        started = time.monotonic()
        async with Client([secured.url], token=expired) as client:
            with pytest.raises(Unauthorized, match=f"{secured.url}: .*token expired"):
                await client.submit("echo", 1, where="edge")
            with pytest.raises(Unauthorized, match="token expired"):  # and the next at once
                await client.submit("echo", 2, where="edge")
            assert "token expired" in client.nodes[0].last_error
        assert time.monotonic() - started < 3.0

    run(main())


def test_sigterm_drains_admitted_work_and_exits_cleanly(node_factory) -> None:  # type: ignore[no-untyped-def]
    draining = node_factory("--workers", "2", "--drain-timeout-s", "10")

    async def main() -> None:
        async with Client([draining.url]) as client:
            tasks = [
                asyncio.ensure_future(client.submit("sleep", 0.3, where="edge")) for _ in range(4)
            ]
            await asyncio.sleep(0.1)  # the four are admitted and running or queued
            draining.signal(signal.SIGTERM)
            assert await asyncio.gather(*tasks) == [0.3] * 4
            assert client.statistics().resubmitted == 0

    run(main())
    assert draining.proc.wait(10) == 0


def test_sigterm_closes_connections_that_stay_open_with_1001(node_factory) -> None:  # type: ignore[no-untyped-def]
    draining = node_factory("--workers", "1", "--drain-timeout-s", "10")

    async def main() -> None:
        ws, _ = await raw_session(draining.url)  # idle, and never closes by itself
        draining.signal(signal.SIGTERM)
        notice = codec.decode(await ws.recv(decode=False))
        assert notice == Draining("node shutting down", 10.0)
        await asyncio.wait_for(ws.wait_closed(), 5)  # not the drain timeout: nothing ran
        assert ws.close_code == 1001

    run(main())
    assert draining.proc.wait(10) == 0


def test_ready_quickly_after_start(node: NodeProcess) -> None:
    # Behaviour, not a benchmark: the node answers as soon as it printed READY.
    async def main() -> None:
        async with Client([node.url]) as client:
            assert await client.submit("echo", 0) == 0

    run(main())


def test_a_client_filling_the_queue_does_not_refuse_anothers_pool_tasks(node_factory) -> None:  # type: ignore[no-untyped-def]
    # Issue 12: one client filling the queue made every other client's pool submits fail
    # `overloaded` (10 of 10). The hog fills it with slow tasks on one worker; the other
    # client, under its fair share, gets all 10 answered (the hog's newest queued tasks
    # are pushed out for them, answered `overloaded` with a retry hint).
    node = node_factory("--workers", "1", "--max-pending", "200")

    async def main() -> None:
        ws, _ = await raw_session(node.url)
        hog = [Submit(i, "sleep", [0.01]) for i in range(200)]
        await ws.send(codec.encode(SubmitBatch(hog)))
        await ws.send(codec.encode(Submit(1000, "sleep", [0.01])))  # over its share
        refused = await answer(ws, 1000)
        assert refused.code is ErrorCode.OVERLOADED and refused.retry_after_s
        other, _ = await raw_session(node.url)
        await other.send(
            codec.encode(SubmitBatch([Submit(i, "echo_pool", [i]) for i in range(10)]))
        )
        answers = await answers_for(other, range(10))  # each refusal would show here
        assert answers == [Result(i, i, a.run_ms, a.queue_ms) for i, a in enumerate(answers)]
        await other.close()
        pushed = await answers_for(ws, range(190, 200))
        assert all(e.code is ErrorCode.OVERLOADED and "pushed out" in e.message for e in pushed)
        await ws.close()

    run(main())


def test_a_duplicate_id_in_flight_is_refused_once_and_answered_once(node: NodeProcess) -> None:
    # Issue 12, 6: it was answered twice under the same id (an error, then the result).
    async def main() -> None:
        ws, _ = await raw_session(node.url)
        await ws.send(codec.encode(Submit(1, "sleep_echo", ["first", 0.2])))
        await ws.send(codec.encode(Submit(1, "sleep_echo", ["second", 0.0])))
        refusal = codec.decode(await ws.recv(decode=False))
        assert refusal == Error(
            None, ErrorCode.DUPLICATE_ID, "task id 1 is already in flight; this submit was ignored"
        )
        result = await answer(ws, 1)
        assert isinstance(result, Result) and result.value == "first"
        # a bad item in a batch is answered alone, the others run
        frame = msgspec.msgpack.encode(
            [4, [[3, 2, "echo", ["ok"]], [3, 3, "echo", [1], 5000], [3, 4, "echo", ["ok too"]]]]
        )
        await ws.send(frame)
        answers = dict(zip((2, 3, 4), await answers_for(ws, (2, 3, 4)), strict=True))
        assert answers[2] == Result(2, "ok", answers[2].run_ms, answers[2].queue_ms)
        assert answers[4] == Result(4, "ok too", answers[4].run_ms, answers[4].queue_ms)
        assert answers[3].code is ErrorCode.BAD_FRAME and "batch item 1" in answers[3].message
        await ws.close()

    run(main())


def test_inline_frames_past_the_turn_budget_are_all_answered_in_order(node: NodeProcess) -> None:
    # A frame of 4,096 inline tasks runs 256 a turn (the connection is not read
    # meanwhile, then read again): every task is answered, in order, and the
    # connection keeps serving; another connection is served meanwhile.
    async def main() -> None:
        flood, _ = await raw_session(node.url)
        other, _ = await raw_session(node.url)
        for k in range(3):
            items = [Submit(k * 4096 + i, "echo", [i]) for i in range(4096)]
            await flood.send(codec.encode(SubmitBatch(items)))
        await other.send(codec.encode(Submit(1, "echo", ["me"])))
        order: list[int] = []
        while len(order) < 3 * 4096:
            message = codec.decode(await flood.recv(decode=False))
            for item in message.items if isinstance(message, ResultBatch) else [message]:
                assert isinstance(item, Result), item
                order.append(item.id)
        assert order == list(range(3 * 4096))
        assert await answers_for(other, [1]) == [Result(1, "me", ANY)]
        await flood.send(codec.encode(Submit(99_999, "echo", ["still here"])))
        assert (await answers_for(flood, [99_999]))[0].value == "still here"  # type: ignore[union-attr]
        await flood.close()
        await other.close()

    run(main())


def test_readyz_stays_503_until_the_workers_have_imported_the_tasks(node_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 (readiness that means ready): the node listens at once, but it is ready
    for an orchestrator only once its workers are started and warm."""
    import urllib.error
    import urllib.request

    (tmp_path / "slow_tasks.py").write_text(
        "import os, time\n"
        "from edgeoffload import task\n"
        "if os.environ.get('EDGEOFFLOAD_POOL_PARENT'):\n"
        "    time.sleep(2.0)  # the forkserver's import: a heavy model, say\n"
        "@task(name='slow_echo')\n"
        "def slow_echo(x):\n"
        "    return x\n"
    )
    node = node_factory("--workers", "1", "--tasks", str(tmp_path / "slow_tasks.py"))
    base = node.url.replace("ws://", "http://").replace("/offload", "")

    def readyz() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    status, body = readyz()
    assert (status, body) == (503, "starting: workers are not ready yet\n")
    deadline = time.monotonic() + 20
    while readyz()[0] != 200:
        assert time.monotonic() < deadline, "never ready"
        time.sleep(0.05)
    assert readyz() == (200, "ready\n")
