"""An online policy: the cost model corrected by what it observes, option by option.

For each option it has used (the device, each node by id) it keeps the log ratio of the
realised latency and energy to what it expected, smoothed exponentially
(``correction += alpha * (log(realised / expected) - correction)``); it decides with the
cost model's estimates times ``exp(correction)``. A node that slows down (a noisy
neighbour, a DVFS cap, a network worse than the estimate says) shows up as a growing
latency ratio within a few tasks, and traffic moves away; an ``epsilon`` share of
exploratory choices keeps probing the other options so that recoveries are noticed.

This is a contextual bandit with one arm per option and the cost model as the context
model (a multiplicative residual per arm). ``observe`` takes the realised outcomes of
earlier decisions (each after its task finished).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .base import ContextPolicy, decisions, margin_confidence
from .costs import option_costs, weighted_cost
from .features import (
    F64,
    I64,
    LOCAL_INDEX,
    Context,
    Decisions,
    DeviceState,
    NodeFeatures,
    TaskBatch,
)

#: The key of the device's own CPU (nodes use their ids).
LOCAL_KEY = "local"


@dataclass
class OnlineCostModel(ContextPolicy):
    """See the module docstring.

    Args:
        latency_weight, deadline_penalty: the cost model's weights.
        alpha: smoothing of the correction per observed task.
        epsilon: share of tasks sent to a random other option (exploration).
        seed: of the exploration draws.
    """

    latency_weight: float = 0.5
    deadline_penalty: float = 10.0
    alpha: float = 0.2
    epsilon: float = 0.02
    seed: int = 0
    name: str = "online"
    _keys: dict[str, int] = field(default_factory=dict, repr=False)
    _lat: list[float] = field(default_factory=list, repr=False)
    _energy: list[float] = field(default_factory=list, repr=False)
    _count: list[int] = field(default_factory=list, repr=False)
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def _key(self, name: str) -> int:
        index = self._keys.get(name)
        if index is None:
            index = self._keys[name] = len(self._lat)
            self._lat.append(0.0)
            self._energy.append(0.0)
            self._count.append(0)
        return index

    def key_matrix(self, names: Sequence[Sequence[str]]) -> I64:
        """Keys of every option of every row: ``names[i]`` = the option names of row i
        (``LOCAL_KEY`` first); ragged rows are padded with the local key."""
        width = max((len(r) for r in names), default=1)
        out = np.zeros((len(names), width), dtype=np.int64)
        for i, row in enumerate(names):
            keys = [self._key(str(x)) for x in row]
            out[i, : len(keys)] = keys
            out[i, len(keys) :] = keys[0] if keys else self._key(LOCAL_KEY)
        return out

    def corrections(self, keys: I64) -> tuple[F64, F64]:
        """(latency, energy) multipliers for option keys of any shape."""
        lat = np.asarray(self._lat)[keys]
        energy = np.asarray(self._energy)[keys]
        return np.exp(lat), np.exp(energy)

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        keys = np.array([[self._key(LOCAL_KEY), *(self._key(i) for i in nodes.ids)]])
        ctx = Context.of(tasks, device, nodes)
        return self.decide_keys(ctx, np.broadcast_to(keys, (len(tasks), keys.shape[1])))

    def decide_context(self, ctx: Context) -> Decisions:
        keys = np.array([[self._key(LOCAL_KEY), *(self._key(f"#{i}") for i in range(ctx.k))]])
        return self.decide_keys(ctx, np.broadcast_to(keys, (len(ctx), 1 + ctx.k)))

    def decide_keys(self, ctx: Context, keys: I64) -> Decisions:
        """Decide with option keys (n, 1 + k) from :meth:`key_matrix`."""
        latency, energy, _ = option_costs(ctx)
        f_lat, f_energy = self.corrections(keys)
        latency = latency * f_lat
        energy = energy * f_energy
        cost = weighted_cost(latency, energy, ctx, self.latency_weight, self.deadline_penalty)
        choice = np.argmin(cost, axis=1)
        confidence = margin_confidence(cost, choice)
        if self.epsilon > 0 and cost.shape[1] > 1:
            explore = self._rng.random(len(ctx)) < self.epsilon
            if explore.any():
                available = np.isfinite(cost[explore])
                pick = np.argmax(
                    np.where(available, self._rng.random(available.shape), -1.0), axis=1
                )
                choice[explore] = pick
                confidence[explore] = 0.0
        return decisions(choice, confidence, latency, energy)

    def observe(
        self,
        tasks: TaskBatch,
        device: DeviceState,
        nodes: NodeFeatures,
        decisions: Decisions,
        latency_s: F64,
        energy_j: F64,
    ) -> None:
        """Learn from realised outcomes of tasks decided with ``decisions`` (rows with a
        NaN latency, e.g. failed tasks, are skipped)."""
        names = [LOCAL_KEY, *nodes.ids]
        keys = np.array(
            [self._key(names[0 if t == LOCAL_INDEX else t + 1]) for t in decisions.target]
        )
        self.observe_keys(
            keys, decisions.expected_latency_s, decisions.expected_energy_j, latency_s, energy_j
        )

    def observe_keys(
        self, keys: I64, expected_s: F64, expected_j: F64, latency_s: F64, energy_j: F64
    ) -> None:
        """Array form of :meth:`observe`: per task, the chosen option's key, what was
        expected of it (as decided) and what happened."""
        ok = np.isfinite(latency_s) & (latency_s > 0) & (expected_s > 0) & np.isfinite(expected_s)
        if not ok.any():
            return
        keys = keys[ok]
        r_lat = np.log(latency_s[ok] / expected_s[ok])
        good_e = np.isfinite(energy_j[ok]) & (energy_j[ok] > 0) & (expected_j[ok] > 0)
        r_e = np.where(
            good_e,
            np.log(np.where(good_e, energy_j[ok], 1.0) / np.where(good_e, expected_j[ok], 1.0)),
            0.0,
        )
        unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        mean_lat = np.bincount(inverse, weights=r_lat) / counts
        mean_e = np.bincount(inverse, weights=r_e) / counts
        # The residuals are relative to the corrected estimate: move the correction by
        # them, as ``counts`` sequential EWMA steps would.
        step = 1.0 - (1.0 - self.alpha) ** counts
        for key, m_lat, m_e, s, c in zip(
            unique.tolist(), mean_lat, mean_e, step, counts, strict=True
        ):
            self._lat[key] += float(s * m_lat)
            self._energy[key] += float(s * m_e)
            self._count[key] += int(c)

    def state(self) -> dict[str, tuple[float, float, int]]:
        """Per option name: (latency multiplier, energy multiplier, observations)."""
        return {
            name: (float(np.exp(self._lat[i])), float(np.exp(self._energy[i])), self._count[i])
            for name, i in self._keys.items()
        }
