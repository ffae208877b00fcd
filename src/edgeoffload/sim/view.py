"""A device's view of the nodes: the decision engine's NodeFeatures, as of one instant.

Nodes report their state (expected queue wait, busy share, up or not) in heartbeats;
the simulator takes one snapshot of every node per refresh phase and builds each
device's :class:`~edgeoffload.decision.features.NodeFeatures` from it plus the device's
own link estimates. Devices that can use the same nodes share the node-side arrays
(one set per distinct candidate list), so a device costs a few small numpy calls.

The link columns describe the path the task's input would take:

- to an edge node: the device's estimated uplink / downlink and RTT;
- to the cloud: the wireless hop then the WAN (store-and-forward, so the rates add as
  resistances: ``1 / (1/wireless + 1/wan)``) and both RTTs;
- for a DAG stage whose input already sits on node ``m`` (``data_at=m``): no transfer
  to ``m`` (infinite rate), the backhaul to the other nodes.
"""

from __future__ import annotations

import numpy as np

from ..decision.features import F64, I64, NODE_FEATURES, NodeFeatures
from .nodes import SimNode

_INF = float("inf")


class _Set:
    """Node-side arrays for one candidate list (down nodes and ``exclude`` removed)."""

    __slots__ = (
        "cloudless",
        "cores",
        "ids",
        "index",
        "inv_wan",
        "load",
        "queue",
        "rtt_extra",
        "speed",
    )

    def __init__(self, view: View, candidates: tuple[int, ...], exclude: int) -> None:
        index = [c for c in candidates if view.up[c] and c != exclude]
        self.index = index
        self.ids = tuple(view.names[c] for c in index)
        self.speed = view.speed[index]
        self.cores = view.cores[index]
        self.queue = view.queue[index]
        self.load = view.load[index]
        self.inv_wan = view.inv_wan[index]
        self.rtt_extra = view.rtt_extra[index]
        self.cloudless = not np.any(self.inv_wan)


class View:
    """Every node's state at ``time`` (see the module docstring)."""

    def __init__(
        self, nodes: list[SimNode], time: float, backhaul_bps: float, backhaul_rtt_s: float
    ) -> None:
        self.time = time
        self.names = [n.name for n in nodes]
        self.up = [n.up for n in nodes]
        self.speed = np.array([n.speed_hz for n in nodes], dtype=np.float64)
        self.cores = np.array([float(n.cores) for n in nodes], dtype=np.float64)
        self.queue = np.array([n.queue_s(time) for n in nodes], dtype=np.float64)
        self.load = np.array([n.load(time) for n in nodes], dtype=np.float64)
        self.inv_wan = np.array([1.0 / n.wan_bps for n in nodes], dtype=np.float64)
        self.rtt_extra = np.array([n.wan_rtt_s for n in nodes], dtype=np.float64)
        self.backhaul_bps = backhaul_bps
        self.backhaul_rtt_s = backhaul_rtt_s
        self._sets: dict[tuple[tuple[int, ...], int], _Set] = {}
        self._padded: tuple[F64, F64, F64] | None = None

    def mark_down(self, node: int) -> None:
        """The node went down after the snapshot (its connections closed)."""
        self.up[node] = False
        self._sets.clear()
        self._padded = None

    def context_nodes(self, candidates: I64, up_bps: F64, down_bps: F64, rtt_s: F64) -> F64:
        """NodeFeatures rows for many devices at once: (devices, k, features) in the
        decision engine's NODE_FEATURES order, NaN where a device has no node (padding, -1) or
        the node is down. ``up_bps``, ``down_bps``, ``rtt_s``: per device."""
        if self._padded is None:
            n = len(self.names)
            side = np.full((n + 1, 4), np.nan)
            side[:n] = np.column_stack([self.speed, self.cores, self.queue, self.load])
            side[:n][~np.asarray(self.up, dtype=bool)] = np.nan
            inv_wan = np.append(self.inv_wan, np.nan)
            rtt_extra = np.append(self.rtt_extra, np.nan)
            self._padded = (side, inv_wan, rtt_extra)
        side, inv_wan, rtt_extra = self._padded
        index = np.where(candidates < 0, len(self.names), candidates)
        wan = inv_wan[index]
        node_side = side[index]
        columns = {
            "speed_hz": node_side[:, :, 0],
            "cores": node_side[:, :, 1],
            "queue_s": node_side[:, :, 2],
            "load": node_side[:, :, 3],
            "up_bps": 1.0 / (1.0 / up_bps[:, None] + wan),
            "down_bps": 1.0 / (1.0 / down_bps[:, None] + wan),
            "rtt_s": rtt_s[:, None] + rtt_extra[index],
        }
        out = np.stack([columns[name] for name in NODE_FEATURES], axis=2)
        out[np.isnan(node_side[:, :, 0])] = np.nan
        return out

    def node_states(
        self,
        candidates: tuple[int, ...],
        up_bps: float,
        down_bps: float,
        rtt_s: float,
        exclude: int = -1,
        data_at: int = -1,
    ) -> tuple[list[int], NodeFeatures]:
        """The NodeFeatures a device with these estimates sees, and the node index of each
        column (a decision's target ``i`` means node ``index[i]``)."""
        key = (candidates, exclude)
        s = self._sets.get(key)
        if s is None:
            s = self._sets[key] = _Set(self, candidates, exclude)
        k = len(s.index)
        if data_at >= 0:
            up, down, rtt = self._from_node(s, data_at, up_bps, down_bps, rtt_s)
        elif s.cloudless:
            up = np.full(k, up_bps)
            down = np.full(k, down_bps)
            rtt = np.full(k, rtt_s)
        else:
            up = 1.0 / (1.0 / up_bps + s.inv_wan)
            down = 1.0 / (1.0 / down_bps + s.inv_wan)
            rtt = rtt_s + s.rtt_extra
        return s.index, NodeFeatures(s.ids, s.speed, s.cores, s.queue, s.load, up, down, rtt)

    def _from_node(
        self, s: _Set, data_at: int, up_bps: float, down_bps: float, rtt_s: float
    ) -> tuple[F64, F64, F64]:
        up = 1.0 / (1.0 / self.backhaul_bps + s.inv_wan)
        rtt = rtt_s + self.backhaul_rtt_s + s.rtt_extra
        here = np.array([c == data_at for c in s.index])
        up[here] = _INF
        rtt[here] = rtt_s
        down = 1.0 / (1.0 / down_bps + s.inv_wan)
        return up, down, rtt
