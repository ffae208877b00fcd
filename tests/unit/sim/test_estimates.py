"""sim.estimates: the per-device, per-direction moving average of link throughput."""

from __future__ import annotations

import pytest

from edgeoffload.sim.estimates import BandwidthEstimator, EwmaBandwidth


def test_starts_at_the_initial_estimates() -> None:
    est = EwmaBandwidth([1e6, 2e6], [3e6, 4e6], alpha=0.5)
    assert [est.up_bps(0), est.up_bps(1)] == [1e6, 2e6]
    assert [est.down_bps(0), est.down_bps(1)] == [3e6, 4e6]


def test_each_sample_moves_the_estimate_by_alpha_of_the_gap() -> None:
    est = EwmaBandwidth([100.0], [100.0], alpha=0.25)
    est.observe(0, True, 200.0)
    assert est.up_bps(0) == 125.0
    est.observe(0, True, 25.0)
    assert est.up_bps(0) == 100.0  # 125 + 0.25 * (25 - 125)
    assert est.down_bps(0) == 100.0  # the other direction untouched


def test_devices_and_directions_are_apart() -> None:
    est = EwmaBandwidth([10.0, 10.0], [10.0, 10.0], alpha=1.0)
    est.observe(1, False, 50.0)
    assert (est.up_bps(0), est.up_bps(1), est.down_bps(0), est.down_bps(1)) == (
        10.0, 10.0, 10.0, 50.0,
    )  # fmt: skip


def test_alpha_zero_never_learns_and_one_keeps_only_the_newest() -> None:
    frozen = EwmaBandwidth([10.0], [10.0], alpha=0.0)
    frozen.observe(0, True, 1e9)
    assert frozen.up_bps(0) == 10.0
    newest = EwmaBandwidth([10.0], [10.0], alpha=1.0)
    for sample in (1.0, 2.0, 3.0):
        newest.observe(0, True, sample)
    assert newest.up_bps(0) == 3.0


def test_the_initial_lists_are_copied() -> None:
    up = [5.0]
    est = EwmaBandwidth(up, [5.0], alpha=1.0)
    est.observe(0, True, 9.0)
    assert up == [5.0]


def test_an_unknown_device_is_an_index_error() -> None:
    est = EwmaBandwidth([1.0], [1.0], alpha=0.5)
    with pytest.raises(IndexError):
        est.observe(3, True, 1.0)


def test_it_is_a_bandwidth_estimator() -> None:
    est: BandwidthEstimator = EwmaBandwidth([1.0], [1.0], alpha=0.5)
    est.observe(0, False, 3.0)
    assert est.down_bps(0) == 2.0
