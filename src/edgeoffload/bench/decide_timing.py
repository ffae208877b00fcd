"""The timing part of ``edgeoffload bench decide``: how long one decision takes.

``single``: one task, 3 candidate nodes, from the client's objects (TaskBatch,
DeviceState, NodeFeatures) to Decisions: feature extraction, scaling, the model, the
choice. ``batched_per_task``: the same for a batch of 1,000 tasks, divided by 1,000.
Each figure is the best of :data:`ROUNDS` rounds of many calls (timeit's advice: the
minimum is the least disturbed by other load), the rounds of all figures interleaved.
Also: building the TaskBatch, the scorer's forward pass in numpy against onnxruntime,
and how one learned decision's time splits.
"""

from __future__ import annotations

import time
import timeit
from typing import Any

import numpy as np

from edgeoffload.decision.features import DeviceState, NodeFeatures, PowerModel, TaskBatch
from edgeoffload.decision.learned import (
    ONNX_FROM_ROWS,
    LearnedPolicy,
    load_scorer,
    option_features,
    option_features_one,
)
from edgeoffload.decision.online import OnlineCostModel
from edgeoffload.decision.policies import CostModel

TARGET_SINGLE_US = 10.0
TARGET_BATCHED_US = 1.0
#: Rounds of timing; each figure is its best round.
ROUNDS = 25


def _best_interleaved(
    timed: dict[str, tuple[Any, int, int]], rounds: int = ROUNDS
) -> dict[str, float]:
    """Per name, the best µs per task over ``rounds`` rounds, each timing every function
    once in turn (a burst of other load then spoils one round of each, not all rounds
    of one)."""
    best = dict.fromkeys(timed, float("inf"))
    for _ in range(rounds):
        for name, (fn, calls, tasks) in timed.items():
            us = timeit.timeit(fn, number=calls) / calls / tasks * 1e6
            best[name] = min(best[name], us)
    return best


def _inputs(n: int) -> tuple[TaskBatch, DeviceState, NodeFeatures]:
    rng = np.random.default_rng(0)
    tasks = TaskBatch.of(
        cpu_cycles=rng.uniform(3e8, 5e9, n),
        input_bytes=rng.uniform(1e4, 1e6, n),
        output_bytes=rng.uniform(1e2, 1e4, n),
        deadline_s=rng.choice([0.5, 1.0, 8.0], n),
        priority=rng.integers(0, 2, n).astype(float),
    )
    device = DeviceState(1.5e9, load=0.2, battery=0.7, power=PowerModel())
    nodes = NodeFeatures(
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
    # The first decision imports numba and loads (or compiles) the kernel: once a process.
    start = time.perf_counter()
    kernel = scorer.kernel(wait=True)
    kernel_load_s = time.perf_counter() - start
    policies = {
        "learned": LearnedPolicy(scorer),
        # The same model without the compiled kernel: the numpy paths, side by side.
        "learned_numpy": LearnedPolicy(scorer, compiled=False),
        "cost_model": CostModel(),
        "online": OnlineCostModel(epsilon=0.0),
    }
    # name -> (function, calls per round, tasks per call)
    timed: dict[str, tuple[Any, int, int]] = {}
    for name, policy in policies.items():
        timed[f"{name}.single"] = (lambda p=policy: p.decide(one, device, nodes), 400, 1)
        timed[f"{name}.batched"] = (lambda p=policy: p.decide(batch, device, nodes), 6, 1000)
    timed["build"] = (
        lambda: TaskBatch.of(cpu_cycles=1e9, input_bytes=1e5, output_bytes=1e3, deadline_s=1.0),
        400,
        1,
    )
    # The scorer alone: numpy forward pass against onnxruntime on the same features.
    from edgeoffload.decision.features import Context

    x1, _, _, _ = option_features(Context.of(one, device, nodes), scorer.weights)
    x1000, _, _, _ = option_features(Context.of(batch, device, nodes), scorer.weights)
    np.testing.assert_allclose(
        scorer.onnx_scores(x1000), scorer.numpy_scores(x1000), rtol=1e-3, atol=1e-3
    )
    timed["numpy_1_us"] = (lambda: scorer.numpy_scores(x1), 400, 1)
    timed["numpy_1000_us"] = (lambda: scorer.numpy_scores(x1000), 6, 1)
    timed["onnx_1_us"] = (lambda: scorer.onnx_scores(x1), 400, 1)
    timed["onnx_1000_us"] = (lambda: scorer.onnx_scores(x1000), 6, 1)
    # Where one learned decision's time goes: its features in plain floats, its network.
    weights = scorer.weights
    timed["features_us"] = (
        lambda: option_features_one(one, device, nodes, weights, bias=True),
        400,
        1,
    )
    if scorer.one_task is not None:
        rows, cost, _, _ = option_features_one(one, device, nodes, weights, bias=True)
        net = scorer.one_task
        timed["network_us"] = (lambda: net(rows, len(cost)), 400, 1)
    best = _best_interleaved(timed)
    per_policy = {
        name: {
            "single_us": round(best[f"{name}.single"], 2),
            "batched_per_task_us": round(best[f"{name}.batched"], 4),
        }
        for name in policies
    }
    build_us = best["build"]
    forward = {k: best[k] for k in ("numpy_1_us", "numpy_1000_us", "onnx_1_us", "onnx_1000_us")}
    parts = {k: best[k] for k in ("features_us", "network_us") if k in best}
    learned = per_policy["learned"]
    return {
        "single": learned["single_us"],
        "batched_per_task": learned["batched_per_task_us"],
        "policy": "learned",
        "targets": {"single": TARGET_SINGLE_US, "batched_per_task": TARGET_BATCHED_US},
        "per_policy": per_policy,
        "taskbatch_build_us": round(build_us, 2),
        "scorer_forward": {k: round(v, 2) for k, v in forward.items()},
        "single_parts": {k: round(v, 2) for k, v in parts.items()},
        "compiled": kernel is not None,
        "kernel_load_s": round(kernel_load_s, 3),
        "nodes": len(nodes),
    }


def markdown(r: dict[str, Any], command: str) -> str:
    parts = r.get("single_parts", {})
    split = (
        " On the numpy path (`learned_numpy`), timed alone, one task's features take "
        f"{parts['features_us']:.1f} µs and its network {parts['network_us']:.1f} µs; in a "
        "decision they take more (each alone runs with warm caches), and picking and "
        "building the Decisions adds a few µs."
        if "network_us" in parts
        else ""
    )
    lines = [
        "## Decision time",
        "",
        f"`{command}`: one call of `policy.decide(tasks, device, nodes)` with {r['nodes']} "
        "candidate nodes, from the client's objects to Decisions (feature extraction, "
        f"scaling, model, choice), best of {ROUNDS} interleaved rounds.",
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
        "How the learned policy decides: one task in one call of a kernel compiled by "
        "numba (decision/kernel.py: costs, features, clip, the float64 network with the "
        "scaler folded in, softmax and choice; "
        + (
            f"imported and loaded from numba's cache in {r['kernel_load_s']:.2f} s at the "
            "first decision"
            if r.get("compiled")
            else "numba not installed in this run"
        )
        + "); without numba (`learned_numpy`), in plain Python floats and a float64 "
        "forward pass in a handful of numpy calls. A batch writes its features once, in "
        "float32, feature by feature, and runs the network in numpy below "
        f"{ONNX_FROM_ROWS} option rows, in onnxruntime from there. All decide as the "
        "model as trained (float64, nothing folded) on thousands of random contexts: the "
        "same choices, one-task confidences within 1e-9 (tests/unit/decision/"
        f"test_kernel.py, test_learned.py).{split}",
        "",
        "The learned scorer's forward pass alone, numpy against onnxruntime (1 thread):",
        "",
        "| inputs | numpy (µs) | onnxruntime (µs) |",
        "|---|---:|---:|",
        f"| 1 task ({r['nodes'] + 1} options) | {f['numpy_1_us']:.1f} | {onnx_1:.1f} |",
        f"| 1,000 tasks | {f['numpy_1000_us']:.1f} | {onnx_1000:.1f} |",
    ]
    return "\n".join(lines)
