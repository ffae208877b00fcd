"""Offloading policies behind one vectorised interface, shared by client and simulator.

``policy.decide(tasks, device, nodes) -> Decisions`` decides for a whole batch; an
online policy also learns from ``policy.observe(...)``. Every policy here computes on a
:class:`~edgeoffload.decision.features.Context` (``decide_context``), the array form of
the same call, which training records also have, so offline evaluation runs the very
code the client runs. The analytic cost model:

- local:    T = Q_l + C / (f_l (1 - load)),    E = kappa f_l^2 C
- offload:  T = Q_up + D_in/r_up + RTT + queue wait + C / f_node + D_out/r_down,
            E = P_tx D_in/r_up + P_idle (RTT + queue wait + C/f_node) + P_rx D_out/r_down

(``Q_l``, ``Q_up``: the device's own CPU and uplink backlog ahead of the task, 0 when
the caller does not know them; the device idles, not transmits, while it waits.)

and the cost is a weighted sum of latency and energy whose energy weight grows as the
battery drains; a choice that misses the deadline costs extra (deadline-aware).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .features import (
    F64,
    I64,
    LOCAL,
    Columns,
    Context,
    Decisions,
    DeviceState,
    NodeStates,
    TaskBatch,
)


class Policy(Protocol):
    """What every decision maker offers."""

    name: str

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions: ...


# -- the cost model's parts ------------------------------------------------------------------


def option_costs(ctx: Context) -> tuple[F64, F64, F64]:
    """(latency s, device energy J, transfer s) of every option: (n, 1 + k) each; column
    0 is the device, column ``1 + i`` node ``i``. Absent (NaN) candidates cost inf."""
    return costs_of(Columns.from_context(ctx))


def costs_of(cols: Columns) -> tuple[F64, F64, F64]:
    """:func:`option_costs` of a batch's :class:`~.features.Columns` (the same
    operations in the same order whatever their shapes, so the same figures)."""
    t, d, nd = cols.tasks, cols.device, cols.nodes
    cycles = t[0]
    cpu_hz = d[0]
    t_local = d[7] + cycles / (cpu_hz * np.maximum(1e-3, 1.0 - d[1]))
    e_local = d[3] * cpu_hz * cpu_hz * cycles
    if cols.k == 0:
        return t_local, e_local, np.zeros((cols.n, 1))
    up = t[3] * 8.0 / nd[4]
    down = t[4] * 8.0 / nd[5]
    wait = nd[6] + nd[2] + cycles / nd[0]
    t_off = d[8] + up + wait + down
    e_off = d[4] * up + d[6] * wait + d[5] * down
    t_off[np.isnan(t_off)] = np.inf
    e_off[np.isnan(e_off)] = np.inf
    latency = np.concatenate([np.broadcast_to(t_local, (cols.n, 1)), t_off], axis=1)
    energy = np.concatenate([np.broadcast_to(e_local, (cols.n, 1)), e_off], axis=1)
    transfer = np.concatenate([np.zeros((cols.n, 1)), up + down], axis=1)
    return latency, energy, transfer


def option_costs_one(
    tasks: TaskBatch, device: DeviceState, nodes: NodeStates
) -> tuple[list[float], list[float], list[float]]:
    """:func:`option_costs` of a single task in plain Python floats.

    NOTE: the fast path of one decision: numpy costs about 1 µs per call on arrays this
    small, and the vectorised form makes ~30 calls; the tests check both agree.
    """
    c = tasks.cpu_cycles.item()
    d_in = tasks.input_bytes.item() * 8.0
    d_out = tasks.output_bytes.item() * 8.0
    p = device.power
    f = device.cpu_hz
    free = 1.0 - device.load
    latency = [device.local_queue_s + c / (f * (free if free > 1e-3 else 1e-3))]
    energy = [p.kappa * f * f * c]
    transfer = [0.0]
    q_up, tx, idle, rx = device.uplink_queue_s, p.transmit_w, p.idle_w, p.receive_w
    for speed, queue, up_bps, down_bps, rtt in zip(
        nodes.speed_hz.tolist(),
        nodes.queue_s.tolist(),
        nodes.up_bps.tolist(),
        nodes.down_bps.tolist(),
        nodes.rtt_s.tolist(),
        strict=True,
    ):
        up = d_in / up_bps
        down = d_out / down_bps
        wait = rtt + queue + c / speed
        t = q_up + up + wait + down
        e = tx * up + idle * wait + rx * down
        ok = t == t and e == e  # NaN: an absent candidate
        latency.append(t if ok else math.inf)
        energy.append(e if ok else math.inf)
        transfer.append(up + down)
    return latency, energy, transfer


def cost_one(
    latency: list[float],
    energy: list[float],
    deadline_s: float,
    battery: float,
    latency_weight: float,
    deadline_penalty: float,
) -> list[float]:
    """:func:`weighted_cost` of one task's options (plain floats)."""
    w_e = (1.0 - latency_weight) / (battery if battery > 0.05 else 0.05)
    return [
        latency_weight * t
        + w_e * e
        + deadline_penalty * (t - deadline_s if t > deadline_s else 0.0)
        if t != math.inf
        else math.inf
        for t, e in zip(latency, energy, strict=True)
    ]


def energy_weight(battery: F64 | float, latency_weight: float) -> F64:
    """The weight of energy (per J) against latency (per s): ``1 - latency_weight`` at
    full battery, growing as ``1 / battery`` as it drains (capped at 20x)."""
    return np.asarray((1.0 - latency_weight) / np.maximum(0.05, battery), dtype=np.float64)


def weighted_cost(
    latency: F64, energy: F64, ctx: Context, latency_weight: float, deadline_penalty: float
) -> F64:
    """``w_t T + w_e E + penalty * max(0, T - deadline)`` of every option (n, 1 + k)."""
    return cost_of(
        latency,
        energy,
        ctx.device[:, 2, None],
        ctx.tasks[:, 5, None],
        latency_weight,
        deadline_penalty,
    )


def cost_of(
    latency: F64,
    energy: F64,
    battery: F64 | float,
    deadline_s: F64,
    latency_weight: float,
    deadline_penalty: float,
) -> F64:
    """:func:`weighted_cost` with the battery (a float or (n, 1)) and the deadlines
    (n, 1) given."""
    w_e = energy_weight(battery, latency_weight)
    with np.errstate(invalid="ignore"):  # inf - inf for an absent option with no deadline
        late = np.maximum(0.0, latency - deadline_s)
        cost = latency_weight * latency + w_e * energy + deadline_penalty * late
    cost[np.isnan(cost)] = np.inf
    return cost


def _decisions(choice: I64, confidence: F64, latency: F64, energy: F64) -> Decisions:
    rows = np.arange(len(choice))
    return Decisions(
        (choice - 1).astype(np.int64), confidence, latency[rows, choice], energy[rows, choice]
    )


def margin_confidence(cost: F64, choice: I64) -> F64:
    """How much better the choice is than the runner-up, relatively (0: a tie)."""
    if cost.shape[1] < 2:
        return np.ones(cost.shape[0])
    best = cost[np.arange(len(choice)), choice]
    second = np.partition(cost, 1, axis=1)[:, 1]
    with np.errstate(invalid="ignore"):
        conf = (second - best) / np.maximum(second, 1e-12)
    return np.asarray(np.clip(np.nan_to_num(conf, nan=1.0), 0.0, 1.0), dtype=np.float64)


class ContextPolicy:
    """Base of the policies here: ``decide`` builds the Context and calls
    :meth:`decide_context`."""

    name: str = "policy"

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions:
        return self.decide_context(Context.of(tasks, device, nodes))

    def decide_context(self, ctx: Context) -> Decisions:
        raise NotImplementedError


# -- the policies ----------------------------------------------------------------------------


@dataclass
class AlwaysLocal(ContextPolicy):
    name: str = "always_local"

    def decide_context(self, ctx: Context) -> Decisions:
        latency, energy, _ = option_costs(ctx)
        n = len(ctx)
        return Decisions(np.full(n, LOCAL), np.ones(n), latency[:, 0], energy[:, 0])


@dataclass
class AlwaysEdge(ContextPolicy):
    """Every task to the node with the lowest expected latency (local if there is none)."""

    name: str = "always_edge"

    def decide_context(self, ctx: Context) -> Decisions:
        latency, energy, _ = option_costs(ctx)
        if ctx.k == 0:
            return AlwaysLocal().decide_context(ctx)
        choice = 1 + np.argmin(latency[:, 1:], axis=1)
        return _decisions(choice, np.ones(len(ctx)), latency, energy)


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

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions:
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
        return _decisions(choice, margin_confidence(cost, choice), latency, energy)


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
        return _decisions(choice, share, latency, energy)


def _default_factory(kind: str) -> Any:
    def make() -> Any:
        from .learned import default_policy

        return default_policy(kind)

    return make


#: Policy name -> factory, for scenario files, the simulator and the command line.
POLICIES: dict[str, Any] = {
    "always_local": AlwaysLocal,
    "always_edge": AlwaysEdge,
    "cost_model": CostModel,
    "random": RandomPolicy,
    "learned": _default_factory("learned"),
    "threshold": _default_factory("threshold"),
    "online": _default_factory("online"),
}
