"""Reads a node's 15 health metrics (psutil for the machine, the node for its work).

Rates (disk, network, completed and failed tasks per second) are over the time since
the previous sample, so the first sample after start covers the sampler's life. The
clock is a parameter, so that a test can pin the rates exactly.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..metrics import NodeMetrics

if TYPE_CHECKING:
    from .cache import CacheStats


@dataclass
class RunTimes:
    """The most recent ``window`` task run times (seconds), for the p95 in ms."""

    window: int = 1000
    _times: deque[float] = field(default_factory=deque)

    def add(self, seconds: float) -> None:
        self._times.append(seconds)
        if len(self._times) > self.window:
            self._times.popleft()

    def p95_ms(self) -> float | None:
        if not self._times:
            return None
        ordered = sorted(self._times)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000.0


class MetricsSampler:
    """Samples the machine and the node; rates are over the time since the last sample.

    Args:
        disk_path: the file system whose free space is reported.
        clock: monotonic seconds (the rates' denominator).
    """

    def __init__(self, disk_path: str = "/", clock: Callable[[], float] = time.monotonic) -> None:
        import psutil

        self._psutil = psutil
        self._clock = clock
        self._process = psutil.Process(os.getpid())
        self._disk_path = disk_path
        psutil.cpu_percent(None)  # the first call only sets the baseline
        self._process.cpu_percent(None)
        self._children: dict[int, Any] = {}
        self._cores = psutil.cpu_count() or 1
        self._last: tuple[float, Any, Any, int, int] | None = None
        self._last = self._counters(0, 0)

    def _counters(self, completed: int, failed: int) -> tuple[float, Any, Any, int, int]:
        ps = self._psutil
        return (self._clock(), ps.disk_io_counters(), ps.net_io_counters(), completed, failed)

    def sample(
        self,
        *,
        queued: int,
        running: int,
        completed: int,
        failed: int,
        p95_ms: float | None,
        connections: int,
        cache: CacheStats | None = None,
    ) -> NodeMetrics:
        """One sample; ``completed``/``failed`` are running totals (rates are derived);
        ``cache``: the data-locality cache's counters (totals, reported as they are)."""
        ps = self._psutil
        now = self._counters(completed, failed)
        assert self._last is not None
        t0, disk0, net0, done0, fail0 = self._last
        t1, disk1, net1, _, _ = now
        dt = max(1e-6, t1 - t0)
        self._last = now

        def rate(a: Any, b: Any, name: str) -> float:
            if a is None or b is None:
                return 0.0
            return max(0.0, float(getattr(b, name) - getattr(a, name)) / dt)

        memory = ps.virtual_memory()
        return NodeMetrics(
            cpu_percent=float(ps.cpu_percent(None)),
            load_avg_1m=os.getloadavg()[0],
            memory_available_bytes=int(memory.available),
            swap_used_bytes=int(ps.swap_memory().used),
            disk_free_bytes=int(ps.disk_usage(self._disk_path).free),
            disk_read_bytes_per_s=rate(disk0, disk1, "read_bytes"),
            disk_write_bytes_per_s=rate(disk0, disk1, "write_bytes"),
            net_recv_bytes_per_s=rate(net0, net1, "bytes_recv"),
            net_sent_bytes_per_s=rate(net0, net1, "bytes_sent"),
            queue_length=queued,
            running_tasks=running,
            completed_per_s=max(0.0, (completed - done0) / dt),
            failed_per_s=max(0.0, (failed - fail0) / dt),
            p95_task_ms=p95_ms,
            open_connections=connections,
            process_rss_bytes=int(self._process.memory_info().rss),
            temperature_c=self._temperature(),
            own_cpu_percent=self._own_cpu_percent(),
            cache_hits=cache.hits if cache else 0,
            cache_misses=cache.misses if cache else 0,
            cache_hit_percent=100.0 * cache.hit_rate if cache else 0.0,
            cache_bytes_saved=cache.bytes_saved if cache else 0,
            cache_used_bytes=cache.size_bytes if cache else 0,
        )

    def _own_cpu_percent(self) -> float:
        """CPU of this process and its children (the workers), as a share of the machine."""
        ps = self._psutil
        total = self._process.cpu_percent(None)
        seen = {}
        for child in self._process.children(recursive=True):
            proc = self._children.get(child.pid, child)
            try:
                total += proc.cpu_percent(None)  # 0 the first time a child is seen
            except ps.Error:
                continue
            seen[child.pid] = proc
        self._children = seen
        return float(total) / self._cores

    def _temperature(self) -> float | None:
        read = getattr(self._psutil, "sensors_temperatures", None)
        if read is None:
            return None
        try:
            sensors = read()
        except (OSError, RuntimeError):
            return None
        values = [t.current for entries in sensors.values() for t in entries if t.current]
        return max(values) if values else None


def prometheus_text(node_id: str, m: NodeMetrics) -> bytes:
    """The sample in Prometheus text format (prometheus_client, imported on first use)."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    for name in NodeMetrics.__struct_fields__:
        value = getattr(m, name)
        if value is None:
            continue  # absent, not zero
        gauge = Gauge(
            f"edgeoffload_node_{name}",
            f"node {name.replace('_', ' ')}",
            ["node"],
            registry=registry,
        )
        gauge.labels(node=node_id).set(float(value))
    return generate_latest(registry)
