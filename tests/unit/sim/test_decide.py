"""Deciding (sim/decide.py): rounds of device-instants, the device's own features, one
decision for a resubmission, views marked down at once."""

from __future__ import annotations

import numpy as np

from edgeoffload.decision.features import LOCAL_INDEX
from edgeoffload.decision.policies import AlwaysEdge
from edgeoffload.sim.decide import decision_order, distinct
from edgeoffload.sim.simulation import Simulation

from .conftest import add_tasks, small


def test_rounds_hold_each_devices_kth_instant_in_creation_order() -> None:
    device = np.array([1, 0, 1, 0, 1, 1])
    created = np.array([0.0, 0.0, 0.1, 0.1, 0.1, 0.3])
    order, rank = decision_order(device, created, windowed=False)
    # Round 0: each device's first instant; round 1 the second (device 1's two tasks
    # at 0.1 are one instant), round 2 device 1's third.
    assert list(
        zip(device[order].tolist(), created[order].tolist(), rank.tolist(), strict=True)
    ) == [
        (0, 0.0, 0),
        (1, 0.0, 0),
        (0, 0.1, 1),
        (1, 0.1, 1),
        (1, 0.1, 1),
        (1, 0.3, 2),
    ]
    _, one = decision_order(device, created, windowed=True)
    assert not one.any()  # a window may join instants: one round


def test_distinct_is_the_sorted_set() -> None:
    assert distinct(np.array([5, 0, 5, 2, 0])).tolist() == [0, 2, 5]


def test_the_devices_load_counts_its_own_work_since_the_last_view() -> None:
    sim = Simulation(small(), AlwaysEdge())
    st = sim.state
    st.dev.busy_s[0] = 0.25  # a quarter of the 1 s view interval
    st.dev.battery_j[0] = 1250.0
    hz, load, battery = sim.decide.device_features(0)
    assert hz == 1.5e9
    assert load == 1.0 - (1.0 - 0.1) * (1.0 - 0.25)
    assert battery == 0.25
    assert st.dev.busy_s[0] == 0.0  # counted once


def test_samples_reach_the_estimator_once_their_transfer_is_over() -> None:
    sim = Simulation(small(), AlwaysEdge())
    st = sim.state
    before = st.estimator.up_bps(0)
    st.samples[0] = [(0.5, True, 1e9), (2.0, True, 1.0)]
    sim.decide.fold_samples(0, 1.0)
    assert st.samples[0] == [(2.0, True, 1.0)]
    assert st.estimator.up_bps(0) > before


def test_one_decision_avoids_the_failed_node_and_notes_what_was_expected() -> None:
    sim = Simulation(small(), AlwaysEdge())
    st = sim.state
    (tid,) = add_tasks(st, 1, device=0)
    home = st.dev.candidates[0][0]
    target, decisions = sim.decide.decide_one(tid, exclude=home)
    assert target not in (home, LOCAL_INDEX) and target in st.dev.candidates[0]
    assert st.tasks.decided_s[tid] == 0.0
    assert st.tasks.expected_latency_s[tid] == float(decisions.expected_latency_s[0])


def test_a_crash_is_seen_at_once_in_every_view() -> None:
    sim = Simulation(small(view_phases=2), AlwaysEdge())
    views = [sim.decide.view_of(d) for d in range(8)]
    assert {id(v) for v in views} == {id(views[0]), id(views[1])}  # one per phase
    before, _ = sim.decide.node_states(views[0], 0)
    assert 1 in before
    sim.decide.mark_down(1)
    for d in range(8):
        index, _ = sim.decide.node_states(sim.decide.view_of(d), d)
        assert 1 not in index
