"""The node's data-locality cache over real WebSockets, in this process: hash-first
inputs (kept, referenced, asked for again), cached results answered without running
(exactly one answer per id), a forged digest refused, a disabled cache, and the
counters in the node's metrics and welcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from edgeoffload.config import NodeConfig
from edgeoffload.node.server import EdgeNode
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.content import value_digest
from edgeoffload.protocol.messages import (
    PROTOCOL_VERSION,
    Error,
    Hello,
    Message,
    Result,
    ResultBatch,
    Submit,
    SubmitBatch,
    Welcome,
)
from edgeoffload.tasks import TaskSpec, load_modules
from tests.conftest import run

codec = Codec()
RUNS: list[Any] = []


def _counted(x: Any) -> Any:
    RUNS.append(x)
    return {"n": len(RUNS)}


TASKS = {
    **load_modules(["edgeoffload.examples.tasks"]),
    "counted": TaskSpec(name="counted", fn=_counted, module="tests", inline=True, cacheable=True),
    "plain": TaskSpec(name="plain", fn=_counted, module="tests", inline=True),
}
FRAME = np.arange(200_000, dtype=np.uint8)
D_FRAME = value_digest(FRAME, codec.encode_value)[0]


@asynccontextmanager
async def started(**config: Any) -> AsyncIterator[EdgeNode]:
    node = EdgeNode(NodeConfig(port=0, workers=1, **config), TASKS)
    await node.start()
    try:
        yield node
    finally:
        await node.shutdown()


async def hello(node: EdgeNode) -> tuple[ClientConnection, Welcome]:
    ws = await connect(node.url, compression=None, max_size=None)
    await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "test")))
    welcome = codec.decode(await ws.recv(decode=False))
    assert isinstance(welcome, Welcome)
    return ws, welcome


async def ask(ws: ClientConnection, *submits: Submit) -> dict[int, Result | Error]:
    await ws.send(codec.encode(SubmitBatch(list(submits))))
    out: dict[int, Result | Error] = {}
    while len(out) < len(submits):
        message: Message = codec.decode(await ws.recv(decode=False))
        items = message.items if isinstance(message, ResultBatch) else [message]
        for item in items:
            assert isinstance(item, Result | Error) and item.id is not None
            assert item.id not in out, "two answers under one id"
            out[item.id] = item
    return out


def test_inputs_go_once_and_a_restarted_node_asks_for_them_again() -> None:
    async def scenario() -> None:
        async with started(cache_bytes=1 << 20) as node:
            ws, welcome = await hello(node)
            assert welcome.cache_bytes == 1 << 20
            first = await ask(ws, Submit(1, "echo_pool", [FRAME], refs={0: D_FRAME}))
            assert isinstance(first[1], Result) and np.array_equal(first[1].value, FRAME)
            again = await ask(ws, Submit(2, "echo_pool", [None], refs={0: D_FRAME}))
            assert isinstance(again[2], Result) and np.array_equal(again[2].value, FRAME)
            m = node.metrics()
            assert (m.cache_hits, m.cache_misses, m.cache_bytes_saved) == (
                1,
                0,
                len(codec.encode_value(FRAME)),
            )
            assert m.cache_used_bytes > FRAME.nbytes and m.cache_hit_percent == 100.0
            await ws.close()
        async with started(cache_bytes=1 << 20) as node:  # restarted: an empty cache
            ws, _ = await hello(node)
            got = await ask(ws, Submit(2, "echo_pool", [None], refs={0: D_FRAME}))
            assert isinstance(got[2], Error) and got[2].code is ErrorCode.NEED_INPUT
            # The client sends the same id again with the bytes: it runs, once.
            got = await ask(ws, Submit(2, "echo_pool", [FRAME], refs={0: D_FRAME}))
            assert isinstance(got[2], Result) and not got[2].cached
            assert node.scheduler.statistics().completed == 1
            await ws.close()

    run(scenario(), timeout=60)


def test_a_cacheable_tasks_result_is_served_without_running_once_per_id() -> None:
    async def scenario() -> None:
        RUNS.clear()
        async with started(cache_bytes=1 << 20) as node:
            ws, _ = await hello(node)
            got = await ask(ws, Submit(1, "count_primes", [5000]), Submit(2, "counted", ["a"]))
            assert isinstance(got[1], Result) and got[1].value == 669 and not got[1].cached
            got = await ask(
                ws,
                Submit(3, "count_primes", [5000]),
                Submit(4, "counted", ["a"]),
                Submit(5, "counted", ["b"]),
                Submit(6, "plain", ["a"]),  # not cacheable: runs every time
            )
            assert got[3] == Result(3, 669, 0.0, True)
            assert got[4] == Result(4, {"n": 1}, 0.0, True)
            assert got[5] == Result(5, {"n": 2}, got[5].run_ms, False)  # type: ignore[union-attr]
            assert got[6] == Result(6, {"n": 3}, got[6].run_ms, False)  # type: ignore[union-attr]
            assert node.scheduler.statistics().completed == 1  # count_primes ran once
            assert RUNS == ["a", "b", "a"]
            m = node.metrics()
            assert (m.cache_hits, m.cache_misses) == (2, 3)
            await ws.close()

    run(scenario(), timeout=60)


def test_a_forged_digest_is_refused_and_the_real_inputs_result_stays_its_own() -> None:
    async def scenario() -> None:
        RUNS.clear()
        async with started(cache_bytes=1 << 20) as node:
            ws, _ = await hello(node)
            real = await ask(ws, Submit(1, "counted", [FRAME], refs={0: D_FRAME}))
            assert real[1] == Result(1, {"n": 1}, real[1].run_ms, False)  # type: ignore[union-attr]
            # Other bytes under the real frame's digest: refused, nothing ran or stored.
            forged = np.zeros_like(FRAME)
            got = await ask(ws, Submit(2, "counted", [forged], refs={0: D_FRAME}))
            assert isinstance(got[2], Error) and got[2].code is ErrorCode.BAD_ARGS
            assert len(RUNS) == 1
            # Sent whole, the forged bytes are their own input: computed, not the
            # real frame's cached answer.
            got = await ask(ws, Submit(3, "counted", [forged]))
            assert got[3] == Result(3, {"n": 2}, got[3].run_ms, False)  # type: ignore[union-attr]
            # The digest still names the real frame and its result.
            got = await ask(ws, Submit(4, "counted", [None], refs={0: D_FRAME}))
            assert got[4] == Result(4, {"n": 1}, 0.0, True)
            assert np.array_equal(RUNS[0], FRAME) and np.array_equal(RUNS[1], forged)
            await ws.close()

    run(scenario(), timeout=60)


def test_a_disabled_cache_says_so_and_answers_references_need_input() -> None:
    async def scenario() -> None:
        RUNS.clear()
        async with started(cache_bytes=0) as node:
            ws, welcome = await hello(node)
            assert welcome.cache_bytes == 0
            got = await ask(ws, Submit(1, "counted", ["a"]), Submit(2, "counted", ["a"]))
            assert [got[i].cached for i in (1, 2)] == [False, False]  # type: ignore[union-attr]
            assert RUNS == ["a", "a"]
            got = await ask(ws, Submit(3, "echo", [None], refs={0: D_FRAME}))
            assert isinstance(got[3], Error) and got[3].code is ErrorCode.NEED_INPUT
            assert node.metrics().cache_used_bytes == 0
            await ws.close()

    run(scenario(), timeout=60)


def test_a_reused_id_in_flight_gets_no_cache_answer() -> None:
    # Id 1 is running; a second submit under id 1 that would hit the cache must not
    # be answered from it (two answers under one id): admission refuses it instead.
    async def scenario() -> None:
        async with started(cache_bytes=1 << 20) as node:
            ws, _ = await hello(node)
            await ask(ws, Submit(9, "sleep_echo", ["v", 0.0]))
            await ws.send(codec.encode(Submit(1, "sleep", [0.3])))
            await asyncio.sleep(0.1)
            await ws.send(codec.encode(Submit(1, "sleep_echo", ["v", 0.0])))
            first: Message = codec.decode(await ws.recv(decode=False))
            assert isinstance(first, Error) and first.code is ErrorCode.DUPLICATE_ID
            second: Message = codec.decode(await ws.recv(decode=False))
            assert isinstance(second, Result) and second.id == 1 and second.value == 0.3
            await ws.close()

    run(scenario(), timeout=60)
