"""Build the simulated world from a scenario: devices, their links, nodes, arrivals.

Everything random about the world (per-device CPU speeds, which trace each device
replays and from where, device placement, random failure times) is drawn here, first,
from the run's generator, so that two policies run on the same seed see the same
world, the same traces and, since arrivals are drawn in the same order, the same tasks.

Devices are spread evenly over the edge nodes: device ``d`` gets a home node, and with
``nodes_per_device = k`` may use its home node and the ``k - 1`` after it (a ring of
cells); the cloud, if any, is visible to every device.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from ..decision.features import I64, PowerModel
from ..errors import ConfigError
from ..traces import Trace, load_dataset, load_trace_file
from .apps import AppModel
from .distributions import sample
from .links import LinkDirection, TraceTable
from .nodes import SimNode
from .scenario import LinkSpec, Scenario
from .workload import ArrivalSource


@dataclass
class Devices:
    """Per-device state as lists (index = device id); the state that changes as the run
    goes (battery, CPU) as ``array.array`` of floats, which the numpy paths view
    (:func:`numpy.frombuffer`; the arrays never grow after :func:`build`)."""

    group: list[int] = field(default_factory=list)
    cpu_hz: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    battery_j: array[float] = field(default_factory=lambda: array("d"))  # left (inf: mains)
    capacity_j: list[float] = field(default_factory=list)
    power: list[PowerModel] = field(default_factory=list)
    levels: list[tuple[float, ...]] = field(default_factory=list)
    up: list[LinkDirection] = field(default_factory=list)
    down: list[LinkDirection] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    rtt_s: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    rto_s: list[float] = field(default_factory=list)
    max_retries: list[int] = field(default_factory=list)
    detector_s: list[float] = field(default_factory=list)  # inf: nodes always reachable
    candidates: list[tuple[int, ...]] = field(default_factory=list)
    cpu_free: array[float] = field(default_factory=lambda: array("d"))  # local CPU free at
    busy_s: array[float] = field(default_factory=lambda: array("d"))  # local work this view
    overhead_cycles: list[float] = field(default_factory=list)  # every local run's extra
    #: CPU quota share (1.0: none) and period; the quota period last used and how much
    #: of it (seconds at full speed) the device has used.
    quota_share: list[float] = field(default_factory=list)
    quota_period_s: list[float] = field(default_factory=list)
    quota_at: array[float] = field(default_factory=lambda: array("d"))
    quota_used: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.cpu_hz)


@dataclass
class World:
    apps: list[AppModel]
    devices: Devices
    nodes: list[SimNode]
    sources: list[ArrivalSource]
    phase_of: I64
    #: (time, node index, True for a crash / False for a recovery)
    failures: list[tuple[float, int, bool]]


def _traces(spec: LinkSpec, where: str) -> list[Trace]:
    if spec.constant_mbps is not None:
        mbps = np.array([spec.constant_mbps])
        return [Trace("constant", "constant", np.zeros(1), mbps, 1.0)]
    traces = [load_trace_file(spec.file)] if spec.file else load_dataset(spec.dataset)
    chosen = [t for t in traces if spec.match in t.name]
    if not chosen:
        raise ConfigError(f"{where}.link.match: no trace of {spec.dataset} contains {spec.match!r}")
    return chosen


def build(scenario: Scenario, rng: np.random.Generator) -> World:
    """Draw the world (see the module docstring)."""
    apps = [AppModel(i, name, spec) for i, (name, spec) in enumerate(scenario.apps.items())]
    app_index = {a.name: a.index for a in apps}
    nodes = _nodes(scenario)
    edges = [n.index for n in nodes if n.tier == "edge"]
    clouds = tuple(n.index for n in nodes if n.tier == "cloud")
    total = sum(g.count for g in scenario.devices)
    home = rng.permutation(total) % max(1, len(edges))
    devices = Devices()
    sources: list[ArrivalSource] = []
    tables: dict[int, TraceTable] = {}
    first = 0
    for gi, group in enumerate(scenario.devices):
        n = group.count
        ids = np.arange(first, first + n, dtype=np.int64)
        traces = _traces(group.link, f"devices[{gi}]")
        pick = rng.integers(0, len(traces), n)
        offsets = rng.random(n) if group.link.random_offset else np.zeros(n)
        cpu = sample(group.cpu_hz, rng, n)
        load = sample(group.load, rng, n)
        power = PowerModel(
            kappa=group.power.kappa,
            transmit_w=group.power.transmit_w,
            receive_w=group.power.receive_w,
            idle_w=group.power.idle_w,
        )
        k = group.nodes_per_device if group.nodes_per_device is not None else len(edges)
        capacity = group.battery_j if group.battery_j is not None else float("inf")
        link = group.link
        for j in range(n):
            trace = traces[int(pick[j])]
            table = tables.get(id(trace))
            if table is None:
                table = tables[id(trace)] = TraceTable.of(trace)
            offset = float(offsets[j]) * trace.duration_s
            devices.group.append(gi)
            devices.cpu_hz.append(float(cpu[j]))
            devices.load.append(float(load[j]))
            devices.capacity_j.append(capacity)
            devices.battery_j.append(capacity)
            devices.power.append(power)
            devices.levels.append(tuple(group.dvfs_levels))
            up = LinkDirection(table, offset, link.uplink_scale)
            down = LinkDirection(table, offset, link.downlink_scale)
            devices.up.append(up)
            devices.down.append(down)
            devices.trace.append(f"{trace.dataset}/{trace.name}")
            devices.rtt_s.append(link.rtt_ms / 1000.0)
            devices.loss.append(link.loss)
            devices.rto_s.append(link.rto_ms / 1000.0)
            devices.max_retries.append(link.max_retries)
            timeout = link.detector_timeout_s
            devices.detector_s.append(float("inf") if timeout is None else timeout)
            h = int(home[first + j])
            ring = tuple(edges[(h + i) % len(edges)] for i in range(k)) if edges else ()
            devices.candidates.append(ring + clouds)
            devices.cpu_free.append(0.0)
            devices.busy_s.append(0.0)
            devices.overhead_cycles.append(group.overhead_cycles)
            quota = group.quota
            devices.quota_share.append(quota.share if quota is not None else 1.0)
            devices.quota_period_s.append(quota.period_s if quota is not None else 1.0)
            devices.quota_at.append(-1.0)
            devices.quota_used.append(0.0)
        for work in group.workload:
            sources.append(ArrivalSource(work.arrivals, app_index[work.app], ids, rng))
        first += n
    phase_of = np.arange(total, dtype=np.int64) % scenario.view_phases
    return World(apps, devices, nodes, sources, phase_of, _failures(scenario, nodes, rng))


def _nodes(scenario: Scenario) -> list[SimNode]:
    nodes: list[SimNode] = []
    for group in scenario.nodes:
        for j in range(group.count):
            nodes.append(
                SimNode(
                    len(nodes),
                    f"{group.name}-{j}" if group.count > 1 else group.name,
                    group=group.name,
                    cores=group.cores,
                    speed_hz=group.speed_hz,
                    discipline=group.discipline,
                    levels=tuple(group.dvfs_levels),
                    kappa=group.kappa,
                    static_w=group.static_w,
                    input_items=group.cache.input_items,
                    result_items=group.cache.result_items,
                    max_pending=group.max_pending,
                )
            )
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ConfigError("nodes: node group names must be distinct")
    cloud = scenario.cloud
    if cloud is not None:
        nodes.append(
            SimNode(
                len(nodes),
                "cloud",
                group="cloud",
                cores=cloud.cores,
                speed_hz=cloud.speed_hz,
                kappa=cloud.kappa,
                static_w=cloud.static_w,
                tier="cloud",
                wan_rtt_s=cloud.wan_rtt_ms / 1000.0,
                wan_bps=cloud.wan_mbps * 1e6,
            )
        )
    return nodes


def _failures(
    scenario: Scenario, nodes: list[SimNode], rng: np.random.Generator
) -> list[tuple[float, int, bool]]:
    """Crash/recovery events within the run: fixed pairs, then random ones drawn per
    node (exponential up and down times)."""
    events: list[tuple[float, int, bool]] = []
    index = 0
    for group in scenario.nodes:
        spec = group.failures
        for _ in range(group.count):
            windows = [(float(a), float(b)) for a, b in spec.at_s]
            if spec.mtbf_s is not None:
                t = 0.0
                while True:
                    t += float(rng.exponential(spec.mtbf_s))
                    if t >= scenario.duration_s:
                        break
                    repair = float(rng.exponential(spec.mttr_s))
                    windows.append((t, t + repair))
                    t += repair
            for down, up in _merge(windows):
                events.append((down, index, True))
                events.append((up, index, False))
            index += 1
    events.sort()
    return events


def _merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping down windows as one."""
    merged: list[tuple[float, float]] = []
    for down, up in sorted(windows):
        if merged and down <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], up))
        else:
            merged.append((down, up))
    return merged
