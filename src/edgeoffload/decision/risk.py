"""A risk-aware policy for fading links: quantiles of the upload time, the tail of the
cost, and the local fallback timer (issue 16 part 2).

The cost model (:mod:`.costs`) prices an offload at its expected upload time
``Q_up + D_in / r_up``, one number. On a link that fades, the upload of the same bytes
takes from a fraction of that to hundreds of times it (measured on the bundled traces:
the realised upload over the predicted one has a 99.9th percentile of e^2.4 on
Pensieve's 3G traces and of e^5.8 on Ghent's 4G drives), and a deadline is missed on
exactly those tasks. This policy prices every option over a distribution of upload times
instead, and may give an offloaded task a **fallback budget**: past it, the client
abandons the offload and runs the task locally (``client.ownership``'s fallback timer;
scored in hindsight by ``decision.evaluation``).

How a decision is taken, per task and node option:

1. :func:`upload_quantiles`: the upload's end (s from the decision) at a few
   probabilities, the cost model's prediction times calibrated quantiles of the ratio
   realised / predicted (:class:`UploadCalibration`, fitted by :func:`fit_calibration`
   on the hindsight records of other datasets, per bin of the predicted time, since a
   short upload sees one moment of the link and a long one averages over it). The
   calibration is the one source today; a bandwidth predictor that gives quantiles
   itself can replace it behind the same function. The learned one
   (:class:`~.estimators.BandwidthPredictor`) does not fit yet: it reads one-second
   means of the link, while a device, in the client and in the simulator, learns its
   link only from its own transfers (a sample per completed transfer, at irregular
   times).
2. Each quantile is one scenario (weighted by the probability mass it stands for), plus
   one scenario in which the node fails (the calibrated failure rate), which costs what
   ``decision.evaluation`` charges for it.
3. For each candidate budget (none; the deadline minus the local run, so a fallback
   still meets the deadline; a few multiples of the median latency), each scenario's
   latency and energy with the timer applied (later than the budget: the budget plus
   the local run, the radio energy spent until then plus the local energy), then its
   weighted cost (:func:`~.costs.cost_of`, the same as every policy and the oracle).
4. The option's risk: the mean cost over the scenarios plus ``tail_weight`` times the
   excess of the conditional tail mean (the mean of the worst ``tail`` of the
   probability mass, CVaR) over that mean. The deadline penalty inside the cost makes
   the probability of missing the deadline (and by how much) part of the mean already;
   the tail term adds aversion to the rare large costs that dominate regret.
5. The option (and budget) of lowest risk wins; the device's own cost is taken as
   certain (its CPU is known; the link is what is uncertain).

``risk_aware`` (``decision.registry``) does not take step 5's choice as it is: on the
bundled sets the shipped scorer chooses better than the lowest risk of this analytic
model (it has learnt the queues and node behaviour the cost model gets wrong), so it
keeps the scorer's choice, sends it to the device when its node's risk exceeds the
device's cost (the fade the scorer cannot see), and gives every offload its best
budget. ``RiskAware`` without ``base`` is the analytic policy alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import ContextPolicy, margin_confidence
from .costs import cost_of, option_costs
from .features import F64, Context, Decisions

#: The probability bins whose midpoints are the upload scenarios: finer in the upper
#: tail, where the costly fades are (a 0.1 % scenario stands for a total outage).
PROBABILITY_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)
#: Bins of the predicted upload time (s): below 50 ms a task sees one instant of the
#: link, above 0.5 s it averages over seconds of it (the ratio's spread differs).
UPLOAD_BINS_S = (0.05, 0.5)
#: Where the shipped calibration lives (``edgeoffload train --model risk``).
DEFAULT_CALIBRATION = Path(__file__).parent / "models" / "risk" / "calibration.json"


@dataclass(frozen=True)
class UploadCalibration:
    """Quantiles of ``log(realised upload end / predicted)``, per bin of the predicted
    upload time, at the midpoints of :data:`PROBABILITY_EDGES`; and the share of node
    options that failed. ``datasets``: what it was fitted on (a held-out set must not
    be among them)."""

    log_ratio: tuple[tuple[float, ...], ...]  # (bins, scenarios)
    failure_rate: float
    datasets: tuple[str, ...] = ()
    bins_s: tuple[float, ...] = UPLOAD_BINS_S
    edges: tuple[float, ...] = PROBABILITY_EDGES
    samples: int = 0

    @property
    def weights(self) -> F64:
        """Each scenario's probability mass (sums to 1)."""
        return np.diff(np.asarray(self.edges, dtype=np.float64))

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path = DEFAULT_CALIBRATION) -> UploadCalibration:
        raw: dict[str, Any] = json.loads(Path(path).read_text())
        return cls(
            log_ratio=tuple(tuple(float(v) for v in row) for row in raw["log_ratio"]),
            failure_rate=float(raw["failure_rate"]),
            datasets=tuple(raw.get("datasets", ())),
            bins_s=tuple(raw.get("bins_s", UPLOAD_BINS_S)),
            edges=tuple(raw.get("edges", PROBABILITY_EDGES)),
            samples=int(raw.get("samples", 0)),
        )


def predicted_upload(ctx: Context) -> F64:
    """(n, k) the cost model's upload end (s from the decision): the device's uplink
    backlog plus the input over the estimated uplink rate (:mod:`.costs`)."""
    return np.asarray(
        ctx.device[:, 8, None] + ctx.tasks[:, 3, None] * 8.0 / ctx.nodes[:, :, 4],
        dtype=np.float64,
    )


def upload_quantiles(ctx: Context, source: UploadCalibration) -> F64:
    """(n, k, m) the upload's end (s from the decision) in each of ``source``'s
    scenarios (their masses: ``source.weights``), for every node option.

    The one place the upload's uncertainty comes from: today a calibration of the
    cost model's prediction; a predictor giving quantiles can take its place here.
    """
    predicted = predicted_upload(ctx)
    table = np.asarray(source.log_ratio, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        which = np.searchsorted(np.asarray(source.bins_s), np.nan_to_num(predicted, nan=0.0))
    return np.asarray(predicted[:, :, None] * np.exp(table[which]), dtype=np.float64)


def fit_calibration(
    parts: Sequence[Any], datasets: Sequence[str] = (), edges: Sequence[float] = PROBABILITY_EDGES
) -> UploadCalibration:
    """The calibration of hindsight records (``decision.evaluation.Labelled`` with
    ``upload_s``): every node option's realised / predicted upload end, pooled.

    Raises:
        ValueError: no records carry upload times.
    """
    ratios: list[F64] = []
    predicted_all: list[F64] = []
    failed = options = 0
    for part in parts:
        if part.upload_s is None:
            continue
        predicted = predicted_upload(part.ctx)
        real = part.upload_s[:, 1, None]
        ok = np.isfinite(predicted) & (predicted > 0) & np.isfinite(real) & (real > 0)
        ratios.append(np.log(np.broadcast_to(real, predicted.shape)[ok] / predicted[ok]))
        predicted_all.append(predicted[ok])
        node = part.latency_s[:, 1:]
        present = ~np.isnan(node)
        options += int(present.sum())
        failed += int(np.isinf(node[present]).sum())
    if not ratios:
        raise ValueError("no records with upload times to calibrate on")
    r, p = np.concatenate(ratios), np.concatenate(predicted_all)
    e = np.asarray(edges, dtype=np.float64)
    mid = (e[:-1] + e[1:]) / 2.0
    which = np.searchsorted(np.asarray(UPLOAD_BINS_S), p)
    rows = []
    for b in range(len(UPLOAD_BINS_S) + 1):
        in_bin = r[which == b]
        rows.append(tuple(float(v) for v in np.quantile(in_bin if in_bin.size else r, mid)))
    return UploadCalibration(
        log_ratio=tuple(rows),
        failure_rate=failed / max(options, 1),
        datasets=tuple(datasets),
        edges=tuple(float(v) for v in e),
        samples=int(r.size),
    )


def _cvar(cost: F64, weight: F64, tail: float) -> F64:
    """The mean of the worst ``tail`` of the probability mass, along the last axis
    (``weight`` broadcasts to ``cost``; its last axis sums to 1)."""
    weight = np.broadcast_to(weight, cost.shape)
    order = np.argsort(-cost, axis=-1)
    c = np.take_along_axis(cost, order, axis=-1)
    w = np.take_along_axis(weight, order, axis=-1)
    before = np.cumsum(w, axis=-1) - w
    take = np.clip(tail - before, 0.0, w)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.sum(np.where(take > 0, c * take, 0.0), axis=-1) / tail)


@dataclass
class RiskAware(ContextPolicy):
    """Lowest risk over upload-time scenarios, with the fallback timer (module
    docstring).

    Args:
        calibration: where the upload scenarios come from (:func:`upload_quantiles`).
        tail_weight: weight of the tail (CVaR) excess over the mean cost; 0 (the
            default): the expected cost alone. Measured on the bundled sets (docs/
            decision.md), 0.5 raised the mean cost: with the fallback bounding each
            fade, the extra caution sent too many tasks to the device.
        tail: the probability mass of the tail.
        budget_multiples: fallback budgets to try, as multiples of the option's median
            latency (besides "none" and "the deadline minus the local run").
        fallback: give budgets at all (off: the risk-aware choice without the timer).
        base: a policy whose choice is taken instead of the lowest risk (the shipped
            scorer, in ``risk_aware``); its offloads still get budgets.
        override: with ``base``, send a task of ``base``'s to the device when its
            chosen node's risk exceeds the device's cost.
    """

    calibration: UploadCalibration
    tail_weight: float = 0.0
    tail: float = 0.05
    budget_multiples: tuple[float, ...] = (1.5, 3.0)
    fallback: bool = True
    latency_weight: float = 0.5
    deadline_penalty: float = 10.0
    base: ContextPolicy | None = None
    override: bool = False
    name: str = "risk_aware"
    _weights: F64 = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._weights = self.calibration.weights

    def decide_context(self, ctx: Context) -> Decisions:
        latency, energy, _ = option_costs(ctx)
        n, k = len(ctx), ctx.k
        battery = ctx.device[:, 2, None]
        deadline = ctx.tasks[:, 5, None]
        local_t, local_e = latency[:, :1], energy[:, :1]
        local_cost = cost_of(
            local_t, local_e, battery, deadline, self.latency_weight, self.deadline_penalty
        )
        if k == 0:
            inf = np.full(n, np.inf)
            return Decisions(np.full(n, -1), np.ones(n), local_t[:, 0], local_e[:, 0], inf)
        risk, budget, mean_t, mean_e = self._node_risk(ctx, latency, energy)
        total = np.concatenate([local_cost, risk], axis=1)  # (n, 1 + k)
        total[np.isnan(total)] = np.inf
        choice = np.argmin(total, axis=1)
        if self.base is not None:
            picked = self.base.decide_context(ctx).target + 1
            if self.override:
                worse = total[np.arange(n), picked] > total[:, 0]
                picked = np.where(worse, 0, picked)
            choice = picked
        rows = np.arange(n)
        node = np.maximum(choice - 1, 0)
        is_node = choice > 0
        chosen_budget = np.where(is_node, budget[rows, node], np.inf)
        exp_t = np.where(is_node, mean_t[rows, node], local_t[:, 0])
        exp_e = np.where(is_node, mean_e[rows, node], local_e[:, 0])
        return Decisions(
            (choice - 1).astype(np.int64),
            margin_confidence(total, choice),
            exp_t,
            exp_e,
            chosen_budget if self.fallback else None,
        )

    def _node_risk(self, ctx: Context, latency: F64, energy: F64) -> tuple[F64, F64, F64, F64]:
        """(risk, best budget, mean latency, mean energy) of every node option (n, k)."""
        d = ctx.device
        battery, deadline = d[:, 2, None, None], ctx.tasks[:, 5, None, None]
        tx, idle, q_up = d[:, 4, None, None], d[:, 6, None, None], d[:, 8, None, None]
        local_t, local_e = latency[:, :1, None], energy[:, :1, None]
        predicted = predicted_upload(ctx)[:, :, None]  # (n, k, 1)
        upload = upload_quantiles(ctx, self.calibration)  # (n, k, m)
        rest_t = latency[:, 1:, None] - predicted  # RTT, queue, run, download
        sending = np.maximum(upload - q_up, 0.0)
        lat = rest_t + upload
        en = energy[:, 1:, None] - tx * np.maximum(predicted - q_up, 0.0) + tx * sending
        weights = self._weights
        mean_t = np.sum(lat * weights, axis=-1)
        budgets = [np.full(mean_t.shape, np.inf)]
        if self.fallback:
            median = np.median(lat, axis=-1)
            budgets += [median * m for m in self.budget_multiples]
            slack = np.broadcast_to(deadline[:, :, 0] - local_t[:, :, 0], mean_t.shape)
            budgets.append(np.where(slack > 0, slack, np.inf))
        p_fail = self.calibration.failure_rate
        mass = np.concatenate([weights * (1.0 - p_fail), [p_fail]])
        best_risk = np.full(mean_t.shape, np.inf)
        best_budget = np.full(mean_t.shape, np.inf)
        best_e = np.full(mean_t.shape, np.inf)
        for b in budgets:
            bb = b[:, :, None]
            with np.errstate(invalid="ignore"):
                fired = lat > bb
            spent = tx * np.clip(bb - q_up, 0.0, sending) + idle * np.maximum(bb - upload, 0.0)
            lat_b = np.where(fired, bb + local_t, lat)
            en_b = np.where(fired, spent + local_e, en)
            finite = np.isfinite(bb)
            # The node fails: noticed at the budget, else after a local run's time
            # (decision.evaluation's rule), then the task runs here.
            fail_t = np.where(finite, bb + local_t, 2.0 * local_t)
            fail_e = np.where(finite, tx * np.clip(bb - q_up, 0.0, None) + local_e, 2.0 * local_e)
            all_t = np.concatenate([lat_b, np.broadcast_to(fail_t, lat[:, :, :1].shape)], axis=-1)
            all_e = np.concatenate([en_b, np.broadcast_to(fail_e, en[:, :, :1].shape)], axis=-1)
            cost = cost_of(
                all_t, all_e, battery, deadline, self.latency_weight, self.deadline_penalty
            )
            mean = np.sum(cost * mass, axis=-1)
            if self.tail_weight:
                with np.errstate(invalid="ignore"):  # inf - inf: an absent option
                    risk = mean + self.tail_weight * (_cvar(cost, mass, self.tail) - mean)
            else:
                risk = mean
            risk[~np.isfinite(latency[:, 1:])] = np.inf  # absent options
            better = risk < best_risk
            best_risk = np.where(better, risk, best_risk)
            best_budget = np.where(better, b, best_budget)
            best_e = np.where(better, np.sum(all_e * mass, axis=-1), best_e)
        return best_risk, best_budget, mean_t, best_e


def load_calibration(path: str | Path | None = None) -> UploadCalibration:
    """The calibration at ``path`` (default: the shipped one)."""
    return UploadCalibration.load(path or DEFAULT_CALIBRATION)
