"""client.local: running tasks on the client: inline at once, on a thread for tasks a
worker cannot import, in a process pool (one real forkserver worker) otherwise; and
close drops the runs still going."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import edgeoffload.examples.tasks  # noqa: F401  (registers the example tasks)
from edgeoffload.client.local import LocalRunner
from edgeoffload.tasks import TaskSpec, spec_of
from tests.conftest import run

Done = list[tuple[bool, Any, float]]


def example(name: str) -> TaskSpec:
    spec = spec_of(name)
    assert spec is not None
    return spec


def test_an_inline_task_is_done_before_start_returns() -> None:
    runner = LocalRunner(workers=0)
    done: Done = []
    runner.start(example("add"), [2, 3], lambda *a: done.append(a))
    assert [(ok, value) for ok, value, _ in done] == [(True, 5)]
    assert done[0][2] >= 0.0


def test_an_inline_failure_is_reported_by_type_and_message() -> None:
    done: Done = []

    def raises(x: int) -> int:
        raise KeyError(x)

    spec = TaskSpec("raises", raises, __name__, inline=True)
    LocalRunner(0).start(spec, [7], lambda *a: done.append(a))
    assert done[0][:2] == (False, ("KeyError", "7"))


def run_one(runner: LocalRunner, spec: TaskSpec, args: list[Any]) -> tuple[bool, Any, float]:
    async def main() -> tuple[bool, Any, float]:
        got: asyncio.Future[tuple[bool, Any, float]] = asyncio.get_running_loop().create_future()
        runner.start(spec, args, lambda *a: got.set_result(a))
        try:
            return await got
        finally:
            runner.close()

    return run(main(), timeout=60)


def test_without_workers_a_task_runs_on_a_thread() -> None:
    threads: list[str] = []

    def where(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x * 2

    ok, value, run_s = run_one(LocalRunner(0), TaskSpec("where", where, __name__), [21])
    assert (ok, value) == (True, 42) and run_s >= 0.0
    assert threads and threads[0] != threading.main_thread().name


def test_a_task_of_main_runs_on_a_thread_even_with_workers() -> None:
    # A worker process cannot import __main__'s tasks; the runner must not try.
    runner = LocalRunner(workers=2)
    ok, value, _ = run_one(runner, TaskSpec("m", lambda: "here", "__main__"), [])
    assert (ok, value) == (True, "here")
    assert runner._pool is None


def test_a_failure_on_a_thread() -> None:
    ok, value, _ = run_one(LocalRunner(0), example("fail"), ["bad input"])
    assert (ok, value) == (False, ("ValueError", "bad input"))


def test_with_workers_a_task_runs_in_the_pool_and_its_value_is_decoded() -> None:
    import numpy as np

    runner = LocalRunner(workers=1)

    async def main() -> list[tuple[bool, Any, float]]:
        loop = asyncio.get_running_loop()
        first: asyncio.Future[Any] = loop.create_future()
        second: asyncio.Future[Any] = loop.create_future()
        runner.start(example("echo_pool"), [{"a": [1, 2]}], lambda *a: first.set_result(a))
        a = await first
        arr = np.arange(4, dtype=np.int16)
        runner.start(example("echo_pool"), [arr], lambda *a: second.set_result(a))
        b = await second
        crashed: asyncio.Future[Any] = loop.create_future()
        runner.start(example("fail"), ["in a worker"], lambda *a: crashed.set_result(a))
        c = await crashed
        runner.close()
        return [a, b, c]

    (ok1, v1, _), (ok2, v2, _), (ok3, v3, _) = run(main(), timeout=60)
    assert (ok1, v1) == (True, {"a": [1, 2]})
    assert ok2 and v2.dtype == np.int16 and v2.tolist() == [0, 1, 2, 3]
    assert (ok3, v3) == (False, ("ValueError", "in a worker"))
    assert runner._pool is not None and runner._pool.modules == ["edgeoffload.examples.tasks"]


def test_close_drops_runs_still_going() -> None:
    done: Done = []
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        return "late"

    async def main() -> None:
        runner = LocalRunner(0)
        runner.start(TaskSpec("slow", slow, __name__), [], lambda *a: done.append(a))
        await asyncio.sleep(0.01)
        runner.close()
        release.set()
        await asyncio.sleep(0.05)

    run(main())
    time.sleep(0.01)
    assert done == []  # never called after close


@pytest.mark.parametrize("workers", [0, 1])
def test_close_before_any_run_is_harmless(workers: int) -> None:
    LocalRunner(workers).close()


def test_without_workers_runs_go_one_at_a_time_in_the_order_started() -> None:
    # The decision engine (client.auto's backlog, one slot without workers) and the
    # simulator run a burst's local tasks one after another; on the loop's default
    # thread pool they shared the CPU instead (bench e2e: a traffic cycle's local plans
    # all ended late together, where in order the first ones end in time).
    lock = threading.Lock()
    active, most, order = [0], [0], []

    def busy(k: int) -> int:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            order.append(k)
        time.sleep(0.02)  # releases the GIL: a thread pool would overlap the runs
        with lock:
            active[0] -= 1
        return k

    async def main() -> list[int]:
        runner = LocalRunner(0)
        loop = asyncio.get_running_loop()
        futs = [loop.create_future() for _ in range(4)]
        for k, fut in enumerate(futs):
            runner.start(TaskSpec("busy", busy, __name__), [k], lambda *a, f=fut: f.set_result(a))
        values = [(await fut)[1] for fut in futs]
        runner.close()
        return values

    assert run(main(), timeout=30) == [0, 1, 2, 3]
    assert most[0] == 1 and order == [0, 1, 2, 3]
