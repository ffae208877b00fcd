"""The process pool (real forkserver workers): chunks, a worker that dies, and a worker
stopped and replaced while it runs a task that would hold it for good."""

from __future__ import annotations

import asyncio
import time

from edgeoffload.execution import STOPPED, TaskPool
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
