"""Offloading policies behind one vectorised interface, shared by client and simulator.

``policy.decide(tasks, device, nodes) -> Decisions`` decides for a whole batch; an
online policy also learns from ``policy.observe(...)``. The analytic cost model:

- local:    T = C / (f_l (1 - load)),          E = kappa f_l^2 C
- offload:  T = RTT + D_in/r_up + queue wait + C / f_node + D_out/r_down,
            E = P_tx D_in/r_up + P_idle (RTT + queue wait + C/f_node) + P_rx D_out/r_down

and the cost is a weighted sum of latency and energy whose energy weight grows as the
battery drains; a choice that misses the deadline costs extra (deadline-aware).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .features import F64, LOCAL, Decisions, DeviceState, NodeStates, TaskBatch


class Policy(Protocol):
    """What every decision maker offers."""

    name: str

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions: ...


def local_cost(tasks: TaskBatch, device: DeviceState) -> tuple[F64, F64]:
    """(latency s, device energy J) of running each task on the device."""
    speed = device.cpu_hz * max(1e-3, 1.0 - device.load)
    latency = tasks.cpu_cycles / speed
    energy = device.power.kappa * device.cpu_hz**2 * tasks.cpu_cycles
    return latency, energy


def offload_cost(tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> tuple[F64, F64]:
    """(latency, energy) of each task on each node: two (n, k) matrices."""
    p = device.power
    up = tasks.input_bytes[:, None] * 8.0 / nodes.up_bps[None, :]
    down = tasks.output_bytes[:, None] * 8.0 / nodes.down_bps[None, :]
    compute = tasks.cpu_cycles[:, None] / nodes.speed_hz[None, :]
    wait = nodes.rtt_s[None, :] + nodes.queue_s[None, :] + compute
    latency = up + wait + down
    energy = p.transmit_w * up + p.idle_w * wait + p.receive_w * down
    return latency, energy


@dataclass
class AlwaysLocal:
    name: str = "always_local"

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions:
        latency, energy = local_cost(tasks, device)
        n = len(tasks)
        return Decisions(np.full(n, LOCAL), np.ones(n), latency, energy)


@dataclass
class AlwaysEdge:
    """Every task to the node with the lowest expected latency (local if there is none)."""

    name: str = "always_edge"

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions:
        if len(nodes) == 0:
            return AlwaysLocal().decide(tasks, device, nodes)
        latency, energy = offload_cost(tasks, device, nodes)
        best = np.argmin(latency, axis=1)
        rows = np.arange(len(tasks))
        return Decisions(
            best.astype(np.int64), np.ones(len(tasks)), latency[rows, best], energy[rows, best]
        )


@dataclass
class CostModel:
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

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeStates) -> Decisions:
        w_t = self.latency_weight
        w_e = (1.0 - w_t) / max(0.05, device.battery)
        t_loc, e_loc = local_cost(tasks, device)
        n = len(tasks)
        if len(nodes):
            t_off, e_off = offload_cost(tasks, device, nodes)
            t_all = np.column_stack([t_loc, t_off])
            e_all = np.column_stack([e_loc, e_off])
        else:
            t_all, e_all = t_loc[:, None], e_loc[:, None]
        late = np.maximum(0.0, t_all - tasks.deadline_s[:, None])
        cost = w_t * t_all + w_e * e_all + self.deadline_penalty * late
        choice = np.argmin(cost, axis=1)
        rows = np.arange(n)
        best = cost[rows, choice]
        # Confidence: how much better the choice is than the runner-up (0: a tie).
        if cost.shape[1] > 1:
            second = np.partition(cost, 1, axis=1)[:, 1]
            confidence = np.clip((second - best) / np.maximum(second, 1e-12), 0.0, 1.0)
        else:
            confidence = np.ones(n)
        return Decisions(
            (choice - 1).astype(np.int64), confidence, t_all[rows, choice], e_all[rows, choice]
        )
