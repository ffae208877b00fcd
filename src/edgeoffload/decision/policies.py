"""Offloading policies behind one vectorised interface, shared by client and simulator.

``policy.decide(tasks, device, nodes) -> Decisions`` decides for a whole batch; an
online policy also learns from ``policy.observe(...)``. Every policy here computes on a
:class:`~edgeoffload.decision.features.Context` (``decide_context``), the array form of
the same call, which training records also have, so offline evaluation runs the very
code the client runs.

The policies here need nothing but the analytic cost model (:mod:`.costs`, whose
docstring gives its formulas): :class:`AlwaysLocal`, :class:`AlwaysEdge`,
:class:`CostModel` (the lowest weighted cost) and :class:`RandomPolicy`. Names resolve
to them, to the learned ones and to model folders in :mod:`.registry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .base import ContextPolicy, decisions, margin_confidence
from .base import Policy as Policy  # re-exported: the simulator types its policy with it
from .costs import cost_one, option_costs, option_costs_one, weighted_cost
from .features import F64, LOCAL_INDEX, Context, Decisions, DeviceState, NodeFeatures, TaskBatch


@dataclass
class AlwaysLocal(ContextPolicy):
    name: str = "always_local"

    def decide_context(self, ctx: Context) -> Decisions:
        latency, energy, _ = option_costs(ctx)
        n = len(ctx)
        return Decisions(np.full(n, LOCAL_INDEX), np.ones(n), latency[:, 0], energy[:, 0])


@dataclass
class AlwaysEdge(ContextPolicy):
    """Every task to the node with the lowest expected latency (local if there is none)."""

    name: str = "always_edge"

    def decide_context(self, ctx: Context) -> Decisions:
        latency, energy, _ = option_costs(ctx)
        if ctx.k == 0:
            return AlwaysLocal().decide_context(ctx)
        choice = 1 + np.argmin(latency[:, 1:], axis=1)
        return decisions(choice, np.ones(len(ctx)), latency, energy)


@dataclass
class CostModel(ContextPolicy):
    """The analytic cost model (module docstring).

    Args:
        latency_weight: weight of latency (s) against energy (J) at full battery; the
            energy weight rises to ``1 - latency_weight`` scaled by ``1 / battery`` as it
            drains.
        deadline_penalty: extra cost per second beyond the deadline.
    """

    latency_weight: float = 0.5
    deadline_penalty: float = 10.0
    name: str = "cost_model"

    def costs(self, ctx: Context) -> tuple[F64, F64, F64]:
        """(weighted cost, latency, energy) of every option."""
        latency, energy, _ = option_costs(ctx)
        cost = weighted_cost(latency, energy, ctx, self.latency_weight, self.deadline_penalty)
        return cost, latency, energy

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        if len(tasks) != 1:
            return self.decide_context(Context.of(tasks, device, nodes))
        latency, energy, _ = option_costs_one(tasks, device, nodes)
        cost = cost_one(
            latency,
            energy,
            tasks.deadline_s.item(),
            device.battery,
            self.latency_weight,
            self.deadline_penalty,
        )
        lowest = min(cost)
        best = cost.index(lowest)  # the first of equals, as numpy's argmin
        second = min(cost[:best] + cost[best + 1 :], default=math.inf)
        if second == math.inf:
            confidence = 1.0
        else:
            confidence = min(1.0, max(0.0, (second - lowest) / max(second, 1e-12)))
        return Decisions(
            np.array([best - 1]),
            np.array([confidence]),
            np.array([latency[best]]),
            np.array([energy[best]]),
        )

    def decide_context(self, ctx: Context) -> Decisions:
        cost, latency, energy = self.costs(ctx)
        choice = np.argmin(cost, axis=1)
        return decisions(choice, margin_confidence(cost, choice), latency, energy)


@dataclass
class RandomPolicy(ContextPolicy):
    """Each task to a uniformly random option (the device or any candidate node)."""

    seed: int = 0
    name: str = "random"
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def decide_context(self, ctx: Context) -> Decisions:
        latency, energy, _ = option_costs(ctx)
        available = np.isfinite(latency)
        # A random key per option; absent options never win.
        keys = np.where(available, self._rng.random(latency.shape), -1.0)
        choice = np.argmax(keys, axis=1)
        share = 1.0 / available.sum(axis=1)
        return decisions(choice, share, latency, energy)
