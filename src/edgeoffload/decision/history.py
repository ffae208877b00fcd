"""The learned policy with memory: an LSTM over the device's recent decision contexts.

The seed article's model is an LSTM over dynamic parameters; here the LSTM reads the
contexts of the device's last :data:`STEPS` policy calls (its link estimates, RTT, the
nodes' queues and loads, its own load and battery, the time between calls:
:data:`HISTORY_FEATURES`) and its last hidden state joins each option's features in the
option scorer. So a link whose estimate keeps falling, or nodes whose queues keep
growing, can weigh on the choice beyond what the current snapshot says.

:class:`HistoryPolicy` keeps that history itself (one instance per device, as the
client has); offline, :func:`history_windows` rebuilds it from records in time order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .base import ContextPolicy, decisions
from .costs import CostWeights
from .evaluation import Labelled, columns_of, score
from .features import F64, I64, Context, Decisions, DeviceState, NodeFeatures, TaskBatch
from .learned import OPTION_FEATURES, masked_softmax, option_features
from .modelfile import ModelFiles, Scaler
from .nn import Lstm, Mlp

HISTORY_FEATURES = (
    "log10_up_bps",
    "log10_down_bps",
    "log10_rtt_s",
    "log10_queue_s",
    "node_load",
    "device_load",
    "battery",
    "log10_gap_s",
)
#: Policy calls of history the LSTM reads.
STEPS = 8
KIND = "policy_lstm"
#: The gap recorded for a device's first call ("long ago").
FIRST_GAP_S = 10.0


def context_vectors(ctx: Context, gap_s: F64) -> F64:
    """One history step per row (n, len(HISTORY_FEATURES)): node figures averaged over
    the candidates; ``gap_s`` is the time since the device's previous call."""
    nodes = ctx.nodes
    n = len(ctx)
    if ctx.k == 0:
        node_part = np.zeros((n, 5))
    else:
        with np.errstate(all="ignore"):
            mean = np.nanmean(np.where(np.isnan(nodes), np.nan, nodes), axis=1)
        mean = np.nan_to_num(mean, nan=0.0)
        node_part = np.column_stack(
            [
                np.log10(np.maximum(mean[:, 4], 1.0)),
                np.log10(np.maximum(mean[:, 5], 1.0)),
                np.log10(np.maximum(mean[:, 6], 1e-4)),
                np.log10(np.maximum(mean[:, 2], 1e-4)),
                mean[:, 3],
            ]
        )
    gap = np.log10(np.maximum(gap_s, 0.0) + 1e-3)
    return np.column_stack([node_part, ctx.device[:, 1], ctx.device[:, 2], gap])


def history_windows(ctx: Context, device_id: I64, created_s: F64) -> F64:
    """(n, STEPS, H): for each row, the context vectors of the same device's previous
    calls (rows created strictly earlier; all rows of one instant are one call), oldest
    first, zero-padded."""
    n = len(ctx)
    out = np.zeros((n, STEPS, len(HISTORY_FEATURES)))
    order = np.lexsort((created_s, device_id))
    dev, t = device_id[order], created_s[order]
    # One step per distinct (device, instant): a call.
    new_call = np.ones(n, dtype=bool)
    new_call[1:] = (dev[1:] != dev[:-1]) | (t[1:] != t[:-1])
    call_of = np.cumsum(new_call) - 1
    first_rows = order[new_call]
    call_dev, call_t = dev[new_call], t[new_call]
    gaps = np.full(len(call_t), FIRST_GAP_S)
    same = call_dev[1:] == call_dev[:-1]
    gaps[1:] = np.where(same, call_t[1:] - call_t[:-1], FIRST_GAP_S)
    vectors = context_vectors(ctx.rows(first_rows), gaps)
    for lag in range(1, STEPS + 1):
        prev = call_of - lag
        ok = (prev >= 0) & (call_dev[np.maximum(prev, 0)] == dev)
        out[order[ok], STEPS - lag] = vectors[prev[ok]]
    return out


class HistoryScorer:
    """Scores of every option from option features and the history window.

    Raises:
        ConfigError: not an LSTM policy folder, or other features than this version's.
    """

    def __init__(self, folder: str | Path) -> None:
        files = ModelFiles.load(folder, KIND)
        if files.meta.get("features") != list(OPTION_FEATURES) or files.meta.get(
            "history_features"
        ) != list(HISTORY_FEATURES):
            raise ConfigError(
                f"policy model {folder}: other features than this version's (retrain it)"
            )
        self.meta = files.meta
        self.weights = CostWeights(**files.meta.get("cost", {}))
        self.scaler = Scaler.from_files(files)
        self.history_scaler = Scaler.from_files(files, "history_scaler")
        self.lstm = Lstm.from_arrays(files.arrays)
        self.mlp = Mlp.from_arrays(files.arrays)

    def scores(self, x: F64, history: F64) -> F64:
        n, m, f = x.shape
        h = self.lstm(self.history_scaler(history))  # (n, G)
        xs = self.scaler(x.reshape(n * m, f)).reshape(n, m, f)
        joined = np.concatenate([xs, np.broadcast_to(h[:, None, :], (n, m, h.shape[1]))], axis=2)
        return np.asarray(self.mlp(joined.reshape(n * m, -1)), dtype=np.float64).reshape(n, m)


@dataclass
class HistoryPolicy(ContextPolicy):
    """The LSTM policy for one device: it remembers its own calls."""

    scorer: HistoryScorer
    name: str = "learned_lstm"
    _past: deque[F64] = field(default_factory=lambda: deque(maxlen=STEPS), repr=False)
    _last_call: float | None = field(default=None, repr=False)
    _clock: float = field(default=0.0, repr=False)

    def decide_with_history(self, ctx: Context, history: F64) -> Decisions:
        x, available, latency, energy = option_features(ctx, self.scorer.weights)
        prob = masked_softmax(self.scorer.scores(x, history), available)
        choice = np.argmax(prob, axis=1)
        return decisions(choice, prob[np.arange(len(ctx)), choice], latency, energy)

    def decide(
        self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures, now_s: float | None = None
    ) -> Decisions:
        """Decide, then remember this call (``now_s``: the caller's clock; default: one
        second after the previous call)."""
        ctx = Context.of(tasks, device, nodes)
        now = self._clock + 1.0 if now_s is None else now_s
        history = np.zeros((1, STEPS, len(HISTORY_FEATURES)))
        for i, v in enumerate(reversed(self._past)):
            history[0, STEPS - 1 - i] = v
        decisions = self.decide_with_history(
            ctx, np.broadcast_to(history, (len(ctx), *history.shape[1:]))
        )
        gap = FIRST_GAP_S if self._last_call is None else now - self._last_call
        self._past.append(context_vectors(ctx.rows(slice(0, 1)), np.array([gap]))[0])
        self._last_call = self._clock = now
        return decisions

    def decide_context(self, ctx: Context) -> Decisions:
        """Without history (as the first call of a device)."""
        return self.decide_with_history(ctx, np.zeros((len(ctx), STEPS, len(HISTORY_FEATURES))))


def evaluate_history(
    labelled: Labelled, policy: HistoryPolicy, weights: CostWeights
) -> dict[str, float]:
    """:func:`~.evaluation.evaluate_policy` for the LSTM policy: each row decided with
    its device's history rebuilt from the records."""
    history = history_windows(labelled.ctx, labelled.device_id, labelled.created_s)
    choice = columns_of(policy.decide_with_history(labelled.ctx, history))
    return score(labelled, choice, weights)
