"""Placement with labels and load, and hedged requests, against real nodes."""

from __future__ import annotations

import asyncio
import time

import pytest

import edgeoffload.examples.tasks as ex
from edgeoffload import Client
from tests.conftest import run


def test_label_constraints_keep_tasks_on_matching_nodes(node_factory) -> None:  # type: ignore[no-untyped-def]
    gpu = node_factory("--workers", "1", "--labels", "gpu=true")
    node_factory("--workers", "1")
    plain = node_factory("--workers", "1")

    async def main() -> None:
        async with Client([gpu.url, plain.url]) as client:
            await client.wait_for_nodes(2)
            pids = await asyncio.gather(
                *(client.submit(ex.gpu_pid, where="edge") for _ in range(50))
            )
            assert set(pids) == {gpu.pid}

    run(main())


@pytest.mark.parametrize("policy", ["least_loaded", "power_of_two", "latency_aware"])
def test_every_placement_policy_spreads_and_completes(node_factory, policy: str) -> None:  # type: ignore[no-untyped-def]
    nodes = [node_factory("--workers", "1") for _ in range(3)]

    async def main() -> None:
        async with Client([n.url for n in nodes], placement=policy) as client:
            await client.wait_for_nodes(3)
            assert await client.map(ex.sleep_echo, range(60), [0.005] * 60, where="edge") == list(
                range(60)
            )
            used = sum(1 for link in client.nodes if link.submits_sent > 0)
            assert used >= 2, f"{policy} used {used} node(s)"

    run(main())


def test_hedged_requests_beat_a_straggler_and_each_result_arrives_once(node_factory) -> None:  # type: ignore[no-untyped-def]
    slow = node_factory("--workers", "1", "--max-chunk", "1")
    fast = node_factory("--workers", "2")

    async def main() -> None:
        async with Client([slow.url, fast.url], hedge=True) as client:
            await client.wait_for_nodes(2)
            # learn the task's normal latency (p95 of ~20 ms)
            await client.map(ex.sleep_echo, range(40), [0.01] * 40, where="edge")
            # the slow node's only worker is now stuck for 2 s
            async with Client([slow.url]) as blocker_client:
                blocker = asyncio.ensure_future(blocker_client.submit("sleep", 2.0, where="edge"))
                await asyncio.sleep(0.2)
                t0 = time.monotonic()
                results = await client.map(
                    ex.sleep_echo, range(20), [0.01] * 20, window=20, where="edge"
                )
                elapsed = time.monotonic() - t0
                await blocker
            assert results == list(range(20))
            stats = client.statistics()
            assert stats.hedges > 0 and stats.hedge_wins > 0
            assert elapsed < 1.5  # not waiting for the stuck worker
            assert stats.pending == 0

    run(main())
