"""The online policy notices a node slowing down and moves away; it returns after recovery."""

from __future__ import annotations

import numpy as np

from edgeoffload.decision.costs import CostWeights, option_costs
from edgeoffload.decision.evaluation import evaluate_online, evaluate_policy
from edgeoffload.decision.features import Context, DeviceState, NodeFeatures, TaskBatch
from edgeoffload.decision.online import OnlineCostModel
from edgeoffload.decision.policies import CostModel

from .synthetic import synthetic_labelled

NODES = NodeFeatures(
    ("a", "b"),
    speed_hz=np.array([4e9, 3e9]),
    cores=np.array([8.0, 8.0]),
    queue_s=np.zeros(2),
    load=np.zeros(2),
    up_bps=np.array([50e6, 50e6]),
    down_bps=np.array([50e6, 50e6]),
    rtt_s=np.array([0.01, 0.01]),
)
DEVICE = DeviceState(1e9)
TASKS = TaskBatch.of(cpu_cycles=np.full(20, 2e9), input_bytes=np.full(20, 1e4))
BASE = option_costs(Context.of(TASKS, DEVICE, NODES))[0]  # what each option really takes


def run(policy: OnlineCostModel, slowdown: dict[str, float], rounds: int) -> list[float]:
    """Share of tasks sent to node a per round, with node latencies scaled by slowdown."""
    shares = []
    for _ in range(rounds):
        d = policy.decide(TASKS, DEVICE, NODES)
        names = np.array(["local", "a", "b"])[d.target + 1]
        factor = np.array([slowdown.get(str(n), 1.0) for n in names])
        true_latency = BASE[np.arange(len(TASKS)), d.target + 1] * factor
        policy.observe(TASKS, DEVICE, NODES, d, true_latency, d.expected_energy_j)
        shares.append(float((names == "a").mean()))
    return shares


def test_moves_away_from_a_node_that_slows_down_and_back_after_recovery() -> None:
    policy = OnlineCostModel(epsilon=0.1, seed=1)
    assert run(policy, {}, 5)[-1] >= 0.8  # a is the faster node
    slowed = run(policy, {"a": 4.0}, 15)
    assert np.mean(slowed[-5:]) <= 0.2
    assert policy.state()["a"][0] > 2.0  # latency multiplier learnt
    recovered = run(policy, {}, 40)
    assert np.mean(recovered[-5:]) >= 0.8


def test_the_cost_model_does_not_adapt() -> None:
    policy = CostModel()
    d = policy.decide(TASKS, DEVICE, NODES)
    assert (d.target == 0).all()  # it keeps choosing a, whatever happened before


def test_without_surprises_it_stays_with_the_cost_model() -> None:
    labelled = synthetic_labelled(3000, 3, seed=4)
    weights = CostWeights()
    online = evaluate_online(labelled, OnlineCostModel(epsilon=0.0), weights)
    base = evaluate_policy(labelled, CostModel().decide_context, weights)
    assert online["agreement"] == base["agreement"] == 1.0
    assert online["regret"] == 0.0
