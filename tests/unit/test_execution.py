"""execution: running a task inline (timed, exceptions become outcomes) and in the
process pool with one real forkserver worker: values come back as msgpack bytes, a
value that cannot travel fails alone, a dead worker fails its chunk and the pool
restarts for the next one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

import edgeoffload.examples.tasks  # noqa: F401  (registers the example tasks)
from edgeoffload.execution import TaskPool, raw, run_inline
from edgeoffload.protocol.codec import Codec
from edgeoffload.tasks import TaskSpec, spec_of
from tests.conftest import run

MODULE = "edgeoffload.examples.tasks"


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
    pool = TaskPool([MODULE], workers=1)

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
    p = TaskPool([MODULE], workers=1)

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
    p = TaskPool([MODULE], workers=1)
    run(p.close())
    p.shutdown()
    p.shutdown()


#: A fresh interpreter: the forkserver is one per process, so in this test process an
#: earlier test may have started it from a thread that is still alive.
CROSS_LOOP = """
import time
import edgeoffload.examples.tasks
from edgeoffload.execution import TaskPool
from edgeoffload.protocol.codec import Codec
from tests.conftest import run
pool = TaskPool(["edgeoffload.examples.tasks"], workers=1)
run(pool.warm(), timeout=60)
time.sleep(0.5)  # let the first loop's threads exit and the kernel's signal land
((ok, value, _),) = run(pool.run_chunk([("add", [1, 2])]), timeout=60)
run(pool.close())
print(ok and Codec().decode_value(value) == 3, value)
"""


def test_a_pool_warmed_on_one_loop_serves_on_the_next() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CROSS_LOOP], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("True"), done.stdout
