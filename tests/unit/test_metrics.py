"""Health judgement, tested both ways (the seed article's check was inverted)."""

from __future__ import annotations

import pytest

from edgeoffload.metrics import GIB, METRIC_NAMES, HealthThresholds, NodeMetrics, assess


def sample(**kw: object) -> NodeMetrics:
    base: dict[str, object] = dict(
        cpu_percent=20.0,
        load_avg_1m=0.5,
        memory_available_bytes=8 * GIB,
        swap_used_bytes=0,
        disk_free_bytes=100 * GIB,
        disk_read_bytes_per_s=0.0,
        disk_write_bytes_per_s=0.0,
        net_recv_bytes_per_s=0.0,
        net_sent_bytes_per_s=0.0,
        queue_length=0,
        running_tasks=0,
        completed_per_s=0.0,
        failed_per_s=0.0,
        p95_task_ms=None,
        open_connections=0,
        process_rss_bytes=50_000_000,
    )
    base.update(kw)
    return NodeMetrics(**base)  # type: ignore[arg-type]


def test_the_fifteen_named_metrics_are_all_there() -> None:
    # disk read/write, network in/out and completed/failed rates are pairs: 17 numbers.
    named = [
        "cpu_percent", "load_avg_1m", "memory_available_bytes", "swap_used_bytes",
        "disk_free_bytes", "disk_read_bytes_per_s", "disk_write_bytes_per_s",
        "net_recv_bytes_per_s", "net_sent_bytes_per_s", "queue_length", "running_tasks",
        "completed_per_s", "failed_per_s", "p95_task_ms", "open_connections",
        "process_rss_bytes", "temperature_c", "own_cpu_percent",
        # the data-locality cache's (node/cache.py)
        "cache_hits", "cache_misses", "cache_hit_percent", "cache_bytes_saved", "cache_used_bytes",
    ]  # fmt: skip
    assert list(METRIC_NAMES) == named
    assert sample().temperature_c is None  # absent, not zero


def test_good_metrics_are_healthy() -> None:
    assert assess(sample(), HealthThresholds()) == []


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"cpu_percent": 95.0}, "cpu used by other processes 95 % > 85 %"),
        ({"memory_available_bytes": GIB}, "memory available 1.00 GiB < 2.00 GiB"),
        ({"disk_free_bytes": 5 * GIB}, "disk free 5.0 GiB < 10.0 GiB"),
    ],
)
def test_each_bad_metric_is_degraded(bad: dict[str, object], reason: str) -> None:
    assert assess(sample(**bad), HealthThresholds()) == [reason]


def test_a_node_busy_with_its_own_tasks_is_healthy() -> None:
    assert assess(sample(cpu_percent=99.0, own_cpu_percent=90.0), HealthThresholds()) == []
    assert assess(sample(cpu_percent=99.0, own_cpu_percent=5.0), HealthThresholds()) != []


def test_thresholds_are_configurable() -> None:
    strict = HealthThresholds(cpu_percent_max=10.0)
    assert assess(sample(cpu_percent=20.0), strict) == ["cpu used by other processes 20 % > 10 %"]
    assert assess(sample(cpu_percent=20.0), HealthThresholds()) == []
