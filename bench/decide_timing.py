"""The timing part of ``edgeoffload bench decide``: how long one decision takes.

``single``: one task, 3 candidate nodes, from the client's objects (TaskBatch,
DeviceState, NodeStates) to Decisions: feature extraction, scaling, the model, the
choice. ``batched_per_task``: the same for a batch of 1,000 tasks, divided by 1,000.
Each figure is the best of 7 rounds of many calls (timeit's advice: the minimum is the
least disturbed by other load). Also: building the TaskBatch, and the scorer's forward
pass in numpy against onnxruntime.
"""

from __future__ import annotations

import timeit
from typing import Any

import numpy as np

from edgeoffload.decision.features import DeviceState, NodeStates, PowerModel, TaskBatch
from edgeoffload.decision.learned import LearnedPolicy, load_scorer, option_features
from edgeoffload.decision.online import OnlineCostModel
from edgeoffload.decision.policies import CostModel

TARGET_SINGLE_US = 10.0
TARGET_BATCHED_US = 1.0


def _best_us(fn: Any, calls: int, rounds: int = 7) -> float:
    return min(timeit.repeat(fn, number=calls, repeat=rounds)) / calls * 1e6


def _inputs(n: int) -> tuple[TaskBatch, DeviceState, NodeStates]:
    rng = np.random.default_rng(0)
    tasks = TaskBatch.of(
        cpu_cycles=rng.uniform(3e8, 5e9, n),
        input_bytes=rng.uniform(1e4, 1e6, n),
        output_bytes=rng.uniform(1e2, 1e4, n),
        deadline_s=rng.choice([0.5, 1.0, 8.0], n),
        priority=rng.integers(0, 2, n).astype(float),
    )
    device = DeviceState(1.5e9, load=0.2, battery=0.7, power=PowerModel())
    nodes = NodeStates(
        ("edge-0", "edge-1", "edge-2"),
        speed_hz=np.full(3, 3e9),
        cores=np.full(3, 8.0),
        queue_s=np.array([0.0, 0.02, 0.1]),
        load=np.array([0.1, 0.5, 0.9]),
        up_bps=np.array([2e6, 2e6, 2e6]),
        down_bps=np.array([8e6, 8e6, 8e6]),
        rtt_s=np.array([0.02, 0.03, 0.03]),
    )
    return tasks, device, nodes


def run(model: str | None = None) -> dict[str, Any]:
    one, device, nodes = _inputs(1)
    batch, _, _ = _inputs(1000)
    scorer = load_scorer(model)
    policies = {
        "learned": LearnedPolicy(scorer),
        "cost_model": CostModel(),
        "online": OnlineCostModel(epsilon=0.0),
    }
    per_policy: dict[str, dict[str, float]] = {}
    for name, policy in policies.items():
        single = _best_us(lambda p=policy: p.decide(one, device, nodes), 2000)
        batched = _best_us(lambda p=policy: p.decide(batch, device, nodes), 30) / 1000
        per_policy[name] = {"single_us": round(single, 2), "batched_per_task_us": round(batched, 4)}
    build_us = _best_us(
        lambda: TaskBatch.of(cpu_cycles=1e9, input_bytes=1e5, output_bytes=1e3, deadline_s=1.0),
        2000,
    )
    # The scorer alone: numpy forward pass against onnxruntime on the same features.
    from edgeoffload.decision.features import Context

    x1, _, _, _ = option_features(Context.of(one, device, nodes), scorer.weights)
    x1000, _, _, _ = option_features(Context.of(batch, device, nodes), scorer.weights)
    forward: dict[str, float] = {
        "numpy_1_us": _best_us(lambda: scorer.numpy_scores(x1), 2000),
        "numpy_1000_us": _best_us(lambda: scorer.numpy_scores(x1000), 30),
    }
    np.testing.assert_allclose(
        scorer.onnx_scores(x1000), scorer.numpy_scores(x1000), rtol=1e-3, atol=1e-3
    )
    forward["onnx_1_us"] = _best_us(lambda: scorer.onnx_scores(x1), 2000)
    forward["onnx_1000_us"] = _best_us(lambda: scorer.onnx_scores(x1000), 30)
    learned = per_policy["learned"]
    return {
        "single": learned["single_us"],
        "batched_per_task": learned["batched_per_task_us"],
        "policy": "learned",
        "targets": {"single": TARGET_SINGLE_US, "batched_per_task": TARGET_BATCHED_US},
        "per_policy": per_policy,
        "taskbatch_build_us": round(build_us, 2),
        "scorer_forward": {k: round(v, 2) for k, v in forward.items()},
        "nodes": len(nodes),
    }


def markdown(r: dict[str, Any], command: str) -> str:
    lines = [
        "## Decision time",
        "",
        f"`{command}`: one call of `policy.decide(tasks, device, nodes)` with {r['nodes']} "
        "candidate nodes, from the client's objects to Decisions (feature extraction, "
        "scaling, model, choice), best of 7 rounds.",
        "",
        "| policy | one task (µs) | batch of 1,000 (µs per task) |",
        "|---|---:|---:|",
    ]
    for name, m in r["per_policy"].items():
        lines.append(f"| {name} | {m['single_us']:.1f} | {m['batched_per_task_us']:.3f} |")
    f = r["scorer_forward"]
    onnx_1, onnx_1000 = f.get("onnx_1_us", float("nan")), f.get("onnx_1000_us", float("nan"))
    lines += [
        "",
        f"Targets: <= {r['targets']['single']:.0f} µs for one decision, "
        f"<= {r['targets']['batched_per_task']:.0f} µs per task in batches of 1,000 "
        f"(the learned policy: {r['single']:.1f} µs and {r['batched_per_task']:.3f} µs). "
        f"Building a one-task TaskBatch adds {r['taskbatch_build_us']:.1f} µs.",
        "",
        "The learned scorer's forward pass alone, numpy against onnxruntime (1 thread):",
        "",
        "| inputs | numpy (µs) | onnxruntime (µs) |",
        "|---|---:|---:|",
        f"| 1 task ({r['nodes'] + 1} options) | {f['numpy_1_us']:.1f} | {onnx_1:.1f} |",
        f"| 1,000 tasks | {f['numpy_1000_us']:.1f} | {onnx_1000:.1f} |",
    ]
    return "\n".join(lines)
