"""The node's asyncio adapter in this process, over real WebSockets: that it carries out
what admission decides (welcome, refusals, inline runs, queued runs, drain and resume
notices, dropped work of a closed connection) and encodes answers it cannot send as
they are as that task's error. The decisions themselves are tested in
test_admission.py; here each path is crossed once, end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from edgeoffload.config import NodeConfig
from edgeoffload.node.server import EdgeNode
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import (
    PROTOCOL_VERSION,
    Draining,
    Error,
    Heartbeat,
    Hello,
    Message,
    Result,
    ResultBatch,
    Resume,
    Status,
    Submit,
    SubmitBatch,
    Welcome,
)
from edgeoffload.tasks import TaskSpec, load_modules
from tests.conftest import run

codec = Codec()
LIMIT = 1 << 16  # the test node's frame limit


def inline(name: str, fn: Any) -> TaskSpec:
    return TaskSpec(name=name, fn=fn, module="tests", inline=True)


TASKS = {
    **load_modules(["edgeoffload.examples.tasks"]),
    "grow": inline("grow", lambda n: b"x" * n),
    "unsendable": inline("unsendable", lambda: object()),
}


@asynccontextmanager
async def started(**config: Any) -> AsyncIterator[EdgeNode]:
    node = EdgeNode(NodeConfig(port=0, workers=1, max_frame_bytes=LIMIT, **config), TASKS)
    await node.start()
    try:
        yield node
    finally:
        await node.shutdown()


async def hello(node: EdgeNode, **kw: Any) -> tuple[ClientConnection, Message]:
    ws = await connect(node.url, compression=None, max_size=None)
    await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "test", **kw)))
    return ws, await receive(ws)


async def receive(ws: ClientConnection) -> Message:
    message: Message = codec.decode(await ws.recv(decode=False))
    return message


async def answers(ws: ClientConnection, count: int) -> dict[int, Result | Error]:
    """Read frames until ``count`` task answers arrived; by task id."""
    out: dict[int, Result | Error] = {}
    while len(out) < count:
        message = await receive(ws)
        items = message.items if isinstance(message, ResultBatch) else [message]
        for item in items:
            assert isinstance(item, Result | Error) and item.id is not None
            out[item.id] = item
    return out


def test_welcome_then_inline_queued_and_refused_answers_in_one_frame() -> None:
    async def scenario() -> None:
        async with started(labels={"zone": "a"}) as node:
            ws, welcome = await hello(node)
            assert isinstance(welcome, Welcome)
            assert welcome.node_id == node.node_id and welcome.labels == {"zone": "a"}
            assert welcome.tasks == node.offered and "gpu_pid" not in welcome.tasks
            frame = SubmitBatch(
                [
                    Submit(1, "echo", ["inline"]),
                    Submit(2, "echo_pool", ["pool"]),
                    Submit(3, "nope", []),
                    Submit(4, "gpu_pid", []),
                    Submit(5, "add", ["x", 1]),
                ]
            )
            await ws.send(codec.encode(frame))
            got = await answers(ws, 5)
            assert got[1] == Result(1, "inline", got[1].run_ms, got[1].queue_ms)  # type: ignore[union-attr]
            assert isinstance(got[2], Result) and got[2].value == "pool"
            codes = {i: getattr(got[i], "code", None) for i in (3, 4, 5)}
            assert codes == {
                3: ErrorCode.UNKNOWN_TASK,
                4: ErrorCode.UNKNOWN_TASK,
                5: ErrorCode.BAD_ARGS,
            }
            await ws.close()

    run(scenario(), timeout=60)


def test_drain_and_resume_reach_open_connections_and_gate_new_work() -> None:
    async def scenario() -> None:
        async with started() as node:
            ws, _ = await hello(node)
            node.drain("maintenance")
            assert await receive(ws) == Draining("maintenance")
            await ws.send(codec.encode(Submit(1, "echo", [1])))
            refused = (await answers(ws, 1))[1]
            assert isinstance(refused, Error) and refused.code is ErrorCode.DRAINING
            # A hello to a drained node is welcomed, then told at once.
            late, welcome = await hello(node)
            assert isinstance(welcome, Welcome)
            assert await receive(late) == Draining("maintenance")
            node.resume("back")
            assert await receive(ws) == Resume("back")
            assert await receive(late) == Resume("back")
            await ws.send(codec.encode(Submit(2, "echo", [2])))
            assert (await answers(ws, 1))[2].id == 2
            await ws.close()
            await late.close()

    run(scenario(), timeout=60)


def test_an_answer_too_large_or_unencodable_becomes_that_tasks_error() -> None:
    async def scenario() -> None:
        async with started() as node:
            ws, _ = await hello(node)
            frame = SubmitBatch(
                [
                    Submit(1, "grow", [2 * LIMIT]),
                    Submit(2, "unsendable", []),
                    Submit(3, "grow", [10]),
                    # Two answers that fit one by one but not together: split in two frames.
                    Submit(4, "grow", [LIMIT * 2 // 3]),
                    Submit(5, "grow", [LIMIT * 2 // 3]),
                ]
            )
            await ws.send(codec.encode(frame))
            got = await answers(ws, 5)
            too_large, unsendable = got[1], got[2]
            assert isinstance(too_large, Error) and too_large.code is ErrorCode.TOO_LARGE
            assert isinstance(unsendable, Error) and unsendable.code is ErrorCode.TASK_FAILED
            assert unsendable.exc_type == "TypeError"
            assert "result cannot be sent" in unsendable.message
            assert [type(got[i]) for i in (3, 4, 5)] == [Result, Result, Result]
            await ws.close()

    run(scenario(), timeout=60)


def test_a_closed_connection_drops_its_queued_work_and_stops_its_running_work() -> None:
    async def status(ws: ClientConnection, seq: int) -> Status:
        await ws.send(codec.encode(Heartbeat(seq, 0.0)))
        message = await receive(ws)
        assert isinstance(message, Status)
        return message

    async def scenario() -> None:
        # One task per chunk and two chunks in flight: of six, two run and four queue.
        async with started(max_chunk=1) as node:
            ws, _ = await hello(node)
            await ws.send(codec.encode(SubmitBatch([Submit(i, "sleep", [0.3]) for i in range(6)])))
            assert (await status(ws, 0)).queued == 4  # the frame before it was handled
            watcher, _ = await hello(node)
            first = await status(watcher, 1)
            assert (first.queued, first.running) == (4, 2)
            await ws.close()
            seq = 2
            while (now := await status(watcher, seq)).queued or now.running:
                seq += 1  # a round trip each: until the close is handled and the two ran
            stats = node.scheduler.statistics()
            # The four queued never ran; the two running were stopped (their workers
            # killed and replaced): nobody is left to want their results.
            assert (stats.admitted, stats.completed) == (6, 0)
            assert node.pool.restarts == 2
            await watcher.close()

    run(scenario(), timeout=60)


def test_a_bad_token_is_refused_and_the_connection_closed() -> None:
    async def scenario() -> None:
        async with started(auth_secret="s" * 32) as node:
            ws, refusal = await hello(node, token="not-a-jwt")
            assert isinstance(refusal, Error) and refusal.code is ErrorCode.UNAUTHORIZED
            assert refusal.id is None and "token is invalid" in refusal.message
            await ws.wait_closed()
            assert ws.close_code is not None

    run(scenario(), timeout=60)


def test_shutdown_tells_clients_lets_work_finish_then_closes_with_1001() -> None:
    async def scenario() -> None:
        node = EdgeNode(NodeConfig(port=0, workers=1, drain_timeout_s=5.0), TASKS)
        await node.start()
        ws, _ = await hello(node)
        await ws.send(codec.encode(Submit(1, "sleep_echo", ["done", 0.2])))
        await ws.send(codec.encode(Heartbeat(1, 0.0)))
        assert isinstance(await receive(ws), Status)  # the submit was admitted
        shutdown = asyncio.create_task(node.shutdown("maintenance"))
        assert await receive(ws) == Draining("maintenance", 5.0)
        finished = (await answers(ws, 1))[1]
        assert isinstance(finished, Result) and finished.value == "done"
        # The client stays connected: the node closes it (1001) rather than wait for it.
        await asyncio.wait_for(shutdown, 5)
        await ws.wait_closed()
        assert ws.close_code == 1001

    run(scenario(), timeout=60)


def test_work_left_at_the_drain_timeout_is_answered_draining() -> None:
    async def scenario() -> None:
        node = EdgeNode(NodeConfig(port=0, workers=1, drain_timeout_s=0.2), TASKS)
        await node.start()
        ws, _ = await hello(node)
        await ws.send(codec.encode(Submit(1, "sleep", [5.0])))
        await ws.send(codec.encode(Heartbeat(1, 0.0)))
        assert isinstance(await receive(ws), Status)
        shutdown = asyncio.create_task(node.shutdown())
        assert await receive(ws) == Draining("node shutting down", 0.2)
        left = (await answers(ws, 1))[1]
        assert isinstance(left, Error) and left.code is ErrorCode.DRAINING
        # The abandoned sleep(5) is stopped with its worker, not waited for.
        await asyncio.wait_for(shutdown, 2)
        await ws.wait_closed()
        assert ws.close_code == 1001

    run(scenario(), timeout=60)


def test_metrics_requests_leave_the_heartbeat_samplers_window_alone() -> None:
    """Seen: each /metrics request took a sample from the sampler whose rates the
    controller's heartbeats report, resetting their window (and cost 4.3 ms each)."""
    import http.client

    def get(port: int) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        conn.close()
        return body

    async def scenario() -> None:
        async with started() as node:
            await node._warm  # the heartbeat sampler is made there
            assert node._sampler is not None
            window = node._sampler._last
            bodies = [await asyncio.to_thread(get, node.port) for _ in range(3)]
            assert node._sampler._last is window
            assert bodies[0] == bodies[1] == bodies[2]  # one sample per METRICS_CACHE_S

    run(scenario(), timeout=60)


def test_a_task_past_its_registered_time_limit_is_stopped() -> None:
    """@task(timeout_s=...) bounds one run (the node's max_task_s caps it)."""
    import dataclasses
    import time

    tasks = {**TASKS, "sleep": dataclasses.replace(TASKS["sleep"], timeout_s=0.3)}

    async def scenario() -> None:
        node = EdgeNode(NodeConfig(port=0, workers=1), tasks)
        await node.start()
        try:
            await node._warm  # time the limit, not the workers' start
            ws, _ = await hello(node)
            t0 = time.monotonic()
            await ws.send(codec.encode(Submit(1, "sleep", [30.0])))
            got = (await answers(ws, 1))[1]
            assert isinstance(got, Error) and got.code is ErrorCode.DEADLINE_EXCEEDED
            assert got.message == "ran past its time limit of 0.3 s; stopped"
            assert time.monotonic() - t0 < 1.0
            await ws.send(codec.encode(Submit(2, "echo_pool", [2])))
            assert isinstance((await answers(ws, 1))[2], Result)  # a new worker
            assert node.pool.restarts == 1
            await ws.close()
        finally:
            await node.shutdown()

    run(scenario(), timeout=60)


def test_fragmented_messages_are_assembled_within_the_frame_limit() -> None:
    """A fragmented message is one frame for the limit: past it in total, 1009."""
    from websockets.exceptions import ConnectionClosed
    from websockets.frames import Frame, Opcode

    async def scenario() -> None:
        async with started() as node:
            ws, _ = await hello(node)
            frame = codec.encode(Submit(1, "echo", [b"ok"]))
            ws.protocol.send_frame(Frame(Opcode.BINARY, frame[:3], fin=False))
            ws.protocol.send_frame(Frame(Opcode.CONT, frame[3:], fin=True))
            ws.send_data()
            got = (await answers(ws, 1))[1]
            assert isinstance(got, Result) and got.value == b"ok"
            chunk = b"\0" * (LIMIT // 2)  # 1.5 x the limit in three fragments
            ws.protocol.send_frame(Frame(Opcode.BINARY, chunk, fin=False))
            ws.protocol.send_frame(Frame(Opcode.CONT, chunk, fin=False))
            ws.protocol.send_frame(Frame(Opcode.CONT, chunk, fin=True))
            ws.send_data()
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(receive(ws), 5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(scenario(), timeout=60)
