"""Faults that close no socket, and a soak: the client must notice a hung or cut-off
node from silence alone, place its tasks again, deliver every result exactly once, and
never suspect a healthy node that is merely busy. The harness is the failover
benchmark's (bench/failover.py), so the tests and the figures measure the same thing."""

from __future__ import annotations

import signal

import pytest

from bench.failover import FaultRun, fault_soak, run_fault
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
