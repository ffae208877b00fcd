"""A node's health, as 15 metrics, and the pure judgement of whether it is degraded.

Nodes sample these every second (``node/sampler.py``, psutil), send them to the
controller in their heartbeat, and export them at ``/metrics``; the controller stores
them as a time series and drains a node whose health is degraded.

Note on the seed article: its health check returns "healthy" exactly when the metrics
are bad (its comparisons are inverted). :func:`assess` is tested both ways.
"""

from __future__ import annotations

from typing import Annotated

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


class HealthThresholds(msgspec.Struct, frozen=True, kw_only=True):
    """When a node counts as degraded (and is drained until it recovers)."""

    cpu_percent_max: float = 85.0
    memory_available_min_bytes: int = 2 * GIB
    disk_free_min_bytes: int = 10 * GIB
    #: Samples in a row that must be degraded before the node is drained (and healthy
    #: before it is resumed), so that one busy second does not flap it.
    consecutive: int = 3


def assess(m: NodeMetrics, t: HealthThresholds) -> list[str]:
    """Reasons the sample is degraded; an empty list means healthy.

    The CPU rule counts the CPU that the node's own work does not use: a node busy
    with its tasks is doing its job (draining it would only idle it), while a machine
    taken by other processes is degraded.
    """
    reasons = []
    foreign = m.cpu_percent - m.own_cpu_percent
    if foreign > t.cpu_percent_max:
        reasons.append(f"cpu used by other processes {foreign:.0f} % > {t.cpu_percent_max:.0f} %")
    if m.memory_available_bytes < t.memory_available_min_bytes:
        reasons.append(
            f"memory available {m.memory_available_bytes / GIB:.2f} GiB "
            f"< {t.memory_available_min_bytes / GIB:.2f} GiB"
        )
    if m.disk_free_bytes < t.disk_free_min_bytes:
        reasons.append(
            f"disk free {m.disk_free_bytes / GIB:.1f} GiB < {t.disk_free_min_bytes / GIB:.1f} GiB"
        )
    return reasons
