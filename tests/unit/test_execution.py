"""The process pool (real forkserver workers): chunks, a worker that dies, and a worker
stopped and replaced while it runs a task that would hold it for good. Running a task
inline (timed, exceptions become outcomes); values that come back as msgpack bytes, a
value that cannot travel failing alone, a dead worker failing its whole chunk."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

import edgeoffload.examples.tasks  # noqa: F401  (registers the example tasks)
from edgeoffload.execution import STOPPED, TaskPool, raw, run_inline
from edgeoffload.protocol.codec import Codec
from edgeoffload.tasks import TaskSpec, spec_of
from tests.conftest import run

MODULES = ["edgeoffload.examples.tasks"]


def test_a_stopped_worker_is_replaced_and_its_slot_free_within_a_second() -> None:
    async def stopped() -> None:
        pool = TaskPool(MODULES, 1)
        try:
            await pool.warm()
            pinned = asyncio.ensure_future(pool.run_chunk([("sleep", [30.0])], key="k"))
            await asyncio.sleep(0.3)
            ((key, index, since),) = pool.running()
            assert (key, index) == ("k", 0) and since <= time.monotonic()
            assert pool.stalled_s(time.monotonic()) > 0.2  # the only worker is pinned
            t0 = time.monotonic()
            assert pool.stop("k", "cancelled")
            assert await pinned == [(False, (STOPPED, "cancelled"), 0.0)]
            ((ok, value, _),) = await pool.run_chunk([("add", [1, 2])])
            assert ok and value == b"\x03"
            assert time.monotonic() - t0 < 1.0 and pool.restarts == 1
            assert pool.stalled_s(time.monotonic()) == 0.0
            assert not pool.stop("k", "again")  # nothing runs under that key now
        finally:
            await pool.close()

    run(stopped(), timeout=60)


def test_a_worker_that_dies_fails_its_chunk_and_is_replaced() -> None:
    async def scenario() -> None:
        pool = TaskPool(MODULES, 1)
        try:
            ((ok, (exc_type, message), _),) = await pool.run_chunk([("crash", [3])])
            assert not ok and exc_type == "WorkerDied" and "died" in message
            outcomes = await pool.run_chunk([("add", [1, 2]), ("fail", ["no"])])
            assert outcomes[0][:2] == (True, b"\x03")
            assert outcomes[1][:2] == (False, ("ValueError", "no"))
            assert pool.restarts == 1
        finally:
            await pool.close()

    run(scenario(), timeout=60)


def example(name: str) -> TaskSpec:
    spec = spec_of(name)
    assert spec is not None
    return spec


def test_run_inline_returns_the_value_and_its_time() -> None:
    def slow_add(a: int, b: int) -> int:
        time.sleep(0.02)
        return a + b

    ok, value, run_s = run_inline(TaskSpec("slow_add", slow_add, __name__), [2, 3])
    assert (ok, value) == (True, 5)
    assert 0.02 <= run_s < 1.0


def test_run_inline_turns_an_exception_into_a_failed_outcome() -> None:
    ok, value, run_s = run_inline(example("fail"), ["bad"])
    assert (ok, value) == (False, ("ValueError", "bad"))
    assert run_s >= 0.0


def test_run_inline_does_not_swallow_base_exceptions() -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_inline(TaskSpec("i", interrupted, __name__), [])


def test_raw_embeds_encoded_bytes_unchanged() -> None:
    inner = msgspec.msgpack.encode([1, "x"])
    assert msgspec.msgpack.encode({"v": raw(inner)}) == msgspec.msgpack.encode({"v": [1, "x"]})


def in_pool(*chunks: list[tuple[str, list[Any]]]) -> tuple[list[list[Any]], int]:
    """Run chunks one after another in a fresh one-worker pool, on one event loop;
    returns their outcomes and the pool's restarts."""
    pool = TaskPool(MODULES, workers=1)

    async def main() -> list[list[Any]]:
        try:
            await pool.warm()
            return [await pool.run_chunk(c) for c in chunks]
        finally:
            await pool.close()

    return run(main(), timeout=60), pool.restarts


def test_a_chunk_runs_in_order_with_values_as_msgpack() -> None:
    (out,), _ = in_pool([("add", [1, 2]), ("echo_pool", [{"k": [1]}]), ("fail", ["nope"])])
    decode = Codec().decode_value
    assert [ok for ok, _, _ in out] == [True, True, False]
    assert decode(out[0][1]) == 3
    assert decode(out[1][1]) == {"k": [1]}
    assert out[2][1] == ("ValueError", "nope")
    assert all(run_s >= 0.0 for _, _, run_s in out)


def test_a_value_that_cannot_travel_fails_that_task_alone() -> None:
    (out,), _ = in_pool([("echo_pool", [1 + 2j]), ("add", [1, 1])])
    ok, value, _ = out[0]
    assert not ok and value[0] == "TypeError"
    assert value[1].startswith("result cannot be sent: ")
    assert out[1][0] and Codec().decode_value(out[1][1]) == 2


def test_a_dead_worker_fails_its_chunk_and_the_pool_restarts() -> None:
    (dead, again), restarts = in_pool(
        [("add", [1, 1]), ("crash", [3]), ("add", [2, 2])], [("add", [20, 22])]
    )
    reason = ("WorkerDied", "the worker process died while running this chunk")
    assert dead == [(False, reason, 0.0)] * 3
    assert restarts == 1
    assert again[0][0] and Codec().decode_value(again[0][1]) == 42


def test_concurrent_callers_share_one_start() -> None:
    p = TaskPool(MODULES, workers=1)

    async def main() -> list[list[tuple[bool, Any, float]]]:
        try:
            return list(
                await asyncio.gather(p.run_chunk([("add", [1, 2])]), p.run_chunk([("add", [3, 4])]))
            )
        finally:
            await p.close()

    out = run(main(), timeout=60)
    decode = Codec().decode_value
    assert [decode(o[0][1]) for o in out] == [3, 7]
    assert p.restarts == 0


def test_close_without_a_start_and_shutdown_twice_are_harmless() -> None:
    p = TaskPool(MODULES, workers=1)
    run(p.close())
    p.shutdown()
    p.shutdown()
