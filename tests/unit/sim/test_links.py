"""Trace-driven transfers: FIFO in the bits domain, outages, looping, offsets, scale."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.sim.links import LinkDirection, TraceTable
from edgeoffload.traces import Trace


def link(
    times: list[float], mbps: list[float], duration: float, offset: float = 0.0, scale: float = 1.0
) -> LinkDirection:
    trace = Trace("t", "file", np.array(times), np.array(mbps), duration)
    return LinkDirection(TraceTable.of(trace), offset, scale)


def test_transfer_integrates_the_capacity() -> None:
    # 1 Mbit/s for 1 s, then 3 Mbit/s.
    up = link([0.0, 1.0], [1.0, 3.0], 10.0)
    start, end = up.transfer(0.5, 2e6)  # 0.5 Mbit in the first second, 1.5 Mbit at 3 Mbit/s
    assert start == 0.5
    assert end == pytest.approx(1.5)


def test_transfers_queue_first_come_first_served() -> None:
    up = link([0.0], [8.0], 10.0)
    assert up.transfer(0.0, 8e6) == (0.0, pytest.approx(1.0))
    start, end = up.transfer(0.25, 4e6)  # waits for the first to finish
    assert start == pytest.approx(1.0)
    assert end == pytest.approx(1.5)
    start, end = up.transfer(3.0, 4e6)  # idle link: starts at once
    assert (start, end) == (3.0, pytest.approx(3.5))


def test_an_outage_holds_a_transfer_until_capacity_returns() -> None:
    up = link([0.0, 1.0, 2.0], [1.0, 0.0, 1.0], 3.0)
    _, end = up.transfer(0.5, 1e6)  # 0.5 Mbit before the outage, 0.5 after it
    assert end == pytest.approx(2.5)
    _, end = link([0.0, 1.0, 2.0], [1.0, 0.0, 1.0], 3.0).transfer(0.0, 1e6)
    assert end == pytest.approx(1.0)  # ends as the outage begins, not after it


def test_the_trace_loops_and_the_offset_shifts_it() -> None:
    up = link([0.0, 1.0], [1.0, 3.0], 2.0)  # 4 Mbit per 2-s period
    _, end = up.transfer(0.0, 9e6)  # two periods (8 Mbit) and 1 Mbit more
    assert end == pytest.approx(5.0)
    shifted = link([0.0, 1.0], [1.0, 3.0], 2.0, offset=1.0)  # starts in the fast part
    _, end = shifted.transfer(0.0, 3e6)
    assert end == pytest.approx(1.0)
    assert shifted.capacity_bps(0.5) == 3e6
    assert shifted.capacity_bps(1.5) == 1e6


def test_scale_multiplies_capacity() -> None:
    up = link([0.0], [10.0], 1.0, scale=0.5)
    assert up.transfer(0.0, 5e6)[1] == pytest.approx(1.0)
    assert up.mean_bps() == pytest.approx(5e6)


def test_probe_and_alone_leave_the_queue_untouched() -> None:
    up = link([0.0], [1.0], 10.0)
    up.transfer(0.0, 1e6)
    assert up.probe(0.0, 1e6) == (pytest.approx(1.0), pytest.approx(2.0))
    assert up.alone(0.0, 1e6) == pytest.approx(1.0)
    assert up.transfer(0.0, 1e6)[1] == pytest.approx(2.0)


def test_inverse_is_consistent_over_many_random_points() -> None:
    rng = np.random.default_rng(3)
    times = np.concatenate(([0.0], np.sort(rng.uniform(0, 50, 40))))
    mbps = rng.uniform(0, 20, times.size)
    table = TraceTable.of(Trace("r", "file", times, mbps, 60.0))
    for t in rng.uniform(0, 500, 200):
        assert table.time_at(table.bits_at(t)) <= t + 1e-9
        assert table.bits_at(table.time_at(table.bits_at(t))) == pytest.approx(table.bits_at(t))
