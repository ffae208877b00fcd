"""Faults that close no socket, and a soak: the client must notice a hung or cut-off
node from silence alone, place its tasks again, deliver every result exactly once, and
never suspect a healthy node that is merely busy. The harness is the failover
benchmark's (edgeoffload/bench/failover.py), so the tests and the figures measure the same thing."""

from __future__ import annotations

import asyncio
import signal

import pytest

from edgeoffload.bench.failover import FaultRun, fault_soak, run_fault
from tests import netns
from tests.conftest import NodeProcess, run


def assert_exactly_once(result: FaultRun) -> None:
    entry = result.entry()
    assert (entry["lost"], entry["duplicates"], entry["errors"]) == (0, 0, 0), entry
    assert entry["completed"] == entry["tasks"]


def test_hung_node_is_declared_dead_and_its_tasks_complete_elsewhere(node_factory) -> None:  # type: ignore[no-untyped-def]
    nodes: list[NodeProcess] = [node_factory("--workers", "4") for _ in range(3)]
    victim = nodes[1]
    try:
        result = run(
            run_fault(
                [n.url for n in nodes],
                lambda: victim.signal(signal.SIGSTOP),
                victim.url,
                name="hang",
                tasks=600,
            )
        )
    finally:
        victim.signal(signal.SIGCONT)
    assert_exactly_once(result)
    assert result.victim_tasks > 0 and result.detection_s is not None


def test_killed_node_tasks_are_placed_again_at_once(node_factory) -> None:  # type: ignore[no-untyped-def]
    nodes: list[NodeProcess] = [node_factory("--workers", "4") for _ in range(3)]
    victim = nodes[2]
    result = run(run_fault([n.url for n in nodes], victim.kill, victim.url, name="kill", tasks=600))
    assert_exactly_once(result)
    assert result.victim_tasks > 0


def test_partitioned_node_is_declared_dead_and_its_tasks_complete_elsewhere(node_factory) -> None:  # type: ignore[no-untyped-def]
    reason = netns.available()
    if reason is not None:
        pytest.skip(reason)
    with netns.netns() as ns:
        remote = node_factory("--workers", "4", "--host", ns.address, prefix=ns.command())
        local = [node_factory("--workers", "4") for _ in range(2)]
        result = run(
            run_fault(
                [remote.url, *(n.url for n in local)],
                ns.cut,
                remote.url,
                name="partition",
                tasks=600,
            )
        )
        ns.heal()
    assert_exactly_once(result)
    assert result.victim_tasks > 0


def test_no_false_suspicion_while_both_cores_are_saturated() -> None:
    result = fault_soak(8.0)
    assert_exactly_once(result)
    assert result.tasks > 0
    assert result.false_suspicions == 0


def test_controller_restart_under_load_loses_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from edgeoffload.bench.failover import fault_controller_restart

    result = fault_controller_restart(300, f"sqlite:///{tmp_path}/c.db")
    assert_exactly_once(result)
    assert result.recovery_s is not None  # the client has the table again


def test_a_node_the_controller_declares_dead_is_fenced_by_its_clients(
    controller_factory, node_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    ws = controller.url.replace("http://", "ws://")
    nodes = [node_factory("--workers", "4", "--controller", ws) for _ in range(2)]
    victim = nodes[0]

    async def main() -> None:
        from edgeoffload import Client

        # This client's own detector is switched off: only the controller can tell it.
        async with Client([], controller=ws, dead_phi=1e9, wait_for_node_s=60) as client:
            await client.wait_for_nodes(2)
            work = asyncio.gather(
                *(client.submit("sleep_echo", i, 0.01, where="edge") for i in range(300))
            )
            await asyncio.sleep(0.1)
            victim.signal(signal.SIGSTOP)
            assert sorted(await asyncio.wait_for(work, 60)) == list(range(300))
            link = next(link for link in client.nodes if link.url == victim.url)
            assert link.declared_dead >= 1
            assert link.last_fence == "declared dead by the controller"

    try:
        run(main(), timeout=90)
    finally:
        victim.signal(signal.SIGCONT)
