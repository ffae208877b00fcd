"""client.latency: recent latencies per task: a windowed mean, and a p95 that appears
after min_samples and is re-sorted only every resort_every samples."""

from __future__ import annotations

import pytest

from edgeoffload.client.latency import TaskLatency


def test_nothing_known_of_an_unseen_task() -> None:
    lat = TaskLatency()
    assert lat.mean_s("t") is None and lat.p95_s("t") is None


def test_the_mean_is_over_the_last_window_samples() -> None:
    lat = TaskLatency(window=5)
    for s in range(1, 8):  # 1..7: the window keeps 3..7
        lat.add("t", float(s))
    assert lat.mean_s("t") == pytest.approx(5.0)
    lat.add("t", 0.0)  # keeps 4, 5, 6, 7, 0
    assert lat.mean_s("t") == pytest.approx(4.4)


def test_no_p95_before_min_samples() -> None:
    lat = TaskLatency(min_samples=3)
    lat.add("t", 1.0)
    lat.add("t", 2.0)
    assert lat.p95_s("t") is None and lat.mean_s("t") == 1.5
    lat.add("t", 3.0)
    assert lat.p95_s("t") == 3.0


def test_the_p95_of_a_hundred_samples() -> None:
    lat = TaskLatency(window=100, min_samples=100)
    for s in range(1, 101):
        lat.add("t", float(s))
    assert lat.p95_s("t") == 96.0  # index int(0.95 * 100) of 1..100


def test_the_p95_is_resorted_only_every_resort_every_samples() -> None:
    lat = TaskLatency(window=200, min_samples=20, resort_every=20)
    for _ in range(20):
        lat.add("t", 1.0)
    assert lat.p95_s("t") == 1.0
    for _ in range(19):
        lat.add("t", 10.0)
    assert lat.p95_s("t") == 1.0  # stale by design: 19 samples since the last sort
    lat.add("t", 10.0)
    assert lat.p95_s("t") == 10.0  # 20 of 40 samples are 10: index 38 is one


def test_tasks_are_apart() -> None:
    lat = TaskLatency(min_samples=1)
    lat.add("a", 1.0)
    lat.add("b", 3.0)
    assert (lat.mean_s("a"), lat.mean_s("b")) == (1.0, 3.0)
    assert (lat.p95_s("a"), lat.p95_s("b")) == (1.0, 3.0)
