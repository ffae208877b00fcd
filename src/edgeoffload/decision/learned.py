"""Learned policies: a scorer of every option (device, each node) trained to pick what the
hindsight oracle would have picked.

The scorer sees, per option, features derived from what the policy is given
(:data:`OPTION_FEATURES`: the cost model's own estimates for that option, its margin
over the best option, deadline slack, the shares of its time spent on the network, in
the node's queue and behind the device's own backlog (its CPU for the local option,
its uplink for a node), battery, loads...). They are scale-free on purpose: a model
trained on 3G traces meets 4G and 5G links with the same inputs. One network scores
every option (any number of nodes), a softmax over the options gives the confidence.

Kinds of model folder (see :mod:`.modelfile`): ``policy_mlp`` (numpy forward pass) and
``policy_gbdt`` (gradient-boosted trees, run by onnxruntime, imported on first use).

Policies here: :class:`LearnedPolicy` (argmax of the scores) and :class:`ThresholdPolicy`
(the seed article's rule: offload when the offloading confidence exceeds 0.7, to the
best-scored node).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from .features import F64, Context, Decisions, DeviceState, NodeStates, TaskBatch
from .modelfile import ModelFiles, Scaler
from .nn import Mlp
from .policies import (
    ContextPolicy,
    _decisions,
    cost_one,
    option_costs,
    option_costs_one,
    weighted_cost,
)

#: Per-option features of the learned scorers, in order.
OPTION_FEATURES = (
    "is_local",
    "log10_latency_s",
    "log10_energy_j",
    "log_cost_over_best",
    "log_deadline_over_latency",
    "transfer_share",
    "queue_share",
    "backlog_share",
    "rtt_share",
    "log10_cycles",
    "log10_input_bytes",
    "log10_output_bytes",
    "battery",
    "log10_energy_weight",
    "device_load",
    "node_load",
    "priority",
)
KINDS = ("policy_mlp", "policy_gbdt")
#: From this many option rows an MLP runs in onnxruntime (one thread) when it is
#: installed, below it in numpy. Measured (docs/decision.md, "Decision time"): numpy wins
#: for one task; for 1,000 tasks numpy's multithreaded BLAS varied from 0.4 to 11 ms on
#: two busy cores while onnxruntime stayed at 0.7 to 1.1 ms.
ONNX_FROM_ROWS = 256
#: Percentiles of the training rows that bound each option feature at run time (saved
#: with the model as ``inputs.low`` / ``inputs.high``; see :meth:`Scorer.clip`).
CLIP_PERCENTILES = (0.1, 99.9)
#: Where the shipped default model lives (made by ``make train``).
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default"


@dataclass(frozen=True, slots=True)
class CostWeights:
    """The cost every decision minimises (the oracle's labels use the same)."""

    latency_weight: float = 0.5
    deadline_penalty: float = 10.0


def option_features(ctx: Context, weights: CostWeights) -> tuple[F64, F64, F64, F64]:
    """(features (n, 1 + k, F), available (n, 1 + k) bool as float, latency, energy).

    Absent options get zeros and ``available = 0``.
    """
    latency, energy, transfer = option_costs(ctx)
    cost = weighted_cost(latency, energy, ctx, weights.latency_weight, weights.deadline_penalty)
    available = np.isfinite(cost)
    n, m = latency.shape
    # NOTE: written for few passes over (n, m) arrays (measured ~3x faster than one
    # strided write per feature): logs are shared (ln(d / t) = ln d - ln 10 log10 t,
    # ln(c / best) = ln c - min ln c), planes are stacked once, absent options zeroed
    # by one multiplication.
    with np.errstate(invalid="ignore", divide="ignore"):
        safe_t = np.where(available, latency, 1.0)
        log_t = np.log10(np.maximum(safe_t, 1e-9))
        log_e = np.log10(np.maximum(np.where(available, energy, 1.0), 1e-12))
        ln_c = np.log(np.maximum(cost, 1e-12))  # inf where absent
        over_best = np.minimum(ln_c - ln_c.min(axis=1, keepdims=True), 10.0)
        deadline = ctx.tasks[:, 5]
        # A deadline already passed (a late resubmission) counts as the tightest one.
        horizon = np.maximum(np.where(np.isfinite(deadline), deadline, 1e9), 1e-9)
        ln_d = np.log(horizon)[:, None]
        slack = np.clip(ln_d - np.log(10.0) * log_t, -5.0, 5.0)
        inv_t = 1.0 / safe_t
    zeros = np.zeros((n, 1))
    if ctx.k:
        node = np.nan_to_num(ctx.nodes[:, :, (2, 6, 3)])  # queue, rtt, load
        queue = np.concatenate([zeros, node[:, :, 0]], axis=1)
        rtt = np.concatenate([zeros, node[:, :, 1]], axis=1)
        node_load = np.concatenate([zeros, node[:, :, 2]], axis=1)
    else:
        queue = rtt = node_load = zeros
    # The device's own backlog ahead of the task on each option: its CPU's for the
    # local option, its uplink's for every node (DEVICE_FEATURES columns 7 and 8).
    backlog = np.concatenate(
        [ctx.device[:, 7, None], np.broadcast_to(ctx.device[:, 8, None], (n, m - 1))], axis=1
    )
    w_e = (1.0 - weights.latency_weight) / np.maximum(0.05, ctx.device[:, 2])
    per_task = [
        np.log10(np.maximum(ctx.tasks[:, 0], 1.0)),
        np.log10(np.maximum(ctx.tasks[:, 3], 1.0)),
        np.log10(np.maximum(ctx.tasks[:, 4], 1.0)),
        ctx.device[:, 2],
        np.log10(np.maximum(w_e, 1e-12)),
        ctx.device[:, 1],
    ]
    is_local = np.zeros((1, m))
    is_local[0, 0] = 1.0
    shape = (n, m)
    planes = [
        np.broadcast_to(is_local, shape),
        log_t,
        log_e,
        over_best,
        slack,
        transfer * inv_t,
        queue * inv_t,
        backlog * inv_t,
        rtt * inv_t,
        *(np.broadcast_to(v[:, None], shape) for v in per_task),
        node_load,
        np.broadcast_to(ctx.tasks[:, 6, None], shape),
    ]
    x = np.stack(planes, axis=-1)
    mask = available.astype(np.float64)
    x = np.where(available[:, :, None], x, 0.0) if not available.all() else x
    return x, mask, latency, energy


def option_features_one(
    tasks: TaskBatch, device: DeviceState, nodes: NodeStates, weights: CostWeights
) -> tuple[list[list[float]], list[float], list[float], list[float]]:
    """:func:`option_features` of a single task in plain Python floats: (rows, cost,
    latency, energy); absent options have a zero row and an infinite cost.

    NOTE: the fast path of one decision (numpy's per-call cost dominates at this size);
    tests/unit/decision/test_learned.py checks it against the vectorised form.
    """
    latency, energy, transfer = option_costs_one(tasks, device, nodes)
    deadline = float(tasks.deadline_s[0])
    cost = cost_one(
        latency, energy, deadline, device.battery, weights.latency_weight, weights.deadline_penalty
    )
    best = max(min(cost), 1e-12)
    w_e = (1.0 - weights.latency_weight) / max(0.05, device.battery)
    shared = [
        math.log10(max(float(tasks.cpu_cycles[0]), 1.0)),
        math.log10(max(float(tasks.input_bytes[0]), 1.0)),
        math.log10(max(float(tasks.output_bytes[0]), 1.0)),
        device.battery,
        math.log10(max(w_e, 1e-12)),
        device.load,
    ]
    horizon = max(deadline if deadline != math.inf else 1e9, 1e-9)  # as option_features
    priority = float(tasks.priority[0])
    queues = [0.0, *nodes.queue_s.tolist()]
    backlogs = [device.local_queue_s, *([device.uplink_queue_s] * len(nodes))]
    rtts = [0.0, *nodes.rtt_s.tolist()]
    loads = [0.0, *nodes.load.tolist()]
    rows = []
    for i, (t, e, c) in enumerate(zip(latency, energy, cost, strict=True)):
        if c == math.inf:
            rows.append([0.0] * len(OPTION_FEATURES))
            continue
        rows.append(
            [
                1.0 if i == 0 else 0.0,
                math.log10(max(t, 1e-9)),
                math.log10(max(e, 1e-12)),
                min(10.0, max(0.0, math.log(c / best))),
                min(5.0, max(-5.0, math.log(horizon / t))),
                transfer[i] / t,
                queues[i] / t,
                backlogs[i] / t,
                rtts[i] / t,
                *shared,
                loads[i],
                priority,
            ]
        )
    return rows, cost, latency, energy


def input_bounds(rows: F64) -> dict[str, F64]:
    """The arrays a model saves to bound its inputs: each feature's
    :data:`CLIP_PERCENTILES` over the training rows (available options only)."""
    low, high = np.percentile(rows, CLIP_PERCENTILES, axis=0)
    return {"inputs.low": np.asarray(low), "inputs.high": np.asarray(high)}


def masked_softmax(scores: F64, available: F64) -> F64:
    """Softmax over the available options of each row (absent options: 0)."""
    s = np.where(available > 0, scores, -np.inf)
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


class Scorer:
    """The scores of every option, from a model folder.

    Raises:
        ConfigError: not a policy model, missing arrays, or a feature list that is not
            this version's :data:`OPTION_FEATURES`.
    """

    def __init__(self, folder: str | Path) -> None:
        files = ModelFiles.load(folder, KINDS)
        features = files.meta.get("features")
        if features != list(OPTION_FEATURES):
            raise ConfigError(
                f"policy model {folder}: its features {features} are not this version's "
                f"{list(OPTION_FEATURES)} (retrain it)"
            )
        self.folder = Path(folder)
        self.kind = files.kind
        self.meta = files.meta
        self.weights = CostWeights(**files.meta.get("cost", {}))
        self.scaler = Scaler.from_files(files)
        if len(self.scaler.mean) != len(OPTION_FEATURES):
            raise ConfigError(f"policy model {folder}: scaler has {len(self.scaler.mean)} features")
        self.mlp = Mlp.from_arrays(files.arrays) if self.kind == "policy_mlp" else None
        # NOTE: the scaler folded into the first layer, (x - mean) / scale @ W + b =
        # x @ (W / scale) + (b - (mean / scale) @ W): two numpy calls fewer per decision.
        self._folded: Mlp | None = None
        self._folded64: Mlp | None = None
        if self.mlp is not None:
            w0, b0 = self.mlp.weights[0], self.mlp.biases[0]
            inv = 1.0 / self.scaler.scale
            folded = Mlp(
                (w0 * inv[:, None], *self.mlp.weights[1:]),
                (b0 - (self.scaler.mean * inv) @ w0, *self.mlp.biases[1:]),
            )
            self._folded = folded.as_float32()
            self._folded64 = folded  # one task: float64 in, no conversion
        # Inputs beyond the training rows' range are clipped to it (models folded before
        # the bounds existed have none): a network extrapolates arbitrarily, and a
        # feature that barely varied in training (a node queue in a simulated world
        # whose nodes rarely queue) would otherwise reach tens of standard deviations
        # on a real client and decide alone. Measured in the demo (docs/decision.md).
        low, high = files.arrays.get("inputs.low"), files.arrays.get("inputs.high")
        self.bounds = (low, high) if low is not None and high is not None else None
        self._mean32 = self.scaler.mean.astype(np.float32)
        self._inv32 = (1.0 / self.scaler.scale).astype(np.float32)
        self._session: Any = None
        self._onnx_missing = False

    def scores(self, x: F64) -> F64:
        """Raw scores (n, options) for option features ``x`` (n, options, F).

        An MLP runs in numpy (float32, the scaler folded in) below ``ONNX_FROM_ROWS``
        option rows or when onnxruntime is missing, else in onnxruntime; trees always in
        onnxruntime (imported on first use).
        """
        n, m, f = x.shape
        if f != len(OPTION_FEATURES):
            raise ConfigError(f"expected {len(OPTION_FEATURES)} features per option, got {f}")
        x = self.clip(x)
        if self._folded is not None and (n * m < ONNX_FROM_ROWS or not self._has_onnx()):
            return np.asarray(self._folded(x.reshape(n * m, f)), dtype=np.float64).reshape(n, m)
        return self.onnx_scores(x)

    def clip(self, x: F64) -> F64:
        """Option features bounded to the training rows' range (unchanged without
        bounds); the scores of :meth:`scores` are of the clipped features."""
        if self.bounds is None:
            return x
        return np.clip(x, self.bounds[0], self.bounds[1])

    def _has_onnx(self) -> bool:
        if self._session is None and not self._onnx_missing:
            try:
                self._load_session()
            except ImportError:
                self._onnx_missing = True
        return self._session is not None

    def numpy_scores(self, x: F64) -> F64:
        """The MLP's scores by numpy whatever the size (the runtime's small-batch path)."""
        if self._folded is None:
            raise ConfigError(f"a {self.kind} model has no numpy path")
        n, m, f = x.shape
        return np.asarray(self._folded(x.reshape(n * m, f)), dtype=np.float64).reshape(n, m)

    def onnx_scores(self, x: F64) -> F64:
        """The same scores from the model's ONNX file through onnxruntime."""
        n, m, f = x.shape
        flat = (x.reshape(n * m, f).astype(np.float32) - self._mean32) * self._inv32
        return self._onnx(flat).reshape(n, m)

    def _load_session(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(self.folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def _onnx(self, flat: NDArray[np.floating[Any]]) -> F64:
        if self._session is None:
            self._load_session()
        out = self._session.run(None, {"x": flat})
        if self.mlp is not None:
            return np.asarray(out[0], dtype=np.float64)
        # Classifiers exported by skl2onnx answer (labels, probabilities): keep P(best).
        prob = np.asarray(out[-1], dtype=np.float64)
        p = prob[:, 1] if prob.ndim == 2 else prob
        return np.asarray(np.log(np.maximum(p, 1e-12)), dtype=np.float64)


@dataclass
class LearnedPolicy(ContextPolicy):
    """The best-scored option per task; confidence: its softmax probability."""

    scorer: Scorer
    name: str = "learned"

    def probabilities(self, ctx: Context) -> tuple[F64, F64, F64]:
        """(probabilities (n, 1 + k), latency, energy) of every option."""
        x, available, latency, energy = option_features(ctx, self.scorer.weights)
        return masked_softmax(self.scorer.scores(x), available), latency, energy

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions:
        if len(tasks) != 1:
            return self.decide_context(Context.of(tasks, device, nodes))
        scorer = self.scorer
        rows, cost, latency, energy = option_features_one(tasks, device, nodes, scorer.weights)
        if scorer._folded64 is not None:
            scores = scorer._folded64(scorer.clip(np.array(rows)))[:, 0].tolist()
        else:
            scores = scorer.scores(np.array([rows])).tolist()[0]
        top = max(s for s, c in zip(scores, cost, strict=True) if c != math.inf)
        weights = [
            math.exp(s - top) if c != math.inf else 0.0 for s, c in zip(scores, cost, strict=True)
        ]
        best = max(range(len(weights)), key=weights.__getitem__)
        return Decisions(
            np.array([best - 1]),
            np.array([weights[best] / sum(weights)]),
            np.array([latency[best]]),
            np.array([energy[best]]),
        )

    def decide_context(self, ctx: Context) -> Decisions:
        prob, latency, energy = self.probabilities(ctx)
        choice = np.argmax(prob, axis=1)
        return _decisions(choice, prob[np.arange(len(ctx)), choice], latency, energy)


@dataclass
class ThresholdPolicy(ContextPolicy):
    """The seed article's rule on our scorer: offload when the confidence that
    offloading is best (1 - P(local)) exceeds ``threshold``, to the best-scored node."""

    learned: LearnedPolicy
    threshold: float = 0.7
    name: str = "threshold"

    def decide_context(self, ctx: Context) -> Decisions:
        prob, latency, energy = self.learned.probabilities(ctx)
        n = len(ctx)
        if ctx.k == 0:
            return _decisions(np.zeros(n, dtype=np.int64), np.ones(n), latency, energy)
        p_offload = 1.0 - prob[:, 0]
        node = 1 + np.argmax(prob[:, 1:], axis=1)
        choice = np.where(p_offload > self.threshold, node, 0)
        confidence = np.where(choice == 0, prob[:, 0], p_offload)
        return _decisions(choice, confidence, latency, energy)


@dataclass
class _Loaded:
    scorers: dict[str, Scorer] = field(default_factory=dict)


_CACHE = _Loaded()


def load_scorer(folder: str | Path | None = None) -> Scorer:
    """The scorer of ``folder`` (default: the shipped model), loaded once per process."""
    path = str(folder or DEFAULT_MODEL)
    if path not in _CACHE.scorers:
        _CACHE.scorers[path] = Scorer(path)
    return _CACHE.scorers[path]


def default_policy(kind: str, folder: str | Path | None = None) -> ContextPolicy:
    """``learned``, ``threshold`` or ``online`` on the model in ``folder`` (default: the
    shipped one).

    Raises:
        ConfigError: unknown kind, or a bad model folder.
    """
    if kind == "online":
        from .online import OnlineCostModel

        return OnlineCostModel()
    if kind not in ("learned", "threshold"):
        raise ConfigError(f"unknown learned policy {kind!r} (learned, threshold, online)")
    learned = LearnedPolicy(load_scorer(folder))
    return learned if kind == "learned" else ThresholdPolicy(learned)
