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
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from .base import ContextPolicy, decisions
from .costs import CostWeights, cost_of, cost_one, costs_of, option_costs_one
from .features import (
    F64,
    Columns,
    Context,
    Decisions,
    DeviceState,
    NodeFeatures,
    TaskBatch,
    device_row,
)
from .modelfile import ModelFiles, Scaler
from .nn import Mlp

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
#: installed, below it in numpy. Measured on two busy cores, the forward pass alone:
#: about the same in both up to 64 rows (~40 µs), onnxruntime 1.2x faster at 128 rows,
#: 1.3x at 256 and 1.7x at 1,024, but it needs its inputs scaled and laid out by rows
#: first (three more numpy calls), which evens out below about 256. (numpy's
#: multithreaded BLAS also varied from 0.4 to 11 ms for 1,000 tasks there.)
ONNX_FROM_ROWS = 256
#: Percentiles of the training rows that bound each option feature at run time (saved
#: with the model as ``inputs.low`` / ``inputs.high``; see :meth:`Scorer.clip`).
CLIP_PERCENTILES = (0.1, 99.9)
LN10 = math.log(10.0)
#: Where the shipped default model lives (made by ``make train``).
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default"


def option_features(ctx: Context, weights: CostWeights) -> tuple[F64, F64, F64, F64]:
    """(features (n, 1 + k, F), available (n, 1 + k) bool as float, latency, energy).

    Absent options get zeros and ``available = 0``.
    """
    cols = Columns.from_context(ctx)
    latency, energy, transfer = costs_of(cols)
    cost = cost_of(
        latency,
        energy,
        cols.device[2],
        cols.tasks[5],
        weights.latency_weight,
        weights.deadline_penalty,
    )
    planes = np.empty((len(OPTION_FEATURES), cols.n, 1 + cols.k))
    available = fill_features(planes, cols, latency, energy, transfer, cost, weights)
    x = np.ascontiguousarray(np.moveaxis(planes, 0, -1))
    return x, available.astype(np.float64), latency, energy


def fill_features(
    planes: NDArray[np.floating[Any]],
    cols: Columns,
    latency: F64,
    energy: F64,
    transfer: F64,
    cost: F64,
    weights: CostWeights,
) -> NDArray[np.bool_]:
    """Write the option features of a batch feature by feature into ``planes`` (F, n,
    1 + k) and return which options are available (absent ones: zeros).

    Each feature is computed in float64 and cast once as it is written (float32 for the
    model: the same values as casting the float64 array).
    """
    available = np.isfinite(cost)
    every = bool(available.all())
    t, d, nd = cols.tasks, cols.device, cols.nodes
    # NOTE: few passes over (n, 1 + k) arrays: logs are shared (ln(d / t) = ln d - ln 10
    # log10 t, ln(c / best) = ln c - min ln c), per-task features stay (n, 1) columns
    # until written, absent options are masked only when there are some. Feature-major
    # planes make every write contiguous, and let the scorer clip and scale all features
    # in one pass each.
    with np.errstate(invalid="ignore", divide="ignore"):
        safe_t = latency if every else np.where(available, latency, 1.0)
        log_t = np.log10(np.maximum(safe_t, 1e-9))
        planes[1] = log_t
        safe_e = energy if every else np.where(available, energy, 1.0)
        planes[2] = np.log10(np.maximum(safe_e, 1e-12))
        ln_c = np.log(np.maximum(cost, 1e-12))  # inf where absent
        planes[3] = np.minimum(ln_c - row_reduce(np.minimum, ln_c), 10.0)
        deadline = t[5]
        # A deadline already passed (a late resubmission) counts as the tightest one.
        horizon = np.maximum(np.where(np.isfinite(deadline), deadline, 1e9), 1e-9)
        planes[4] = np.clip(np.log(horizon) - np.log(10.0) * log_t, -5.0, 5.0)
        inv_t = 1.0 / safe_t
        np.multiply(transfer, inv_t, out=planes[5])
        # Per option: node queue, the device's own backlog ahead of the task (its CPU's
        # for the local option, its uplink's for every node: DEVICE_FEATURES 7 and 8),
        # rtt.
        per_option = np.empty_like(latency)
        for f, local, node in ((6, 0.0, 2), (7, d[7], None), (8, 0.0, 6)):
            per_option[:, :1] = local
            per_option[:, 1:] = d[8] if node is None else _finite(nd[node])
            np.multiply(per_option, inv_t, out=planes[f])
    w_e = (1.0 - weights.latency_weight) / np.maximum(0.05, d[2])
    planes[9] = np.log10(np.maximum(t[0], 1.0))
    planes[10] = np.log10(np.maximum(t[3], 1.0))
    planes[11] = np.log10(np.maximum(t[4], 1.0))
    planes[12] = d[2]
    planes[13] = np.log10(np.maximum(w_e, 1e-12))
    planes[14] = d[1]
    planes[16] = t[6]
    for f, local, node_values in ((0, 1.0, 0.0), (15, 0.0, _finite(nd[3]))):
        planes[f, :, :1] = local
        planes[f, :, 1:] = node_values
    if not every:
        planes[:, ~available] = 0.0
    return available


def row_reduce(ufunc: np.ufunc, a: F64) -> F64:
    """``ufunc.reduce(a, axis=1, keepdims=True)`` column by column: the same figures, and
    several times faster than numpy's reduction over a short last axis."""
    out = a[:, :1].copy()
    for j in range(1, a.shape[1]):
        ufunc(out, a[:, j : j + 1], out=out)
    return out


def _finite(v: F64) -> F64:
    """``np.nan_to_num(v)``, skipped (about 10 µs) when ``v`` is all finite."""
    return v if np.isfinite(v).all() else np.nan_to_num(v)


def option_features_one(
    tasks: TaskBatch,
    device: DeviceState,
    nodes: NodeFeatures,
    weights: CostWeights,
    bias: bool = False,
) -> tuple[list[float], list[float], list[float], list[float]]:
    """:func:`option_features` of a single task in plain Python floats: (rows, the
    (1 + k) rows of F values one after the other, each followed by 1.0 with ``bias`` as
    :class:`OneTaskNet` takes them; cost, latency, energy). Absent options have a zero
    row and an infinite cost.

    NOTE: the fast path of one decision (numpy's per-call cost dominates at this size);
    tests/unit/decision/test_learned.py checks it against the vectorised form.
    """
    latency, energy, transfer = option_costs_one(tasks, device, nodes)
    deadline = tasks.deadline_s.item()
    cost = cost_one(
        latency, energy, deadline, device.battery, weights.latency_weight, weights.deadline_penalty
    )
    # NOTE: bounds as conditional expressions, not min() / max(): 5x faster per call
    # here, and this runs ~30 of them per decision.
    best = min(cost)
    best = best if best > 1e-12 else 1e-12
    battery = device.battery
    w_e = (1.0 - weights.latency_weight) / (battery if battery > 0.05 else 0.05)
    cycles, d_in, d_out = (
        a.item() for a in (tasks.cpu_cycles, tasks.input_bytes, tasks.output_bytes)
    )
    shared = (
        math.log10(cycles if cycles > 1.0 else 1.0),
        math.log10(d_in if d_in > 1.0 else 1.0),
        math.log10(d_out if d_out > 1.0 else 1.0),
        battery,
        math.log10(w_e if w_e > 1e-12 else 1e-12),
        device.load,
    )
    horizon = deadline if deadline != math.inf else 1e9  # as option_features
    ln_horizon = math.log(horizon if horizon > 1e-9 else 1e-9)
    priority = tasks.priority.item()
    queues = [0.0, *nodes.queue_s.tolist()]
    backlogs = [device.local_queue_s, *([device.uplink_queue_s] * len(nodes))]
    rtts = [0.0, *nodes.rtt_s.tolist()]
    loads = [0.0, *nodes.load.tolist()]
    tail = (1.0,) if bias else ()
    absent = [0.0] * len(OPTION_FEATURES) + list(tail)
    rows: list[float] = []
    for i, (t, e, c) in enumerate(zip(latency, energy, cost, strict=True)):
        if c == math.inf:
            rows += absent
            continue
        inv = 1.0 / t if t else math.inf
        log_t = math.log10(t if t > 1e-9 else 1e-9)
        over_best = math.log((c if c > 1e-12 else 1e-12) / best)  # >= 0
        slack = ln_horizon - LN10 * log_t
        rows += (
            1.0 if i == 0 else 0.0,
            log_t,
            math.log10(e if e > 1e-12 else 1e-12),
            over_best if over_best < 10.0 else 10.0,
            -5.0 if slack < -5.0 else 5.0 if slack > 5.0 else slack,
            transfer[i] * inv,
            queues[i] * inv,
            backlogs[i] * inv,
            rtts[i] * inv,
            *shared,
            loads[i],
            priority,
            *tail,
        )
    return rows, cost, latency, energy


def input_bounds(rows: F64) -> dict[str, F64]:
    """The arrays a model saves to bound its inputs: each feature's
    :data:`CLIP_PERCENTILES` over the training rows (available options only)."""
    low, high = np.percentile(rows, CLIP_PERCENTILES, axis=0)
    return {"inputs.low": np.asarray(low), "inputs.high": np.asarray(high)}


def masked_softmax(scores: F64, available: NDArray[Any]) -> F64:
    """Softmax over the available options of each row (absent options: 0)."""
    mask = available > 0
    s = scores if mask.all() else np.where(mask, scores, -np.inf)
    s = s - row_reduce(np.maximum, s)
    e = np.exp(s)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class OneTaskNet:
    """The scorer's MLP (scaler folded in, float64) for one task's few option rows, in
    as few numpy calls as it takes: at this size each costs more than its arithmetic.

    NOTE: every bias is a weight row of a constant input 1.0 (appended to each row of
    features, kept as 1 by the clip bounds, and carried through each hidden layer by a
    unit whose only input is that constant), so a layer is one ``dot`` and one ReLU.

    Args:
        low, high: the inputs' clip bounds (:meth:`Scorer.clip`; +-inf without), then 1.
        layers: each layer's weights with its bias as a last row; all but the last
            with the constant unit as a last column; the last, the score's column.
    """

    low: F64
    high: F64
    layers: tuple[F64, ...]

    @classmethod
    def of(cls, mlp: Mlp, bounds: tuple[F64, F64] | None) -> OneTaskNet:
        """From the folded MLP (its first output is the score, as in :meth:`Scorer.scores`)."""
        layers = []
        last = len(mlp.weights) - 1
        for i, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
            if i == last:
                layers.append(np.append(w[:, 0], b[0]))  # (H + 1,): one score per row
                break
            carry = np.zeros((w.shape[0] + 1, 1))
            carry[-1] = 1.0
            layers.append(np.hstack([np.vstack([w, b]), carry]))
        f = mlp.n_inputs
        low, high = bounds if bounds is not None else (np.full(f, -np.inf), np.full(f, np.inf))
        return cls(np.append(low, 1.0), np.append(high, 1.0), tuple(layers))

    def __call__(self, rows: list[float], options: int) -> list[float]:
        """Scores of ``options`` rows of features given one after the other, each
        followed by 1.0 (:func:`option_features_one` with ``bias=True``)."""
        x = np.fromiter(rows, np.float64, len(rows)).reshape(options, -1)
        np.maximum(x, self.low, out=x)
        np.minimum(x, self.high, out=x)
        for w in self.layers[:-1]:
            x = x.dot(w)
            np.maximum(x, 0.0, out=x)
        out: list[float] = x.dot(self.layers[-1]).tolist()
        return out


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
        # Inputs beyond the training rows' range are clipped to it (models folded before
        # the bounds existed have none): a network extrapolates arbitrarily, and a
        # feature that barely varied in training (a node queue in a simulated world
        # whose nodes rarely queue) would otherwise reach tens of standard deviations
        # on a real client and decide alone. Measured in the demo (docs/decision.md).
        low, high = files.arrays.get("inputs.low"), files.arrays.get("inputs.high")
        self.bounds = (low, high) if low is not None and high is not None else None
        # NOTE: the scaler folded into the first layer, (x - mean) / scale @ W + b =
        # x @ (W / scale) + (b - (mean / scale) @ W): two numpy calls fewer per decision.
        self._folded: Mlp | None = None
        self.one_task: OneTaskNet | None = None
        if self.mlp is not None:
            w0, b0 = self.mlp.weights[0], self.mlp.biases[0]
            inv = 1.0 / self.scaler.scale
            folded = Mlp(
                (w0 * inv[:, None], *self.mlp.weights[1:]),
                (b0 - (self.scaler.mean * inv) @ w0, *self.mlp.biases[1:]),
            )
            self._folded = folded.as_float32()
            self.one_task = OneTaskNet.of(folded, self.bounds)
        self._folded64 = folded if self.mlp is not None else None
        self._kernel: tuple[Any, F64, NDArray[np.int64]] | None = None
        self._kernel_missing = self._folded64 is None or len(self._folded64.weights) < 2
        self._kernel_lock = threading.Lock()
        self._kernel_thread: threading.Thread | None = None
        # Per feature, broadcast over (n, options) planes (see plane_scores).
        low32, high32 = self.bounds or (np.zeros(0), np.zeros(0))
        self._low32 = low32.astype(np.float32)[:, None, None]
        self._high32 = high32.astype(np.float32)[:, None, None]
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
        if x.shape[2] != len(OPTION_FEATURES):
            raise ConfigError(
                f"expected {len(OPTION_FEATURES)} features per option, got {x.shape[2]}"
            )
        return self.plane_scores(np.ascontiguousarray(np.moveaxis(x, -1, 0), dtype=np.float32))

    def plane_scores(self, planes: NDArray[np.float32], portable: bool = False) -> F64:
        """:meth:`scores` of float32 features given feature by feature (F, n, options),
        as :func:`fill_features` writes them; clips (and for onnxruntime, scales) them
        in place.

        The same figures as :meth:`scores`: clipping in float32 to the float32 bounds
        gives the float32 of the float64 clip (rounding is monotonic). ``portable``: an
        MLP by :meth:`.nn.Mlp.portable` whatever the size, the same numbers on every
        machine (onnxruntime, like BLAS, picks its kernels by CPU).
        """
        f, n, m = planes.shape
        if self.bounds is not None:
            np.maximum(planes, self._low32, out=planes)
            np.minimum(planes, self._high32, out=planes)
        if self._folded is not None and portable:
            rows = planes.reshape(f, n * m).T
            return np.asarray(self._folded.portable(rows), dtype=np.float64).reshape(n, m)
        if self._folded is not None and (n * m < ONNX_FROM_ROWS or not self._has_onnx()):
            rows = planes.reshape(f, n * m).T  # (n * m, F): BLAS reads it transposed
            return np.asarray(self._folded(rows), dtype=np.float64).reshape(n, m)
        planes -= self._mean32[:, None, None]
        planes *= self._inv32[:, None, None]
        return self._onnx(np.ascontiguousarray(planes.reshape(f, n * m).T)).reshape(n, m)

    def kernel(self, wait: bool = False) -> tuple[Any, F64, NDArray[np.int64]] | None:
        """(the compiled decision kernel, its parameters, its layer sizes) of an MLP
        with a hidden layer (:mod:`.kernel`), or None: another kind of model, numba not
        installed, or the kernel still loading.

        Loading imports numba and loads the kernel from numba's disk cache (about 1.5 s;
        the first process after an install compiles it, 10-25 s), so it never happens on
        a caller's path unless ``wait``: the first call starts it on a background thread
        and returns None, and decisions take the numpy path, which decides the same
        (tests/unit/decision/test_kernel.py), until it is there. Not with the package's
        import either: a node must start in under 300 ms."""
        if self._kernel is not None or self._kernel_missing:
            return self._kernel
        with self._kernel_lock:
            if self._kernel_thread is None and not wait:
                self._kernel_thread = threading.Thread(
                    target=self._load_kernel, name="edgeoffload-kernel", daemon=True
                )
                self._kernel_thread.start()
        if wait:
            if self._kernel_thread is not None:
                self._kernel_thread.join()
            else:
                self._load_kernel()
        return self._kernel

    def _load_kernel(self) -> None:
        try:
            from . import kernel
        except ImportError:
            self._kernel_missing = True
            return
        assert self._folded64 is not None
        f = len(OPTION_FEATURES)
        low, high = self.bounds or (np.full(f, -np.inf), np.full(f, np.inf))
        params, dims = kernel.pack(
            self.weights.latency_weight,
            self.weights.deadline_penalty,
            low,
            high,
            self._folded64.weights,
            self._folded64.biases,
        )
        self._kernel = (kernel.decide_tasks, params, dims)

    def reference_scores(self, x: F64) -> F64:
        """The MLP's scores (n, options) of option features ``x`` (n, options, F) as
        trained: clipped, standardised by the scaler, then the float64 network, nothing
        folded. The reference the fast paths are tested against."""
        if self.mlp is None:
            raise ConfigError(f"a {self.kind} model has no numpy path")
        n, m, f = x.shape
        scaled = self.scaler(self.clip(x).reshape(n * m, f))
        return np.asarray(self.mlp(scaled)[:, 0], dtype=np.float64).reshape(n, m)

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
    """The best-scored option per task; confidence: its softmax probability.

    ``decide`` of one task runs an MLP in the compiled kernel (:mod:`.kernel`) when
    numba is installed and ``compiled`` is true, else in plain floats and numpy; a batch
    in float32 planes and numpy or onnxruntime; ``decide_context`` (evaluation,
    training) always in numpy.
    """

    scorer: Scorer
    name: str = "learned"
    compiled: bool = True
    #: Scores by :meth:`.nn.Mlp.portable`, one task too (a simulation's: the same on
    #: every machine; the one-task path's float64 dot products are BLAS's as well).
    portable: bool = False

    def probabilities(self, ctx: Context) -> tuple[F64, F64, F64]:
        """(probabilities (n, 1 + k), latency, energy) of every option."""
        return self.probabilities_of(Columns.from_context(ctx))

    def probabilities_of(self, cols: Columns) -> tuple[F64, F64, F64]:
        """:meth:`probabilities` of a batch's columns: the features are written once in
        float32 (the model's input type), straight from the costs."""
        w = self.scorer.weights
        latency, energy, transfer = costs_of(cols)
        cost = cost_of(
            latency, energy, cols.device[2], cols.tasks[5], w.latency_weight, w.deadline_penalty
        )
        planes = np.empty((len(OPTION_FEATURES), cols.n, 1 + cols.k), dtype=np.float32)
        available = fill_features(planes, cols, latency, energy, transfer, cost, w)
        scores = self.scorer.plane_scores(planes, self.portable)
        return masked_softmax(scores, available), latency, energy

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        compiled = self.scorer.kernel() if self.compiled else None
        if compiled is not None and len(tasks) == 1:
            done = self._decide_compiled(compiled, tasks, device, nodes)
            if done is not None:
                return done
        if len(tasks) == 1 and self.scorer.one_task is not None and not self.portable:
            return self.decide_one(tasks, device, nodes, self.scorer.one_task)
        prob, latency, energy = self.probabilities_of(Columns.of(tasks, device, nodes))
        return _choose(prob, latency, energy)

    def _decide_compiled(
        self,
        compiled: tuple[Any, F64, NDArray[np.int64]],
        tasks: TaskBatch,
        device: DeviceState,
        nodes: NodeFeatures,
    ) -> Decisions | None:
        """:meth:`decide` of one task by the compiled kernel (:mod:`.kernel`, float64
        as :meth:`decide_one`); None for inputs it was not compiled for (not float64
        C-contiguous arrays)."""
        decide_tasks, params, dims = compiled
        n = tasks.cpu_cycles.shape[0]
        args = (
            tasks.cpu_cycles,
            tasks.input_bytes,
            tasks.output_bytes,
            tasks.deadline_s,
            tasks.priority,
            *device_row(device),  # the kernel takes the device in DEVICE_FEATURES order
            nodes.speed_hz,
            nodes.queue_s,
            nodes.load,
            nodes.up_bps,
            nodes.down_bps,
            nodes.rtt_s,
        )
        target = np.empty(n, dtype=np.int64)
        out = np.empty((3, n))
        try:
            decide_tasks(*args, params, dims, target, out)
        except TypeError:  # numba: no code for these argument types
            return None
        return Decisions(target, out[0], out[1], out[2])

    def decide_one(
        self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures, net: OneTaskNet
    ) -> Decisions:
        """One task in plain floats and a float64 forward pass (:class:`OneTaskNet`): the
        same choice as the batch path, confidences equal up to float32 rounding."""
        rows, cost, latency, energy = option_features_one(
            tasks, device, nodes, self.scorer.weights, bias=True
        )
        scores = net(rows, len(cost))
        if math.inf in cost:  # absent candidates never win
            scores = [s if c != math.inf else -math.inf for s, c in zip(scores, cost, strict=True)]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        best = weights.index(1.0)  # the first of the most probable, as numpy's argmax
        return Decisions(
            np.array([best - 1]),
            np.array([weights[best] / sum(weights)]),
            np.array([latency[best]]),
            np.array([energy[best]]),
        )

    def decide_context(self, ctx: Context) -> Decisions:
        return _choose(*self.probabilities(ctx))

    def reference(self, ctx: Context) -> Decisions:
        """The decisions of the model as trained, in float64 and numpy with nothing
        folded (:meth:`Scorer.reference_scores`): what the fast paths are tested
        against (tests/unit/decision/test_kernel.py)."""
        x, available, latency, energy = option_features(ctx, self.scorer.weights)
        prob = masked_softmax(self.scorer.reference_scores(x), available)
        return _choose(prob, latency, energy)


def _choose(prob: F64, latency: F64, energy: F64) -> Decisions:
    choice = np.argmax(prob, axis=1)
    return decisions(choice, prob[np.arange(len(choice)), choice], latency, energy)


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
            return decisions(np.zeros(n, dtype=np.int64), np.ones(n), latency, energy)
        p_offload = 1.0 - prob[:, 0]
        node = 1 + np.argmax(prob[:, 1:], axis=1)
        choice = np.where(p_offload > self.threshold, node, 0)
        confidence = np.where(choice == 0, prob[:, 0], p_offload)
        return decisions(choice, confidence, latency, energy)


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
