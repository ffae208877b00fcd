"""The event heap: time order, FIFO ties, priorities, stop and resume, causality."""

from __future__ import annotations

import pytest

from edgeoffload.sim.engine import NORMAL, URGENT, Engine


def test_events_run_in_time_order_with_fifo_ties() -> None:
    engine = Engine()
    seen: list[tuple[float, str]] = []
    for at, name in [(2.0, "c"), (1.0, "a"), (1.0, "b"), (0.5, "first")]:
        engine.schedule(at, lambda n: seen.append((engine.now, n)), name)
    assert engine.run() is False
    assert seen == [(0.5, "first"), (1.0, "a"), (1.0, "b"), (2.0, "c")]
    assert engine.events == 4


def test_priority_breaks_ties_before_sequence() -> None:
    engine = Engine()
    seen: list[str] = []
    engine.schedule(1.0, seen.append, "normal", NORMAL)
    engine.schedule(1.0, seen.append, "urgent", URGENT)
    engine.run()
    assert seen == ["urgent", "normal"]


def test_callbacks_schedule_more_and_run_until_stops_at_the_horizon() -> None:
    engine = Engine()
    ticks: list[float] = []

    def tick(_: object) -> None:
        ticks.append(engine.now)
        engine.schedule(engine.now + 1.0, tick)

    engine.schedule(0.0, tick)
    engine.run(until=3.5)
    assert ticks == [0.0, 1.0, 2.0, 3.0]
    assert engine.now == 3.5
    assert engine.peek() == 4.0


def test_stop_returns_and_run_resumes() -> None:
    engine = Engine()
    seen: list[int] = []

    def record(i: int) -> None:
        seen.append(i)
        if i == 1:
            engine.stop()

    for i in range(4):
        engine.schedule(float(i), record, i)
    assert engine.run() is True
    assert seen == [0, 1]
    assert engine.run() is False
    assert seen == [0, 1, 2, 3]


def test_scheduling_in_the_past_is_refused() -> None:
    engine = Engine()
    engine.schedule(5.0, lambda _: engine.schedule(4.0, print))
    with pytest.raises(ValueError, match="in the past"):
        engine.run()


def test_events_outside_the_heap_move_the_clock_and_count_through_methods() -> None:
    engine = Engine()
    seen: list[float] = []
    engine.schedule(1.0, lambda _: seen.append(engine.now))
    engine.advance(0.25)  # an event processed outside the heap
    assert (engine.now, engine.events) == (0.25, 1)
    assert engine.current[0] == 0.25 and engine.current[2] > -1
    engine.advance(0.5, counted=False)
    engine.count(3)  # a batch of them
    assert (engine.now, engine.events) == (0.5, 4)
    first, second = engine.next_seq(), engine.next_seq()
    assert second == first + 1  # the heap's own sequence
    engine.run()
    assert seen == [1.0] and engine.events == 5
    engine.void()  # the last one was void
    assert engine.events == 4
    engine.settle(0.75)  # earlier than now: the clock stays
    assert engine.now == 1.0
    engine.settle(2.0)
    assert engine.now == 2.0
