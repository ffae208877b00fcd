"""The cumulative-capacity table's exact values and its period boundaries, a link's
backlog, and LinkArrays: many links' transfers at once equal to the scalar transfers
one by one, sharing the links' state, and handing back the rows it cannot do."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.sim.links import LinkArrays, LinkDirection, TraceTable
from edgeoffload.traces import Trace


def table(times: list[float], mbps: list[float], duration: float) -> TraceTable:
    return TraceTable.of(Trace("t", "file", np.array(times), np.array(mbps), duration))


# 2 Mbit/s for 1 s, an outage for 1 s, 4 Mbit/s for 2 s: 10 Mbit a 4 s period.
STEPS = table([0.0, 1.0, 2.0], [2.0, 0.0, 4.0], 4.0)
# 1 Mbit/s then an outage to the end of the period: 1 Mbit a 2 s period.
TAIL = table([0.0, 1.0], [1.0, 0.0], 2.0)


def test_the_table_integrates_and_loops() -> None:
    assert (STEPS.period_s, STEPS.period_bits) == (4.0, 10e6)
    assert STEPS.bits_at(0.5) == 1e6
    assert STEPS.bits_at(1.5) == 2e6  # nothing in the outage
    assert STEPS.bits_at(3.0) == 6e6
    assert STEPS.bits_at(5.0) == 12e6  # one period and one second
    assert STEPS.time_at(0.0) == 0.0
    assert STEPS.time_at(2e6) == 1.0  # the earliest time: before the outage, not after
    assert STEPS.time_at(4e6) == 2.5
    assert STEPS.time_at(11e6) == 4.5


def test_a_period_boundary_after_a_trailing_outage_lands_before_the_outage() -> None:
    # 1 Mbit is through at 1 s, not at 2 s (where the period ends).
    assert TAIL.time_at(1e6) == 1.0
    assert TAIL.time_at(2e6) == 3.0
    up = LinkDirection(TAIL, 0.0, 1.0)
    assert up.transfer(0.0, 1e6) == (0.0, 1.0)
    # The next transfer waits out the outage: the next period starts at 2 s.
    assert up.transfer(1.0, 0.5e6) == (1.0, 2.5)


def test_backlog_is_the_wait_behind_queued_transfers() -> None:
    up = LinkDirection(STEPS, 0.0, 1.0)
    assert up.backlog_s(0.0) == 0.0
    up.transfer(0.0, 4e6)  # 2 Mbit by 1 s, the outage, 2 Mbit more by 2.5 s
    assert up.free_s == 2.5 and up.free_bits == 4e6
    assert up.backlog_s(0.5) == 2.0 and up.backlog_s(3.0) == 0.0


def test_an_empty_transfer_takes_no_time_and_leaves_the_link_at_now() -> None:
    up = LinkDirection(STEPS, 0.0, 1.0)
    assert up.transfer(0.5, 0.0) == (0.5, 0.5)
    # The link's position is the capacity up to now (1 Mbit by 0.5 s): idle, no backlog.
    assert up.free_s == 0.5 and up.free_bits == 1e6 and up.backlog_s(0.5) == 0.0
    assert up.alone(0.5, 0.0) == 0.5 and up.alone(0.5, 1e6) == 1.0


def links(n: int, rng: np.random.Generator) -> list[LinkDirection]:
    tables = [STEPS, TAIL, table([0.0, 0.3], [5.0, 1.5], 0.7)]
    return [
        LinkDirection(
            tables[i % 3], float(rng.uniform(0.0, 3.0)), float(rng.choice([0.5, 1.0, 2.0]))
        )
        for i in range(n)
    ]


def test_rows_equal_scalar_transfers_bit_for_bit_over_many_rounds() -> None:
    rng = np.random.default_rng(3)
    scalar = links(12, np.random.default_rng(4))
    vector = links(12, np.random.default_rng(4))
    arrays = LinkArrays(vector)
    index = np.arange(12, dtype=np.int64)
    clock = 0.0
    for _ in range(30):
        clock += float(rng.exponential(0.2))
        t = clock + rng.uniform(0.0, 0.1, 12)
        bits = rng.lognormal(13, 1.5, 12)  # some queue behind the previous transfer
        start, end, done = arrays.transfer(index, t, bits)
        for i in range(12):
            expected = scalar[i].transfer(float(t[i]), float(bits[i]))
            if done[i]:
                assert (float(start[i]), float(end[i])) == expected
            else:  # the caller does such rows with the scalar method
                assert vector[i].transfer(float(t[i]), float(bits[i])) == expected
    # The link objects read their state from the arrays.
    assert [v.free_bits for v in vector] == [s.free_bits for s in scalar]
    assert [v.free_s for v in vector] == [s.free_s for s in scalar]
    assert list(arrays.free_bits) == [v.free_bits for v in vector]


def test_rows_it_cannot_do_are_left_untouched() -> None:
    vector = [LinkDirection(STEPS, 0.0, 1.0), LinkDirection(STEPS, 0.0, 1.0)]
    arrays = LinkArrays(vector)
    index = np.array([0, 1], dtype=np.int64)
    # Row 0 empty; row 1 ends exactly on the period boundary (10 Mbit from 0).
    _, _, done = arrays.transfer(index, np.array([0.5, 0.0]), np.array([0.0, 10e6]))
    assert done.tolist() == [False, False]
    assert list(arrays.free_bits) == [0.0, 0.0] and list(arrays.free_s) == [0.0, 0.0]
    # A plain row next to an empty one is done and counted.
    _, end, done = arrays.transfer(index, np.array([0.5, 0.0]), np.array([0.0, 3e6]))
    assert done.tolist() == [False, True]
    assert end[1] == pytest.approx(2.25) and arrays.free_bits[1] == 3e6
    assert vector[1].free_s == end[1]


def test_a_link_belongs_to_the_last_arrays_built_over_it() -> None:
    up = LinkDirection(STEPS, 0.0, 1.0)
    up.transfer(0.0, 1e6)
    first = LinkArrays([up])
    assert list(first.free_bits) == [1e6]  # the state moved in
    second = LinkArrays([LinkDirection(TAIL, 0.0, 1.0), up])
    up.transfer(0.0, 1e6)
    assert list(second.free_bits) == [0.0, 2e6]
    assert list(first.free_bits) == [1e6]  # no longer the link's
