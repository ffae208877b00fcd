"""A node's health, as 15 metrics, and the pure judgement of whether it is degraded.

Nodes sample these every second (``node/sampler.py``, psutil), send them to the
controller in their heartbeat, and export them at ``/metrics``; the controller stores
them as a time series and drains a node whose health is degraded.

Note on the seed article: its health check returns "healthy" exactly when the metrics
are bad (its comparisons are inverted). :func:`assess` is tested both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

GIB = 1024**3

# Bounds checked when a heartbeat is decoded, so that a sample can always be stored
# (64-bit integers, finite floats: inf and NaN fail the bounds) and compared.
#: A count or a size in bytes.
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: A non-negative finite rate or duration.
Amount = Annotated[float, msgspec.Meta(ge=0, le=1e18)]
#: A percentage; above 100 only for sums over cores.
Percent = Annotated[float, msgspec.Meta(ge=0, le=100_000)]


class NodeMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """One sample of a node's health. Rates are per second over the last interval."""

    cpu_percent: Percent  # whole machine, 0..100
    load_avg_1m: Amount
    memory_available_bytes: Count
    swap_used_bytes: Count
    disk_free_bytes: Count
    disk_read_bytes_per_s: Amount
    disk_write_bytes_per_s: Amount
    net_recv_bytes_per_s: Amount
    net_sent_bytes_per_s: Amount
    queue_length: Count
    running_tasks: Count
    completed_per_s: Amount
    failed_per_s: Amount
    p95_task_ms: Amount | None  # None until a task has run
    open_connections: Count
    process_rss_bytes: Count
    #: Hottest sensor in degrees Celsius; absent (None) where the hardware reports none,
    #: never a made-up zero.
    temperature_c: Annotated[float, msgspec.Meta(ge=-273.15, le=10_000)] | None = None
    #: Share of the machine's CPU (0..100) used by the node and its workers.
    own_cpu_percent: Percent = 0.0
    #: The data-locality cache (node/cache.py), totals since the node started: lookups
    #: answered from it (inputs sent hash-first, cacheable results) and not, their hit
    #: share (0..100), the argument bytes clients did not send, and the bytes it holds.
    cache_hits: Count = 0
    cache_misses: Count = 0
    cache_hit_percent: Percent = 0.0
    cache_bytes_saved: Count = 0
    cache_used_bytes: Count = 0


#: The health metrics, by field name: the 15 of the issue, where disk read/write,
#: network in/out and completed/failed task rates are pairs (17 numbers), then the
#: node's own CPU share (used by the health rule), then the cache's counters.
METRIC_NAMES = tuple(f for f in NodeMetrics.__struct_fields__)


#: Without a leave threshold, a node resumes when its CPU used by other processes is
#: this many points under the drain threshold (85 % drains, under 70 % resumes) ...
CPU_RESUME_MARGIN = 15.0
#: ... and its free memory and disk this many times the minimum.
SPACE_RESUME_FACTOR = 1.25


class HealthThresholds(msgspec.Struct, frozen=True, kw_only=True):
    """When a node counts as degraded (and is drained), and when healthy again.

    Two thresholds per metric (hysteresis): a node drains when a metric is past its
    *drain* threshold (``cpu_percent_max``...) and resumes only when every metric is
    back past its *resume* threshold (``cpu_percent_resume``...), so a machine that
    hovers around one figure does not flap. Each side must also hold for a while:
    ``drain_after_s`` of samples all degraded (and at least ``consecutive`` of them),
    ``resume_after_s`` of samples all clear. On a shared 2-core host the one-threshold,
    three-sample rule drained and resumed a node 17 times in about 15 minutes.
    ``None`` resume thresholds are derived (:data:`CPU_RESUME_MARGIN`,
    :data:`SPACE_RESUME_FACTOR`).
    """

    cpu_percent_max: float = 85.0
    memory_available_min_bytes: int = 2 * GIB
    disk_free_min_bytes: int = 10 * GIB
    cpu_percent_resume: float | None = None
    memory_available_resume_bytes: int | None = None
    disk_free_resume_bytes: int | None = None
    #: At least this many samples in a row, whatever the durations say, so that one
    #: busy second never drains a node (with ``drain_after_s`` = 0, say).
    consecutive: int = 3
    #: Pressure must last this long (every sample degraded) before the node drains ...
    drain_after_s: float = 10.0
    #: ... and health this long (every sample clear) before it resumes.
    resume_after_s: float = 30.0

    def __post_init__(self) -> None:
        cpu, memory, disk = self.resume_levels()
        if cpu > self.cpu_percent_max:
            raise ValueError(
                f"cpu_percent_resume ({cpu}) must not exceed cpu_percent_max "
                f"({self.cpu_percent_max})"
            )
        if memory < self.memory_available_min_bytes:
            raise ValueError(
                f"memory_available_resume_bytes ({memory}) must not be below "
                f"memory_available_min_bytes ({self.memory_available_min_bytes})"
            )
        if disk < self.disk_free_min_bytes:
            raise ValueError(
                f"disk_free_resume_bytes ({disk}) must not be below "
                f"disk_free_min_bytes ({self.disk_free_min_bytes})"
            )

    def resume_levels(self) -> tuple[float, int, int]:
        """The resume thresholds (CPU %, memory bytes, disk bytes), derived if unset."""
        cpu = self.cpu_percent_resume
        memory = self.memory_available_resume_bytes
        disk = self.disk_free_resume_bytes
        return (
            max(0.0, self.cpu_percent_max - CPU_RESUME_MARGIN) if cpu is None else cpu,
            int(self.memory_available_min_bytes * SPACE_RESUME_FACTOR)
            if memory is None
            else memory,
            int(self.disk_free_min_bytes * SPACE_RESUME_FACTOR) if disk is None else disk,
        )


def separated(value: float, limit: float, unit: str, decimals: int = 1) -> tuple[str, str]:
    """``value`` and ``limit`` printed with the fewest decimals (from ``decimals``,
    at most 4) that tell them apart: 85.04 against 85 reads "85.04 % > 85.00 %", never
    "85 % > 85 %" (a drain reason once said that)."""
    places = decimals
    while places < 4 and f"{value:.{places}f}" == f"{limit:.{places}f}":
        places += 1
    return f"{value:.{places}f}{unit}", f"{limit:.{places}f}{unit}"


def assess(m: NodeMetrics, t: HealthThresholds, *, resume: bool = False) -> list[str]:
    """Reasons the sample is degraded; an empty list means healthy.

    ``resume``: judge against the resume thresholds (a drained node is clear only
    when every metric is back past them).

    The CPU rule counts the CPU that the node's own work does not use: a node busy
    with its tasks is doing its job (draining it would only idle it), while a machine
    taken by other processes is degraded.
    """
    if resume:
        cpu_max, memory_min, disk_min = t.resume_levels()
    else:
        cpu_max, memory_min, disk_min = (
            t.cpu_percent_max, t.memory_available_min_bytes, t.disk_free_min_bytes
        )  # fmt: skip
    reasons = []
    foreign = m.cpu_percent - m.own_cpu_percent
    if foreign > cpu_max:
        got, limit = separated(foreign, cpu_max, " %")
        reasons.append(f"cpu used by other processes {got} > {limit}")
    if m.memory_available_bytes < memory_min:
        got, limit = separated(m.memory_available_bytes / GIB, memory_min / GIB, " GiB", 2)
        reasons.append(f"memory available {got} < {limit}")
    if m.disk_free_bytes < disk_min:
        got, limit = separated(m.disk_free_bytes / GIB, disk_min / GIB, " GiB")
        reasons.append(f"disk free {got} < {limit}")
    return reasons


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the health gate decided: drain or resume, and why (with the figures)."""

    action: Literal["drain", "resume"]
    reason: str


@dataclass(slots=True)
class HealthGate:
    """One node's health hysteresis, pure and on the caller's clock (``now``).

    A *run* is a stretch of samples that all point the same way: degraded against the
    drain thresholds while the node serves, clear of the resume thresholds while it is
    drained. A sample that breaks the run restarts it; a run that lasts
    ``drain_after_s`` (or ``resume_after_s``) with at least ``consecutive`` samples
    gives a :class:`Verdict`. Samples between the two thresholds break both kinds of
    run, so a node there stays as it is.
    """

    thresholds: HealthThresholds
    _since: float | None = None
    _samples: int = 0
    _draining: bool = False

    def observe(self, m: NodeMetrics, now: float, draining: bool) -> Verdict | None:
        """Feed one sample; ``draining`` is whether the node is drained now."""
        t = self.thresholds
        reasons = assess(m, t, resume=draining)
        pointing = not reasons if draining else bool(reasons)
        if not pointing or self._since is None or self._draining != draining:
            self._since, self._samples, self._draining = (now if pointing else None), 0, draining
            if not pointing:
                return None
        assert self._since is not None
        self._samples += 1
        held = now - self._since
        need = t.resume_after_s if draining else t.drain_after_s
        if self._samples < t.consecutive or held < need:
            return None
        self._since, self._samples = None, 0
        if draining:
            return Verdict("resume", f"health recovered: clear of every threshold for {held:.1f} s")
        return Verdict("drain", "; ".join(reasons) + f" for {held:.1f} s")
