"""Faults that close no socket: a hung node (SIGSTOP) and a partitioned node (its link
set down). The client must notice from silence alone, place the tasks again, and still
deliver every result exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable

import pytest

from edgeoffload import Client
from tests import netns
from tests.conftest import NodeProcess, run


async def run_with_fault(
    urls: list[str], fault: Callable[[], None], tasks: int = 600
) -> tuple[Counter[int], float]:
    """Submit tasks across the nodes, apply the fault with tasks in flight, and return
    the delivery count per task and the seconds from the fault to the last result."""
    delivered: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    async with Client(urls, wait_for_node_s=30) as client:
        await client.wait_for_nodes(len(urls))
        done = loop.create_future()
        remaining = tasks

        def on_done(i: int):  # type: ignore[no-untyped-def]
            def cb(value: object, exc: BaseException | None) -> None:
                nonlocal remaining
                assert exc is None, exc
                assert value == i
                delivered[i] += 1
                remaining -= 1
                if remaining == 0:
                    done.set_result(loop.time())

            return cb

        for i in range(tasks):
            client.submit_nowait("sleep_echo", [i, 0.01], on_done(i), where="edge")
        await asyncio.sleep(0.4)
        t_fault = loop.time()
        fault()
        t_last = await asyncio.wait_for(done, 60)
        assert client.statistics().resubmitted > 0
        assert sum(link.declared_dead for link in client.nodes) >= 1
    return delivered, t_last - t_fault


def test_hung_node_is_declared_dead_and_its_tasks_complete_elsewhere(node_factory) -> None:  # type: ignore[no-untyped-def]
    nodes: list[NodeProcess] = [node_factory("--workers", "1") for _ in range(3)]
    victim = nodes[1]
    try:
        delivered, recovery = run(
            run_with_fault([n.url for n in nodes], lambda: victim.signal(signal.SIGSTOP))
        )
    finally:
        victim.signal(signal.SIGCONT)
    assert sorted(delivered) == list(range(600))
    assert set(delivered.values()) == {1}
    assert recovery < 30  # the benchmark measures it; here: it did recover


def test_partitioned_node_is_declared_dead_and_its_tasks_complete_elsewhere(node_factory) -> None:  # type: ignore[no-untyped-def]
    reason = netns.available()
    if reason is not None:
        pytest.skip(reason)
    with netns.netns() as ns:
        remote = node_factory("--workers", "1", "--host", ns.address, prefix=ns.command())
        local = [node_factory("--workers", "1") for _ in range(2)]
        delivered, _ = run(run_with_fault([remote.url, *(n.url for n in local)], ns.cut))
        ns.heal()
    assert sorted(delivered) == list(range(600))
    assert set(delivered.values()) == {1}
