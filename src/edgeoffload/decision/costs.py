"""The analytic cost model every policy shares: what each option (the device, each
candidate node) is expected to cost a task, and the weighted cost a decision minimises.

- local:    T = Q_l + C / (f_l (1 - load)),    E = kappa f_l^2 C
- offload:  T = Q_up + D_in/r_up + RTT + queue wait + C / f_node + D_out/r_down,
            E = P_tx D_in/r_up + P_idle (RTT + queue wait + C/f_node) + P_rx D_out/r_down

(``Q_l``, ``Q_up``: the device's own CPU and uplink backlog ahead of the task, 0 when
the caller does not know them; the device idles, not transmits, while it waits.)

The cost is a weighted sum of latency and energy whose energy weight grows as the
battery drains; a choice that misses the deadline costs extra (deadline-aware). The
learned policies' features, the online policy's corrections and the hindsight oracle's
labels are all computed from these figures, which is why they live below every policy:
each one imports them, none imports another policy to get them.

Each figure exists in two forms that tests check against each other: numpy over a
batch (:func:`option_costs`, :func:`cost_of`) and plain floats for one task
(:func:`option_costs_one`, :func:`cost_one`), the fast path of a single decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .features import F64, Columns, Context, DeviceState, NodeFeatures, TaskBatch


@dataclass(frozen=True, slots=True)
class CostWeights:
    """The cost every decision minimises (the oracle's labels use the same)."""

    latency_weight: float = 0.5
    deadline_penalty: float = 10.0


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
    tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures
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
    latency = [device.local_queue_s + device.run_s(c)]
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
        # A rate of 0 (a link in outage, a node without speed) is an unreachable
        # option, inf as numpy's division gives it, not a ZeroDivisionError.
        up = d_in / up_bps if up_bps else math.inf
        down = d_out / down_bps if down_bps else math.inf
        wait = rtt + queue + (c / speed if speed else math.inf)
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
