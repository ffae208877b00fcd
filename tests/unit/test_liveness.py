"""The phi-accrual detector: quiet links are judged fast, jittery ones patiently."""

from __future__ import annotations

import numpy as np

from edgeoffload.liveness import PhiAccrual


def feed(detector: PhiAccrual, intervals: np.ndarray, t: float = 0.0) -> float:
    for dt in intervals:
        t += float(dt)
        detector.heartbeat(t)
    return t


def test_phi_grows_with_silence_and_is_zero_before_any_heartbeat() -> None:
    d = PhiAccrual(0.1)
    assert d.phi(123.0) == 0.0
    t = feed(d, np.full(50, 0.1))
    values = [d.phi(t + s) for s in (0.05, 0.3, 0.5, 0.7, 1.0)]
    assert values == sorted(values)
    assert values[0] < 0.01 and values[-1] > 12


def test_acceptable_pause_is_never_suspicious() -> None:
    d = PhiAccrual(0.1, acceptable_pause_s=0.5)
    t = feed(d, np.full(50, 0.1))
    assert d.phi(t + 0.1 + 0.5) < 1.0


def test_jittery_heartbeats_get_more_slack_than_regular_ones() -> None:
    rng = np.random.default_rng(0)
    regular, jittery = PhiAccrual(0.1), PhiAccrual(0.1)
    feed(regular, np.full(100, 0.1))
    feed(jittery, 0.1 + rng.exponential(0.15, 100))
    assert jittery.silence_to_reach(12) > regular.silence_to_reach(12) + 0.2


def test_silence_to_reach_matches_phi() -> None:
    d = PhiAccrual(0.2)
    t = feed(d, np.full(30, 0.2))
    s = d.silence_to_reach(8.0)
    assert abs(d.phi(t + s) - 8.0) < 0.01


def test_window_forgets_old_intervals() -> None:
    d = PhiAccrual(0.1, window=10)
    t = feed(d, np.full(10, 5.0))  # a slow past
    slow = d.silence_to_reach(12)
    t = feed(d, np.full(10, 0.1), t)  # now quick and regular
    assert d.silence_to_reach(12) < slow / 5
    assert t > 0
