"""The node's health sampler: run-time p95, rates over a pinned clock, the values the
node passes through, and the Prometheus text."""

from __future__ import annotations

from edgeoffload.metrics import METRIC_NAMES, NodeMetrics
from edgeoffload.node.sampler import MetricsSampler, RunTimes, prometheus_text


def test_p95_is_none_before_any_run_then_the_95th_percentile_in_ms() -> None:
    times = RunTimes()
    assert times.p95_ms() is None
    for ms in range(100, 0, -1):  # order does not matter
        times.add(ms / 1000)
    assert times.p95_ms() == 96.0  # index int(0.95 * 100) of 1..100 ms
    times = RunTimes()
    times.add(0.25)
    assert times.p95_ms() == 250.0


def test_run_times_keep_only_the_most_recent_window() -> None:
    times = RunTimes(window=3)
    for s in (9.0, 9.0, 9.0, 0.001, 0.002, 0.003):
        times.add(s)
    assert times.p95_ms() == 3.0  # the three 9 s runs have left the window


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_task_rates_are_over_the_time_since_the_last_sample() -> None:
    clock = Clock()
    sampler = MetricsSampler(clock=clock)
    clock.t += 2.0
    first = sampler.sample(queued=3, running=1, completed=100, failed=4, p95_ms=12.5, connections=2)
    assert (first.completed_per_s, first.failed_per_s) == (50.0, 2.0)
    clock.t += 0.5
    second = sampler.sample(
        queued=0, running=0, completed=110, failed=4, p95_ms=None, connections=0
    )
    assert (second.completed_per_s, second.failed_per_s) == (20.0, 0.0)
    # Totals only grow; a smaller one (a restarted counter) never gives a negative rate.
    clock.t += 1.0
    assert (
        sampler.sample(
            queued=0, running=0, completed=5, failed=0, p95_ms=None, connections=0
        ).completed_per_s
        == 0.0
    )


def test_the_nodes_own_values_pass_through_and_the_machines_are_plausible() -> None:
    sample = MetricsSampler().sample(
        queued=7, running=2, completed=0, failed=0, p95_ms=3.5, connections=4
    )
    assert (sample.queue_length, sample.running_tasks) == (7, 2)
    assert (sample.p95_task_ms, sample.open_connections) == (3.5, 4)
    assert 0.0 <= sample.cpu_percent <= 100.0 and sample.own_cpu_percent >= 0.0
    assert sample.memory_available_bytes > 0 and sample.disk_free_bytes > 0
    assert sample.process_rss_bytes > 0 and sample.load_avg_1m >= 0.0
    assert min(sample.disk_read_bytes_per_s, sample.net_recv_bytes_per_s) >= 0.0


def test_prometheus_text_has_one_gauge_per_metric_and_omits_absent_ones() -> None:
    m = NodeMetrics(
        cpu_percent=12.0, load_avg_1m=0.5, memory_available_bytes=1, swap_used_bytes=0,
        disk_free_bytes=2, disk_read_bytes_per_s=0, disk_write_bytes_per_s=0,
        net_recv_bytes_per_s=0, net_sent_bytes_per_s=0, queue_length=3, running_tasks=1,
        completed_per_s=5, failed_per_s=0, p95_task_ms=None, open_connections=2,
        process_rss_bytes=1, temperature_c=None, own_cpu_percent=1.5,
    )  # fmt: skip
    text = prometheus_text("edge-1", m).decode()
    assert 'edgeoffload_node_queue_length{node="edge-1"} 3.0' in text
    assert 'edgeoffload_node_cpu_percent{node="edge-1"} 12.0' in text
    gauges = {line.split("{")[0] for line in text.splitlines() if line.startswith("edgeoffload_")}
    absent = {"p95_task_ms", "temperature_c"}
    assert gauges == {f"edgeoffload_node_{name}" for name in METRIC_NAMES if name not in absent}
