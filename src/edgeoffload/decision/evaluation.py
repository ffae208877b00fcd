"""Labelled decisions and how a policy scores on them against the hindsight oracle.

A :class:`Labelled` set holds what each decision saw (a :class:`Context` row) and what
every option really cost (latency, device energy; from the simulator's hindsight
records, ``edgeoffload.sim.oracle``). The oracle's choice is the option of lowest
realised cost under the same cost as the policies (:func:`~.costs.weighted_cost`).

Metrics of a policy's choices (:func:`score`):

- ``agreement``: share of decisions the oracle would have made: an option whose realised
  cost is the lowest (within 1e-9 relative: identical nodes with empty queues tie, and
  either is the oracle's choice);
- ``regret``: total excess realised cost over the oracle's, relative to the oracle's
  total cost; split into ``unavoidable_regret``, the excess on tasks whose chosen
  option was hit by a node failure that began after the decision (its node was up when
  the task was created: no policy could foresee it; link fades and outages stay
  avoidable, since anticipating them is the policy's job), and ``avoidable_regret``, all
  the rest (the two add up to ``regret``);
- ``excess_p50``, ``excess_p95``, ``excess_p99``: the per-task excess (cost units) at
  those quantiles, and ``trimmed_regret``: the regret without the 1 % of tasks of
  largest excess (a few outliers can carry nearly all of it);
- ``mean_cost``: the mean realised cost of the choices per task (two policies on the
  same tasks differ by the mean of their per-task differences: the paired comparison of
  :func:`over_seeds`);
- ``deadline_miss``: share of tasks whose realised latency exceeds their deadline;
- ``energy_j``: mean realised device energy per task.

An option that would have failed (its node down, the hindsight cost ``inf``) costs, if
chosen, a fallback: its local cost counted twice (the wait for the failure, then the
local run), and it misses its deadline. Choosing an option that does not exist (a
padded column, NaN) is refused: it has no cost to count.

**The local fallback timer** (issue 16 part 2; ``client.ownership``'s rule): a policy
may give each task a budget ``B`` (:attr:`~.features.Decisions.fallback_s`, seconds from
the decision). An offloaded task whose realised latency exceeds ``B`` (a fade, an
outage, a failed node) is abandoned at ``B`` and run locally: latency ``B`` plus the
local option's, energy what the radio spent until ``B`` (transmitting during the
recorded upload, idle after it; records without upload times count the whole budget
as transmitting, an upper bound) plus the local option's. Approximations, both on the
costly side of the truth: the local run is costed as the record's local option
(its backlog at the task's creation, not at ``B``, when it has drained), and the
abandoned upload's share of the uplink is not given back to later tasks. The oracle is
unchanged: a fallback costs at least the local option, so it never beats the oracle.
``fallback_share`` is the share of tasks whose timer fired.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..stats import mean_ci95
from .costs import CostWeights, weighted_cost
from .features import DEVICE_FEATURES, F64, I64, LOCAL_INDEX, Context, Decisions


class Records(Protocol):
    """What a source of labelled decisions provides (``edgeoffload.sim.oracle``'s
    ``OracleRecords`` does; shapes in :class:`Labelled`)."""

    @property
    def tasks(self) -> F64: ...
    @property
    def device(self) -> F64: ...
    @property
    def nodes(self) -> F64: ...
    @property
    def latency_s(self) -> F64: ...
    @property
    def energy_j(self) -> F64: ...
    @property
    def node_index(self) -> I64: ...
    @property
    def device_id(self) -> I64: ...
    @property
    def created_s(self) -> F64: ...

    # Optional: (n, 1 + k) bool, failures that began after the decision
    # (``OracleRecords.unforeseen``); records without it count every failure as avoidable.
    # Optional: (n, 2) ``upload_s``, the upload's start and end from the task's creation
    # (``OracleRecords.upload_s``), for the fallback's energy.
    # Optional: (n, k) ``download_s``, (n, 2) ``link_now_bps`` and (n, k) ``inv_wan``:
    # each option's true download, the true link at the decision and each node's WAN
    # (``OracleRecords``), for ``decision.references``.


@dataclass(frozen=True)
class Labelled:
    """Decisions with the realised cost of every option (see the module docstring)."""

    ctx: Context
    latency_s: F64  # (n, 1 + k), NaN: no such option, inf: it would have failed
    energy_j: F64
    node_index: I64  # (n, k) node number of each column, -1: none
    device_id: I64
    created_s: F64
    unforeseen: NDArray[np.bool_] | None = None  # (n, 1 + k); None: no failure unforeseen
    upload_s: F64 | None = None  # (n, 2) upload start, end from creation; None: unknown
    download_s: F64 | None = None  # (n, k) each node option's true download seconds
    link_now_bps: F64 | None = None  # (n, 2) true up, down capacity at creation
    inv_wan: F64 | None = None  # (n, k) 1 / WAN bit/s of each column's node (0: edge)

    def __len__(self) -> int:
        return len(self.ctx)

    def unforeseen_mask(self) -> NDArray[np.bool_]:
        """(n, 1 + k) bool: the options whose failure began after the decision."""
        if self.unforeseen is None:
            return np.zeros(self.latency_s.shape, dtype=bool)
        return self.unforeseen

    @classmethod
    def of(cls, records: Records) -> Labelled:
        """From records; device columns they lack (the backlogs, at the end of
        :data:`~.features.DEVICE_FEATURES`) are 0: unknown."""
        device = np.asarray(records.device, dtype=np.float64)
        unforeseen = getattr(records, "unforeseen", None)
        upload = getattr(records, "upload_s", None)
        download = getattr(records, "download_s", None)
        link_now = getattr(records, "link_now_bps", None)
        inv_wan = getattr(records, "inv_wan", None)
        missing = len(DEVICE_FEATURES) - device.shape[1]
        if missing > 0:
            device = np.hstack([device, np.zeros((device.shape[0], missing))])
        return cls(
            Context(
                np.asarray(records.tasks, dtype=np.float64),
                device,
                np.asarray(records.nodes, dtype=np.float64),
            ),
            np.asarray(records.latency_s, dtype=np.float64),
            np.asarray(records.energy_j, dtype=np.float64),
            np.asarray(records.node_index, dtype=np.int64),
            np.asarray(records.device_id, dtype=np.int64),
            np.asarray(records.created_s, dtype=np.float64),
            None if unforeseen is None else np.asarray(unforeseen, dtype=bool),
            None if upload is None else np.asarray(upload, dtype=np.float64),
            None if download is None else np.asarray(download, dtype=np.float64),
            None if link_now is None else np.asarray(link_now, dtype=np.float64),
            None if inv_wan is None else np.asarray(inv_wan, dtype=np.float64),
        )

    @classmethod
    def concat(cls, parts: list[Labelled]) -> Labelled:
        """One set from several (node columns padded to the widest)."""
        k = max(p.ctx.k for p in parts)

        def pad(a: NDArray[Any], width: int, value: float, axis: int = 1) -> NDArray[Any]:
            missing = width - a.shape[axis]
            if missing <= 0:
                return a
            shape = list(a.shape)
            shape[axis] = missing
            return np.concatenate([a, np.full(shape, value, dtype=a.dtype)], axis=axis)

        # The truth about the link only when every part has it (else: unknown).
        downloads = [pad(p.download_s, k, np.nan) for p in parts if p.download_s is not None]
        links = [p.link_now_bps for p in parts if p.link_now_bps is not None]
        wans = [pad(p.inv_wan, k, np.nan) for p in parts if p.inv_wan is not None]
        return cls(
            Context(
                np.concatenate([p.ctx.tasks for p in parts]),
                np.concatenate([p.ctx.device for p in parts]),
                np.concatenate([pad(p.ctx.nodes, k, np.nan) for p in parts]),
            ),
            np.concatenate([pad(p.latency_s, 1 + k, np.nan) for p in parts]),
            np.concatenate([pad(p.energy_j, 1 + k, np.nan) for p in parts]),
            np.concatenate([pad(p.node_index, k, -1) for p in parts]),
            np.concatenate([p.device_id for p in parts]),
            np.concatenate([p.created_s for p in parts]),
            np.concatenate([pad(p.unforeseen_mask(), 1 + k, False) for p in parts])
            if any(p.unforeseen is not None for p in parts)
            else None,
            np.concatenate(
                [
                    p.upload_s if p.upload_s is not None else np.full((len(p), 2), np.nan)
                    for p in parts
                ]
            )
            if any(p.upload_s is not None for p in parts)
            else None,
            np.concatenate(downloads) if len(downloads) == len(parts) else None,
            np.concatenate(links) if len(links) == len(parts) else None,
            np.concatenate(wans) if len(wans) == len(parts) else None,
        )

    def rows(self, index: I64 | slice) -> Labelled:
        return Labelled(
            self.ctx.rows(index),
            self.latency_s[index],
            self.energy_j[index],
            self.node_index[index],
            self.device_id[index],
            self.created_s[index],
            None if self.unforeseen is None else self.unforeseen[index],
            None if self.upload_s is None else self.upload_s[index],
            None if self.download_s is None else self.download_s[index],
            None if self.link_now_bps is None else self.link_now_bps[index],
            None if self.inv_wan is None else self.inv_wan[index],
        )

    def realised(self, weights: CostWeights, fallback_s: F64 | None = None) -> tuple[F64, F64, F64]:
        """(cost, latency, energy) of every option as it really was, failures replaced
        by the fallback of the module docstring (absent options: inf cost); with
        ``fallback_s`` (n,) every node option later than its row's budget is replaced
        by the fallback timer's cost (module docstring; ``inf``: no budget)."""
        local_t, local_e = self.latency_s[:, :1], self.energy_j[:, :1]
        failed = np.isinf(self.latency_s)
        latency = np.where(failed, 2.0 * local_t, self.latency_s)
        energy = np.where(failed, 2.0 * local_e, self.energy_j)
        if fallback_s is not None:
            latency, energy = self._fall_back(latency, energy, fallback_s)
        cost = weighted_cost(
            latency, energy, self.ctx, weights.latency_weight, weights.deadline_penalty
        )
        cost = np.where(np.isnan(self.latency_s), np.inf, cost)
        return cost, latency, energy

    def fired(self, fallback_s: F64) -> NDArray[np.bool_]:
        """(n, 1 + k) bool: the node options whose fallback timer would fire (later
        than the row's budget, or failed; never the local column or an absent one)."""
        budget = np.asarray(fallback_s, dtype=np.float64)[:, None]
        with np.errstate(invalid="ignore"):
            late = self.latency_s > budget  # NaN (absent) compares False
        late[:, 0] = False
        return np.asarray(late & np.isfinite(budget))

    def _fall_back(self, latency: F64, energy: F64, fallback_s: F64) -> tuple[F64, F64]:
        """Latency and energy with the fallback timer applied (module docstring)."""
        fired = self.fired(fallback_s)
        if not fired.any():
            return latency, energy
        budget = np.asarray(fallback_s, dtype=np.float64)[:, None]
        transmit, idle = self.ctx.device[:, 4:5], self.ctx.device[:, 6:7]
        if self.upload_s is None:
            spent = transmit * budget
        else:
            start, end = self.upload_s[:, :1], self.upload_s[:, 1:]
            sending = np.clip(budget - start, 0.0, np.maximum(end - start, 0.0))
            waiting = np.maximum(budget - np.maximum(end, start), 0.0)
            spent = np.where(
                np.isnan(start), transmit * budget, transmit * sending + idle * waiting
            )
        with np.errstate(invalid="ignore"):
            latency = np.where(fired, budget + self.latency_s[:, :1], latency)
            energy = np.where(fired, spent + self.energy_j[:, :1], energy)
        return latency, energy

    def oracle(self, weights: CostWeights) -> I64:
        """The hindsight-best column per row (0: local, 1 + i: node column i; the first
        of tied ones)."""
        cost, _, _ = self.realised(weights)
        return np.asarray(np.argmin(cost, axis=1), dtype=np.int64)

    def optimal(self, weights: CostWeights) -> F64:
        """(n, 1 + k) bool: the options the oracle could choose (lowest realised cost,
        within 1e-9 relative)."""
        cost, _, _ = self.realised(weights)
        best = np.min(cost, axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            return np.asarray(cost <= best * (1.0 + 1e-9) + 1e-12)


def score(
    labelled: Labelled, choice: I64, weights: CostWeights, fallback_s: F64 | None = None
) -> dict[str, float]:
    """Metrics (module docstring) of choices given as columns (0: local, 1 + i: node i),
    with the fallback timer's budgets ``fallback_s`` (n,) if the policy gave them."""
    cost, latency, energy = labelled.realised(weights, fallback_s)
    rows = np.arange(len(labelled))
    plain = cost if fallback_s is None else labelled.realised(weights)[0]
    best = np.asarray(np.argmin(plain, axis=1), dtype=np.int64)  # labelled.oracle(weights)
    c_best = plain[rows, best]  # the oracle's own cost: the budgets are the policy's
    c_choice = cost[rows, choice]
    absent = np.flatnonzero(np.isnan(labelled.latency_s[rows, choice]))
    if absent.size:
        i = int(absent[0])
        raise ValueError(
            f"row {i} chose column {int(choice[i])}, an option that does not exist there "
            f"({absent.size} such rows)"
        )
    fired = (
        labelled.fired(fallback_s)[rows, choice]
        if fallback_s is not None
        else np.zeros(len(labelled), dtype=bool)
    )
    # A failure counts as a miss unless a fallback caught it (then its latency says).
    failed = np.isinf(labelled.latency_s[rows, choice]) & ~fired
    late = (latency[rows, choice] > labelled.ctx.tasks[:, 5]) | failed
    total_best = float(c_best.sum())  # finite: the device is always an option
    excess = c_choice - c_best
    unavoidable = labelled.unforeseen_mask()[rows, choice]
    agree = labelled.optimal(weights)[rows, choice]

    def share(part: float) -> float:
        return part / total_best if total_best > 0 else float("nan")

    keep = np.argsort(excess, kind="stable")[: len(excess) - len(excess) // 100]
    trimmed_best = float(c_best[keep].sum())
    p50, p95, p99 = np.quantile(excess, [0.5, 0.95, 0.99]) if len(excess) else [np.nan] * 3
    return {
        "agreement": float(agree.mean()),
        "mean_cost": float(c_choice.mean()),
        "regret": share(float(excess.sum())),
        "avoidable_regret": share(float(excess[~unavoidable].sum())),
        "unavoidable_regret": share(float(excess[unavoidable].sum())),
        "excess_p50": float(p50),
        "excess_p95": float(p95),
        "excess_p99": float(p99),
        "trimmed_regret": float(excess[keep].sum()) / trimmed_best
        if trimmed_best > 0
        else float("nan"),
        "deadline_miss": float(late.mean()),
        "energy_j": float(energy[rows, choice].mean()),
        "offload_share": float((choice > 0).mean()),
        "fallback_share": float(fired.mean()) if len(fired) else 0.0,
        "n": len(labelled),
    }


def columns_of(decisions: Decisions) -> I64:
    """Decisions' targets as columns (0: local, 1 + i: node i)."""
    return np.asarray(
        np.where(decisions.target == LOCAL_INDEX, 0, decisions.target + 1), dtype=np.int64
    )


def evaluate_policy(
    labelled: Labelled,
    decide: Callable[[Context], Decisions],
    weights: CostWeights,
    chunk: int = 20000,
) -> dict[str, float]:
    """Score an offline policy (its ``decide_context``) on every row, with the
    fallback budgets it gives (:attr:`~.features.Decisions.fallback_s`), if any."""
    choices: list[I64] = []
    budgets: list[F64] = []
    for s in range(0, len(labelled), chunk):
        decisions = decide(labelled.ctx.rows(slice(s, s + chunk)))
        choices.append(columns_of(decisions))
        n = len(decisions)
        given = decisions.fallback_s
        budgets.append(np.full(n, np.inf) if given is None else np.asarray(given, np.float64))
    any_budget = any(np.isfinite(b).any() for b in budgets)
    fallback = np.concatenate(budgets) if any_budget else None
    return score(labelled, np.concatenate(choices), weights, fallback)


def evaluate_online(
    labelled: Labelled, policy: Any, weights: CostWeights, step_s: float = 1.0
) -> dict[str, float]:
    """Score an online policy (``decide_keys`` / ``observe_keys``, e.g.
    :class:`~.online.OnlineCostModel`) replaying the rows in time order: it decides the
    rows of each ``step_s`` window, then observes their realised outcomes (the outcome of
    a task is known only once it finished; a window's outcomes arrive together)."""
    order = np.argsort(labelled.created_s, kind="stable")
    data = labelled.rows(order)
    # Each device learns its own CPU's correction; nodes are shared (all devices see
    # the same node slow down), as one policy object serves every simulated device.
    names = [
        [f"local:{dev}", *(str(int(j)) for j in row if j >= 0)]
        for dev, row in zip(data.device_id.tolist(), data.node_index.tolist(), strict=True)
    ]
    keys = policy.key_matrix(names)
    _, real_t, real_e = data.realised(weights)
    choice = np.zeros(len(data), dtype=np.int64)
    window = np.floor((data.created_s - data.created_s[0]) / step_s).astype(np.int64)
    bounds = np.flatnonzero(np.diff(window)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(data)], strict=True):
        part = data.rows(slice(int(lo), int(hi)))
        k_part = keys[lo:hi, : 1 + part.ctx.k]
        decisions = policy.decide_keys(part.ctx, k_part)
        cols = columns_of(decisions)
        choice[lo:hi] = cols
        rows = np.arange(hi - lo)
        policy.observe_keys(
            k_part[rows, cols],
            decisions.expected_latency_s,
            decisions.expected_energy_j,
            real_t[lo:hi][rows, cols],
            real_e[lo:hi][rows, cols],
        )
    return score(data, choice, weights)


Scores = Mapping[str, Mapping[str, Mapping[str, float]]]  # policy -> set -> metric


def over_seeds(per_seed: Sequence[Scores]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fold the scores of several seeds (each ``{policy: {set: metrics}}``, the same
    policies and sets) into ``(policies, paired)``:

    - ``policies[p][set]``: each metric's mean over the seeds, ``ci95`` (metric ->
      [low, high], Student's t over the per-seed values), ``seeds`` and ``n`` (tasks in
      all);
    - ``paired["a_vs_b"][set]``: ``mean_diff``, the mean over seeds of a's mean cost
      minus b's on the same tasks, and its ``ci95``. Pairing removes what the seeds
      share (a harder world costs every policy more), so a difference can be clear
      while each policy's own interval is wide.
    """
    first = per_seed[0]
    policies: dict[str, Any] = {}
    for policy, sets in first.items():
        for name, metrics in sets.items():
            runs = [seed[policy][name] for seed in per_seed]
            row: dict[str, Any] = {"seeds": len(runs), "n": int(sum(r.get("n", 0) for r in runs))}
            ci: dict[str, list[float]] = {}
            for metric in metrics:
                if metric == "n":
                    continue
                interval = mean_ci95(r[metric] for r in runs)
                row[metric] = interval.mean
                ci[metric] = [interval.low, interval.high]
            row["ci95"] = ci
            policies.setdefault(policy, {})[name] = row
    paired: dict[str, Any] = {}
    for a, b in itertools.combinations(first, 2):
        for name in first[a]:
            if name not in first[b]:
                continue
            diff = mean_ci95(
                seed[a][name]["mean_cost"] - seed[b][name]["mean_cost"] for seed in per_seed
            )
            paired.setdefault(f"{a}_vs_{b}", {})[name] = {
                "mean_diff": diff.mean,
                "ci95": [diff.low, diff.high],
            }
    return policies, paired
