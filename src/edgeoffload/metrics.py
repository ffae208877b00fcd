"""A node's health, as 15 metrics, and the pure judgement of whether it is degraded.

Nodes sample these every second (``node/sampler.py``, psutil), send them to the
controller in their heartbeat, and export them at ``/metrics``; the controller stores
them as a time series and drains a node whose health is degraded.

Note on the seed article: its health check returns "healthy" exactly when the metrics
are bad (its comparisons are inverted). :func:`assess` is tested both ways.
"""

from __future__ import annotations

import msgspec

GIB = 1024**3


class NodeMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """One sample of a node's health. Rates are per second over the last interval."""

    cpu_percent: float  # whole machine, 0..100
    load_avg_1m: float
    memory_available_bytes: int
    swap_used_bytes: int
    disk_free_bytes: int
    disk_read_bytes_per_s: float
    disk_write_bytes_per_s: float
    net_recv_bytes_per_s: float
    net_sent_bytes_per_s: float
    queue_length: int
    running_tasks: int
    completed_per_s: float
    failed_per_s: float
    p95_task_ms: float | None  # None until a task has run
    open_connections: int
    process_rss_bytes: int
    #: Hottest sensor in degrees Celsius; absent (None) where the hardware reports none,
    #: never a made-up zero.
    temperature_c: float | None = None
    #: Share of the machine's CPU (0..100) used by the node and its workers.
    own_cpu_percent: float = 0.0


#: The health metrics, by field name: the 15 of the issue, where disk read/write,
#: network in/out and completed/failed task rates are pairs (17 numbers), then the
#: node's own CPU share (used by the health rule).
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
