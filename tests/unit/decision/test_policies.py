"""The cost model's formulas and the simple policies, on objects and on arrays."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.costs import option_costs
from edgeoffload.decision.features import (
    LOCAL_INDEX,
    Context,
    DeviceState,
    NodeFeatures,
    PowerModel,
    TaskBatch,
)
from edgeoffload.decision.policies import AlwaysEdge, AlwaysLocal, CostModel, RandomPolicy
from edgeoffload.decision.registry import NAMED


def two_nodes(up_bps: float = 8e6, queue_s: float = 0.0) -> NodeFeatures:
    return NodeFeatures(
        ("a", "b"),
        speed_hz=np.array([4e9, 2e9]),
        cores=np.array([4.0, 4.0]),
        queue_s=np.array([queue_s, 0.0]),
        load=np.array([0.1, 0.2]),
        up_bps=np.array([up_bps, up_bps]),
        down_bps=np.array([16e6, 16e6]),
        rtt_s=np.array([0.02, 0.02]),
    )


def test_costs_follow_the_issue_formulas() -> None:
    tasks = TaskBatch.of(cpu_cycles=1e9, input_bytes=1e6, output_bytes=2e6)
    device = DeviceState(cpu_hz=1e9, load=0.5, power=PowerModel(1e-27, 2.0, 1.0, 0.5))
    latency, energy, transfer = option_costs(Context.of(tasks, device, two_nodes()))
    assert latency[0, 0] == pytest.approx(1e9 / (1e9 * 0.5))  # C / (f (1 - load))
    assert energy[0, 0] == pytest.approx(1e-27 * 1e18 * 1e9)  # kappa f^2 C
    up, down, compute = 8e6 / 8e6, 16e6 / 16e6, 1e9 / 4e9
    assert latency[0, 1] == pytest.approx(0.02 + up + 0.0 + compute + down)
    assert energy[0, 1] == pytest.approx(2.0 * up + 0.5 * (0.02 + compute) + 1.0 * down)
    assert transfer[0, 1] == pytest.approx(up + down)


def test_draining_battery_moves_the_choice_toward_energy() -> None:
    # Local: 0.5 s and 1 J; offload: slower (2.3 s) but 0.5 J of radio and idle time.
    tasks = TaskBatch.of(cpu_cycles=1e9, input_bytes=2e5, output_bytes=1e3)
    nodes = two_nodes(up_bps=8e5)
    power = PowerModel(1e-27, 0.2, 0.2, 0.05)
    policy = CostModel(latency_weight=0.9)
    full = policy.decide(tasks, DeviceState(2e9, battery=1.0, power=power), nodes)
    empty = policy.decide(tasks, DeviceState(2e9, battery=0.05, power=power), nodes)
    assert full.target[0] == LOCAL_INDEX
    assert empty.target[0] != LOCAL_INDEX
    assert empty.expected_energy_j[0] < full.expected_energy_j[0]


def test_deadline_miss_is_penalised() -> None:
    # Offloading is cheaper in energy but late; with a deadline the device wins.
    tasks = TaskBatch.of(cpu_cycles=1e9, input_bytes=2e6, output_bytes=1e3)
    device = DeviceState(2e9, power=PowerModel(1e-27, 0.1, 0.1, 0.01))
    nodes = two_nodes(up_bps=8e6)
    relaxed = CostModel(latency_weight=0.1).decide(tasks, device, nodes)
    tasks_due = TaskBatch.of(cpu_cycles=1e9, input_bytes=2e6, output_bytes=1e3, deadline_s=0.6)
    due = CostModel(latency_weight=0.1).decide(tasks_due, device, nodes)
    assert relaxed.target[0] == 0
    assert due.target[0] == LOCAL_INDEX


def test_batch_decides_like_single_tasks(ctx: Context) -> None:
    batch = CostModel().decide_context(ctx)
    for i in range(0, len(ctx), 37):
        one = CostModel().decide_context(ctx.rows(slice(i, i + 1)))
        assert one.target[0] == batch.target[i]
        assert one.expected_latency_s[0] == pytest.approx(batch.expected_latency_s[i])


def test_no_nodes_means_local() -> None:
    tasks = TaskBatch.of(cpu_cycles=[1e9, 2e9])
    for policy in (CostModel(), AlwaysEdge(), AlwaysLocal(), RandomPolicy()):
        d = policy.decide(tasks, DeviceState(1e9), NodeFeatures.empty())
        assert d.target.tolist() == [LOCAL_INDEX, LOCAL_INDEX]
        assert d.expected_latency_s.tolist() == [1.0, 2.0]


def test_absent_candidates_are_never_chosen(ctx: Context) -> None:
    nodes = ctx.nodes.copy()
    nodes[:, 2] = np.nan  # every row has 2 real candidates, the third is padding
    padded = Context(ctx.tasks, ctx.device, nodes)
    for policy in (CostModel(), AlwaysEdge(), RandomPolicy(seed=3)):
        assert (policy.decide_context(padded).target != 2).all()


def test_random_covers_every_option() -> None:
    tasks = TaskBatch.of(cpu_cycles=np.ones(3000))
    d = RandomPolicy(seed=1).decide(tasks, DeviceState(1e9), two_nodes())
    shares = np.bincount(d.target + 1, minlength=3) / 3000
    assert np.allclose(shares, 1 / 3, atol=0.04)


def test_always_edge_picks_the_fastest_node() -> None:
    tasks = TaskBatch.of(cpu_cycles=1e9, input_bytes=1e3)
    d = AlwaysEdge().decide(tasks, DeviceState(1e9), two_nodes(queue_s=5.0))
    assert d.target[0] == 1  # node a is faster but has a 5 s queue


def test_every_named_policy_builds_a_policy() -> None:
    for name, named in NAMED.items():
        if name in ("learned", "threshold") or named.make is None:
            continue  # the shipped model: test_learned.py; model folders: test_registry.py
        policy = named.make()
        d = policy.decide(TaskBatch.of(cpu_cycles=1e9), DeviceState(1e9), two_nodes())
        assert len(d) == 1
        assert policy.name == name
