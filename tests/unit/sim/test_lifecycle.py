"""Ends and second chances (sim/lifecycle.py): a task ends once, a refused task is
placed again until max_attempts, a crash re-places what the node held, and an online
policy hears of a call's outcomes when its last task ends."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.features import Decisions
from edgeoffload.decision.policies import AlwaysEdge
from edgeoffload.errors import InvalidState
from edgeoffload.sim.options import SimOptions
from edgeoffload.sim.simulation import Simulation
from edgeoffload.sim.state import Request
from edgeoffload.sim.table import Outcome, Reason

from .conftest import add_tasks, small


def test_a_task_ends_exactly_once_and_is_reported() -> None:
    sim = Simulation(small(), AlwaysEdge(), options=SimOptions(report_closed=True))
    (tid,) = add_tasks(sim.state, 1)
    sim.lifecycle.close(tid, 1.5, int(Outcome.DROPPED), Reason.DEADLINE_EXPIRED)
    t = sim.tasks
    assert (t.outcome[tid], t.reason[tid], t.end_s[tid]) == (
        int(Outcome.DROPPED),
        int(Reason.DEADLINE_EXPIRED),
        1.5,
    )
    assert sim.closed == [tid]
    with pytest.raises(InvalidState, match=f"task {tid} ended twice"):
        sim.lifecycle.close(tid, 2.0, int(Outcome.DONE))


def test_a_refused_task_is_placed_again_until_max_attempts() -> None:
    sim = Simulation(small(max_attempts=2), AlwaysEdge())
    st = sim.state
    (tid,) = add_tasks(st, 1, device=0, deadline_s=10.0)
    t = st.tasks
    t.attempts[tid] = 1
    t.start_s[tid] = 0.5  # the earlier attempt's times are void
    home = st.dev.candidates[0][0]
    sim.lifecycle.resubmit(tid, home)
    assert t.attempts[tid] == 2
    assert t.target[tid] != home and t.target[tid] >= 0
    assert math.isnan(t.start_s[tid])
    sim.lifecycle.resubmit(tid, int(t.target[tid]))
    assert (t.outcome[tid], t.reason[tid]) == (int(Outcome.FAILED), int(Reason.MAX_ATTEMPTS))


def test_a_crash_places_the_nodes_tasks_again_and_takes_back_unrun_work() -> None:
    sim = Simulation(small(), AlwaysEdge())
    st = sim.state
    ids = add_tasks(st, 3, device=0, deadline_s=10.0, cpu_cycles=3e9)
    st.tasks.put(np.array(ids), compute_by_s=10.0, attempts=1, target=0)
    sim.queue.arrive((0, ids))
    node = st.nodes[0]
    assert node.busy_s > 3 * 0.5
    st.engine.advance(0.5)
    sim.lifecycle.crash(0)
    assert node.up is False and node.pending == {}
    assert node.busy_s == pytest.approx(3 * 0.5)  # what ran before the crash
    assert [int(st.tasks.target[i]) for i in ids] == [1, 1, 1]
    assert [st.tasks.attempts[i] for i in ids] == [2, 2, 2]


class Learner:
    """A policy that records what it is told."""

    name = "learner"

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def decide(self, tasks: Any, device: Any, nodes: Any) -> Decisions:
        n = len(tasks)
        return Decisions(np.zeros(n, dtype=np.int64), np.ones(n), np.ones(n), np.ones(n))

    def observe(self, *outcome: Any) -> None:
        self.seen.append(outcome)


def test_an_online_policy_hears_a_calls_outcomes_when_its_last_task_ends() -> None:
    learner = Learner()
    sim = Simulation(small(), learner)
    st = sim.state
    a, b = add_tasks(st, 2, created_s=0.0)
    request = Request(0, a, 2, None, None, None, [0])  # type: ignore[arg-type]
    decisions = learner.decide([0, 0], None, None)
    left = [2]
    st.watch[a] = st.watch[b] = (request, decisions, left)
    sim.lifecycle.close(a, 0.4, int(Outcome.DONE))
    st.engine.run()
    assert learner.seen == []  # b has not ended
    sim.lifecycle.close(b, 0.7, int(Outcome.FAILED), Reason.LINK_LOST)
    st.engine.run()
    (outcome,) = learner.seen
    latency, energy = outcome[4], outcome[5]
    assert latency[0] == 0.4 and math.isnan(latency[1])
    assert energy.tolist() == [0.0, 0.0]
    assert st.engine.now == 0.7  # told when the last ended, not before
