"""What a device tells its policy (sim/decide.py) beyond test_decide.py: the CPU and
uplink backlogs in its DeviceState, the load share's cap, a device without a battery,
a view taken once per refresh, what one decision is asked (the deadline left, not the
one it was created with), and the round order's edge cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.features import Decisions, DeviceState, NodeFeatures, TaskBatch
from edgeoffload.decision.policies import AlwaysEdge
from edgeoffload.sim.decide import decision_order
from edgeoffload.sim.simulation import Simulation

from .conftest import add_tasks, small


class Asked(AlwaysEdge):
    """AlwaysEdge that writes down what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[TaskBatch, DeviceState, NodeFeatures]] = []

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        self.asked.append((tasks, device, nodes))
        return super().decide(tasks, device, nodes)


def test_the_device_state_carries_the_cpu_and_uplink_backlogs() -> None:
    sim = Simulation(small(), AlwaysEdge())
    st = sim.state
    st.dev.cpu_free[0] = 0.4  # local work committed until 0.4 s
    st.dev.up[0].transfer(0.0, 2e6)  # an upload queued on its radio
    busy_until = st.dev.up[0].free_s
    state = sim.decide.state_at(0, 1.5e9, 0.2, 0.5, at=0.1)
    assert (state.cpu_hz, state.load, state.battery) == (1.5e9, 0.2, 0.5)
    assert state.local_queue_s == pytest.approx(0.3)
    assert state.uplink_queue_s == pytest.approx(busy_until - 0.1)
    assert state.power is st.dev.power[0]
    later = sim.decide.state_at(0, 1.5e9, 0.2, 0.5, at=busy_until + 1.0)
    assert (later.local_queue_s, later.uplink_queue_s) == (0.0, 0.0)  # never negative


def test_the_load_share_is_capped_and_no_battery_means_full() -> None:
    group = {"count": 1, "load": 0.5, "workload": [{"app": "frame"}]}  # no battery_j
    sim = Simulation(small(devices=[group]), AlwaysEdge())
    st = sim.state
    st.dev.busy_s[0] = 10.0  # ten times the view interval: capped at 0.95
    _, load, battery = sim.decide.device_features(0)
    assert load == pytest.approx(1.0 - 0.5 * 0.05)
    assert battery == 1.0


def test_an_empty_battery_reads_zero() -> None:
    sim = Simulation(small(), AlwaysEdge())
    sim.state.dev.battery_j[0] = -1.0  # overdrawn within a step
    assert sim.decide.device_features(0)[2] == 0.0


def test_a_view_is_taken_once_per_refresh() -> None:
    sim = Simulation(small(), AlwaysEdge())
    first = sim.decide.view_of(0)
    assert sim.decide.view_of(0) is first
    sim.decide.refresh(0)
    assert sim.decide.view_of(0) is not first


def test_one_decision_is_asked_with_the_deadline_left() -> None:
    policy = Asked()
    sim = Simulation(small(), policy)
    st = sim.state
    (tid,) = add_tasks(st, 1, created_s=0.0, deadline_s=0.5, cpu_cycles=3e8, input_bytes=1e4)
    st.engine.advance(0.2)
    sim.decide.decide_one(tid)
    ((tasks, device, nodes),) = policy.asked
    assert tasks.deadline_s.tolist() == [pytest.approx(0.3)]
    assert (tasks.cpu_cycles.tolist(), tasks.input_bytes.tolist()) == ([3e8], [1e4])
    assert device.cpu_hz == 1.5e9
    assert len(nodes.rtt_s) == len(st.dev.candidates[0])
    assert st.tasks.decided_s[tid] == 0.2


@pytest.mark.parametrize("windowed", [False, True])
def test_fewer_than_two_tasks_are_one_round(windowed: bool) -> None:
    order, rank = decision_order(np.array([3]), np.array([0.5]), windowed)
    assert order.tolist() == [0] and rank.tolist() == [0]
    order, rank = decision_order(np.zeros(0, dtype=np.int64), np.zeros(0), windowed)
    assert order.size == rank.size == 0


def test_one_instant_per_device_is_one_round_in_device_order() -> None:
    device = np.array([2, 0, 1])
    created = np.array([0.3, 0.1, 0.2])
    order, rank = decision_order(device, created, windowed=False)
    assert device[order].tolist() == [0, 1, 2] and not rank.any()


def test_a_windowed_interval_orders_by_device_then_creation() -> None:
    device = np.array([1, 0, 1, 0])
    created = np.array([0.2, 0.3, 0.1, 0.0])
    order, rank = decision_order(device, created, windowed=True)
    pairs: list[Any] = list(zip(device[order].tolist(), created[order].tolist(), strict=True))
    assert pairs == [(0, 0.0), (0, 0.3), (1, 0.1), (1, 0.2)] and not rank.any()
