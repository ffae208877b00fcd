"""Labelled training data for the decision engine: features, and every option's cost in
hindsight.

:func:`oracle_records` runs a scenario under a policy and returns, for every task's
first decision, the features the policy was given and the latency and device energy
that *each* option (the device, each candidate node) would have had, computed after the
run from the true traces and the true node queues. Label with the hindsight oracle::

    rec = oracle_records("manufacturing", "cost_model", seed=1)
    best = rec.oracle_target(latency_weight=0.5)      # -1: local, i: rec.node_index[:, i]
    X = np.hstack([rec.tasks, rec.device, rec.nodes.reshape(len(rec), -1)])

How each option is costed (the task's creation time is ``t``, its own choice aside,
every other task as it really ran):

- **local**: the device CPU's true backlog at ``t`` (its earlier local work), then the
  device's DVFS rule; energy ``kappa f^2`` per cycle. Equal to the realised cost when
  the policy chose local.
- **node i**: the upload over the device's true uplink, queued behind its earlier
  transfers (measured at commit time); half the RTT (plus the WAN for the cloud); the
  node's true FIFO wait at that arrival, replayed from the tasks that really ran there
  (a FIFO replay also for the priority discipline, an approximation); the node's DVFS
  rule; the download over the true downlink trace (as if the downlink were idle: the
  one part not queued). Energy as the cost model counts it: transmit while uploading,
  idle until the download starts, receive while downloading. ``inf`` when the node is
  down at arrival or crashes before the result is out.

Not included: tasks of DAG apps (stage placement depends on where earlier stages ran)
and resubmissions after a crash or refusal. Batching and caching are not modelled in the
hindsight costs (each option is costed as its own transfer of the full input), so for
labels that match realised costs exactly use a scenario without them.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..decision.features import DEVICE_FEATURES, F64, I64, LOCAL_INDEX, NODE_FEATURES, TASK_FEATURES
from ..decision.policies import Policy
from ..decision.registry import resolve
from .nodes import dvfs
from .options import SimOptions
from .runner import as_scenario
from .scenario import Scenario
from .simulation import Simulation
from .state import Probe
from .table import Outcome

__all__ = ["DEVICE_FEATURES", "NODE_FEATURES", "TASK_FEATURES", "OracleRecords", "oracle_records"]


@dataclass(frozen=True)
class OracleRecords:
    """One row per decision (see the module docstring); ``n`` rows, ``k`` = the most
    candidate nodes any device had. Padding: NaN (features, costs), -1 (indices).

    Attributes:
        task: task id (row of the run's records); device: device id; created_s.
        tasks: (n, 7) the TaskBatch features, in :data:`TASK_FEATURES` order.
        device: (n, len(DEVICE_FEATURES)) the DeviceState, in the decision engine's
            :data:`DEVICE_FEATURES` order (its PowerModel's fields included).
        nodes: (n, k, len(NODE_FEATURES)) the NodeFeatures as the device estimated them
            (its view and its bandwidth estimates), in :data:`NODE_FEATURES` order.
        node_ids: (n, k) names index: ``node_index`` holds each column's node number,
            ``node_names`` maps numbers to names.
        latency_s, energy_j: (n, 1 + k) hindsight cost of each option: column 0 local,
            column ``1 + i`` the node in ``nodes[:, i]``.
        chosen: (n,) what the policy chose: -1 local, else a column ``i`` of ``nodes``.
        outcome_latency_s, outcome_energy_j: (n,) what really happened to the task
            (latency NaN if it was not done).
        unforeseen: (n, 1 + k) bool, True where an option's ``inf`` comes from a node
            failure that began after the decision (its node was up when the task was
            created, then crashed before the result was out): no policy could have seen
            it coming. An ``inf`` of a node already down at the decision is False (the
            device's view may lag, but avoiding a down node is the policy's job).
        upload_s: (n, 2) the start and end of the task's upload over the true uplink
            (the one every node option shares), in seconds from its creation: what a
            local fallback timer abandoned at a budget had spent on the radio
            (``decision.evaluation``).
        download_s: (n, k) each node option's download over the true downlink (from
            the result leaving the WAN to its arrival; ``inf`` where the option fails).
        link_now_bps: (n, 2) the true capacity of the device's uplink and downlink at
            the task's creation (the trace, where ``nodes`` has the device's estimate).
        inv_wan: (n, k) ``1 / wan_bps`` of each column's node (0 for an edge node, NaN
            for padding): how its ``up_bps`` and ``down_bps`` combine the wireless
            estimate with the WAN. With ``upload_s`` and ``download_s`` they let
            ``decision.references`` give a policy the truth about the link.
    """

    scenario: str
    policy: str
    seed: int
    task: I64
    device_id: I64
    created_s: F64
    tasks: F64
    device: F64
    nodes: F64
    node_index: I64
    node_names: list[str]
    latency_s: F64
    energy_j: F64
    chosen: I64
    outcome_latency_s: F64
    outcome_energy_j: F64
    unforeseen: NDArray[np.bool_]
    upload_s: F64 | None = None  # None: records made by hand, without upload times
    download_s: F64 | None = None  # None: records made by hand, without the truth
    link_now_bps: F64 | None = None
    inv_wan: F64 | None = None

    def __len__(self) -> int:
        return int(self.task.size)

    def cost(self, latency_weight: float = 0.5, energy_weight: float | None = None) -> F64:
        """Weighted cost of every option: ``w_t * latency + w_e * energy`` (w_e defaults
        to ``1 - w_t``, the cost model's weights at full battery)."""
        w_e = 1.0 - latency_weight if energy_weight is None else energy_weight
        return latency_weight * self.latency_s + w_e * self.energy_j

    def oracle_target(self, latency_weight: float = 0.5, energy_weight: float | None = None) -> I64:
        """The hindsight-best option per row: -1 local, else a column of ``nodes``."""
        cost = np.where(np.isnan(self.latency_s), np.inf, self.cost(latency_weight, energy_weight))
        return np.asarray(np.argmin(cost, axis=1) - 1, dtype=np.int64)


def oracle_records(
    scenario: Scenario | str, policy: Policy | str = "cost_model", *, seed: int | None = None
) -> OracleRecords:
    """Run ``scenario`` under ``policy`` and cost every option of every decision in
    hindsight (module docstring).

    Raises:
        ConfigError: an invalid scenario or an unknown policy.
    """
    spec = as_scenario(scenario)
    chosen_policy = resolve(policy) if isinstance(policy, str) else policy
    sim = Simulation(spec, chosen_policy, seed=seed, options=SimOptions(capture=True))
    sim.run()
    return _collect(sim)


def _collect(sim: Simulation) -> OracleRecords:
    assert sim.capture is not None
    t = sim.tasks
    rows = [
        (request, j)
        for request in sim.capture.requests
        for j in range(request.n)
        if t.stage[request.first + j] < 0
    ]
    probes = {p.task: p for p in sim.capture.probes}
    n = len(rows)
    k = max((len(r.index) for r, _ in rows), default=0)
    tasks = np.full((n, len(TASK_FEATURES)), np.nan)
    device = np.full((n, len(DEVICE_FEATURES)), np.nan)
    nodes = np.full((n, k, len(NODE_FEATURES)), np.nan)
    node_index = np.full((n, k), -1, dtype=np.int64)
    task_ids = np.zeros(n, dtype=np.int64)
    matrices = {}
    for row, (request, j) in enumerate(rows):
        key = id(request)
        if key not in matrices:
            ns = request.nodes
            matrices[key] = (
                request.tasks.matrix(),
                np.column_stack([getattr(ns, f) for f in NODE_FEATURES]) if len(ns) else None,
            )
        task_matrix, node_matrix = matrices[key]
        tasks[row] = task_matrix[j]
        s = request.state
        device[row] = [
            getattr(s, f) if hasattr(s, f) else getattr(s.power, f) for f in DEVICE_FEATURES
        ]
        m = len(request.index)
        if node_matrix is not None:
            nodes[row, :m] = node_matrix
        node_index[row, :m] = request.index
        task_ids[row] = request.first + j
    latency, energy, download = _hindsight(sim, task_ids, nodes, node_index, probes)
    records = sim.tasks.arrays()
    target = records["target"][task_ids]
    chosen = np.array(
        [
            LOCAL_INDEX
            if tgt == LOCAL_INDEX
            else int(np.flatnonzero(node_index[i] == tgt)[0])
            if np.any(node_index[i] == tgt)
            else LOCAL_INDEX
            for i, tgt in enumerate(target.tolist())
        ],
        dtype=np.int64,
    )
    done = records["outcome"][task_ids] == int(Outcome.DONE)
    created_s = records["created_s"][task_ids]
    realised = records["end_s"][task_ids] - created_s
    devices = records["device"][task_ids]
    dev = sim.dev
    link_now = np.array(
        [
            (dev.up[d].capacity_bps(at), dev.down[d].capacity_bps(at))
            for d, at in zip(devices.tolist(), created_s.tolist(), strict=True)
        ],
        dtype=np.float64,
    ).reshape(n, 2)
    node_inv_wan = np.append(np.array([1.0 / nd.wan_bps for nd in sim.nodes]), np.nan)
    return OracleRecords(
        scenario=sim.scenario.name,
        policy=sim.policy.name,
        seed=sim.seed,
        task=task_ids,
        device_id=devices,
        created_s=created_s,
        tasks=tasks,
        device=device,
        nodes=nodes,
        node_index=node_index,
        node_names=[nd.name for nd in sim.nodes],
        latency_s=latency,
        energy_j=energy,
        chosen=chosen,
        outcome_latency_s=np.where(done, realised, np.nan),
        outcome_energy_j=records["energy_j"][task_ids],
        unforeseen=_unforeseen(sim, latency, node_index, created_s),
        upload_s=np.array(
            [
                (probes[tid].up_start_s - created, probes[tid].up_end_s - created)
                for tid, created in zip(task_ids.tolist(), created_s.tolist(), strict=True)
            ],
            dtype=np.float64,
        ).reshape(n, 2),
        download_s=download,
        link_now_bps=link_now,
        inv_wan=node_inv_wan[node_index],  # index -1 (padding): the appended NaN
    )


def _unforeseen(
    sim: Simulation, latency: F64, node_index: I64, created_s: F64
) -> NDArray[np.bool_]:
    """(n, 1 + k): the node options that fail (``inf``) although their node was up at
    the decision (see :class:`OracleRecords`)."""
    out = np.zeros(latency.shape, dtype=bool)
    for row, col in zip(*np.nonzero(np.isinf(latency[:, 1:])), strict=True):
        at = float(created_s[row])
        out[row, 1 + col] = not _down_during(sim, int(node_index[row, col]), at, at)
    return out


def _hindsight(
    sim: Simulation, task_ids: I64, nodes: F64, node_index: I64, probes: Mapping[int, Probe]
) -> tuple[F64, F64, F64]:
    """(latency, energy, download seconds) of every option (module docstring)."""
    t = sim.tasks
    dev = sim.dev
    n, k = node_index.shape
    latency = np.full((n, 1 + k), np.nan)
    energy = np.full((n, 1 + k), np.nan)
    download = np.full((n, k), np.nan)
    header = sim.state.header_bits
    queries: dict[int, list[tuple[float, int, int, int]]] = {}  # node -> (arrival, tid, row, col)
    for row, tid in enumerate(task_ids.tolist()):
        probe = probes[tid]
        d = t.device[tid]
        cycles = t.cpu_cycles[tid]
        deadline = t.deadline_s[tid]
        # Local: the true backlog, then the device's DVFS rule.
        wait = probe.local_wait_s
        hz = dev.cpu_hz[d]
        run, level = dvfs(dev.levels[d], hz * (1.0 - dev.load[d]), cycles, deadline - wait)
        latency[row, 0] = wait + run
        energy[row, 0] = dev.power[d].kappa * (hz * level) ** 2 * cycles
        bits = t.input_bytes[tid] * 8.0 + header
        for col in range(k):
            node = int(node_index[row, col])
            if node < 0:
                break
            nd = sim.nodes[node]
            arrive = probe.up_end_s + dev.rtt_s[d] / 2.0
            if nd.tier == "cloud":
                arrive += nd.wan_rtt_s / 2.0 + bits / nd.wan_bps
            queries.setdefault(node, []).append((arrive, tid, row, col))
    ran = _ran_on_nodes(sim)
    for node, asked in queries.items():
        waits = _fifo_waits(sim.nodes[node].cores, ran.get(node, []), asked)
        for (arrive, tid, row, col), wait in zip(asked, waits, strict=True):
            cost = _node_option(sim, tid, node, arrive, wait, nodes[row, col], probes[tid])
            latency[row, 1 + col], energy[row, 1 + col], download[row, col] = cost
    return latency, energy, download


def _node_option(
    sim: Simulation, tid: int, node: int, arrive: float, wait: float, features: F64, probe: Probe
) -> tuple[float, float, float]:
    """(latency, energy, download seconds) of one node option; inf where it fails."""
    t = sim.tasks
    dev = sim.dev
    d = t.device[tid]
    nd = sim.nodes[node]
    if wait == np.inf:
        return np.inf, np.inf, np.inf
    start = arrive + wait
    header = sim.state.header_bits
    out_bits = t.output_bytes[tid] * 8.0 + header
    deadline = t.deadline_s[tid]
    created = t.created_s[tid]
    down_bps, rtt = float(features[5]), float(features[6])
    compute_by = (
        created + deadline - out_bits / down_bps - rtt / 2.0 if deadline != np.inf else np.inf
    )
    service, _ = dvfs(nd.levels, nd.speed_hz, t.cpu_cycles[tid], compute_by - start)
    ready = start + service
    if _down_during(sim, node, arrive, ready):
        return np.inf, np.inf, np.inf
    at = ready + dev.rtt_s[d] / 2.0
    if nd.tier == "cloud":
        at += nd.wan_rtt_s / 2.0 + out_bits / nd.wan_bps
    end = dev.down[d].alone(at, out_bits)
    power = dev.power[d]
    up_start, up_end = probe.up_start_s, probe.up_end_s
    joules = power.transmit_w * (up_end - up_start) + power.idle_w * (at - up_end)
    joules += power.receive_w * (end - at)
    return end - created, joules, end - at


def _down_during(sim: Simulation, node: int, a: float, b: float) -> bool:
    """Is the node down at ``a`` or does it crash before ``b``?"""
    down = False
    for at, index, crash in sim.world.failures:
        if index != node:
            continue
        if at <= a:
            down = crash
        elif at <= b and crash:
            return True
    return down


def _ran_on_nodes(sim: Simulation) -> dict[int, list[tuple[float, int, float]]]:
    """Per node, the tasks that really ran there: (arrival, task id, finish), sorted."""
    t = sim.tasks
    ran: dict[int, list[tuple[float, int, float]]] = {}
    for i in range(t.size):
        service = t.service_s[i]
        if t.target[i] >= 0 and service > 0:  # NaN (never started) compares False
            ran.setdefault(t.target[i], []).append((t.node_arrival_s[i], i, t.finish_s[i]))
    for tasks in ran.values():
        tasks.sort()
    return ran


def _fifo_waits(
    cores: int, real: list[tuple[float, int, float]], asked: list[tuple[float, int, int, int]]
) -> list[float]:
    """The FIFO wait each hypothetical arrival would have had, replaying the tasks that
    really ran on the node (Kiefer-Wolfowitz: each occupied the earliest-free core until
    its finish)."""
    order = sorted(range(len(asked)), key=lambda q: (asked[q][0], asked[q][1]))
    waits = [0.0] * len(asked)
    free = [0.0] * cores
    r = 0
    for q in order:
        arrive, tid = asked[q][0], asked[q][1]
        while r < len(real) and (real[r][0], real[r][1]) < (arrive, tid):
            heapq.heapreplace(free, real[r][2])
            r += 1
        waits[q] = max(0.0, free[0] - arrive)
    return waits
