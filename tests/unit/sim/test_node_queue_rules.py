"""NodeQueue rules test_node_queue.py leaves out: a priority node's admission, order,
expiry, refusal and finish through the real scheduler; an input cache learning what
arrives; a full FIFO node freed by held finishes; a crash on a priority node; and
occurrence(), the wave number of the numpy arrival batches; and the arrival stream's
order: equal times as queued, an earlier arrival replacing the delivery event, another
event in between, the run's bound."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.sim.node_queue import NodeQueue, occurrence
from edgeoffload.sim.radio import Radio
from edgeoffload.sim.state import SimState
from edgeoffload.sim.table import Outcome, Reason

from .conftest import NodeHooks, Recorder, add_tasks, small, state_of

DROPPED, EXPIRED = int(Outcome.DROPPED), int(Reason.DEADLINE_EXPIRED)


def _queue(st: SimState) -> tuple[NodeQueue, Recorder]:
    rec = Recorder()
    return NodeQueue(st, NodeHooks(rec)), rec


def _nodes(**fields: Any) -> list[dict[str, Any]]:
    return [{"count": 2, "cores": 1, "speed_hz": 1e9, "dvfs_levels": [1.0], **fields}]


def test_a_priority_node_orders_by_priority_then_deadline_then_arrival() -> None:
    st = state_of(small(nodes=_nodes(discipline="priority")))
    queue, rec = _queue(st)
    assert st.plain_fifo == [False, False]
    # 1e8 cycles at 1 GHz: 0.1 s each, one core. One transfer brings all four; the node
    # admits them all before it starts any: priority 5 first, then among priority 0 the
    # earlier deadline (d), then arrival order (a before b).
    a, b, c, d = add_tasks(
        st, 4, cpu_cycles=1e8, deadline_s=[10.0, 10.0, 10.0, 5.0], priority=[0, 0, 5, 0]
    )
    st.tasks.put(slice(a, d + 1), compute_by_s=10.0)
    queue.arrive((0, [a, b, c, d]))
    t, node = st.tasks, st.nodes[0]
    assert (t.start_s[c], t.finish_s[c]) == (0.0, pytest.approx(0.1))
    assert list(node.pending) == [a, b, c, d] and node.idle == 0
    st.engine.run()
    assert [tid for tid, _, _ in rec.node_done] == [c, d, a, b]
    assert [t.start_s[i] for i in (c, d, a, b)] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert node.pending == {} and node.idle == 1
    assert node.busy_s == pytest.approx(0.4) and rec.closed == []


def test_a_priority_node_drops_what_expires_in_its_queue() -> None:
    st = state_of(small(nodes=_nodes(discipline="priority")))
    queue, rec = _queue(st)
    (long,) = add_tasks(st, 1, cpu_cycles=5e8, deadline_s=10.0)  # 0.5 s
    (short,) = add_tasks(st, 1, deadline_s=0.2)  # queued behind it: cannot start by 0.2
    st.tasks.put(slice(long, short + 1), compute_by_s=10.0)
    queue.arrive((0, [long]))  # starts at once
    queue.arrive((0, [short]))
    st.engine.run()
    assert rec.closed == [(short, pytest.approx(0.5), DROPPED, EXPIRED)]
    assert [tid for tid, _, _ in rec.node_done] == [long]
    assert st.nodes[0].expired == 1 and st.nodes[0].pending == {}


def test_a_priority_node_refuses_beyond_its_bound_and_a_spent_budget_at_once() -> None:
    st = state_of(small(nodes=_nodes(discipline="priority", max_pending=1)))
    queue, rec = _queue(st)
    a, b = add_tasks(st, 2, cpu_cycles=1e8, deadline_s=10.0)
    st.tasks.put(slice(a, b + 1), compute_by_s=10.0)
    queue.arrive((0, [a, b]))
    assert rec.resubmitted == [(b, 0)] and st.nodes[0].refused_overloaded == 1
    # A task whose deadline passed before it arrived is dropped, not queued.
    (late,) = add_tasks(st, 1, created_s=-1.0, deadline_s=0.5)
    queue.arrive((1, [late]))
    assert rec.closed == [(late, 0.0, DROPPED, EXPIRED)] and st.nodes[1].expired == 1


def test_a_crashed_priority_node_voids_the_running_finish_and_refuses_arrivals() -> None:
    st = state_of(small(nodes=_nodes(discipline="priority")))
    queue, rec = _queue(st)
    (a,) = add_tasks(st, 1, cpu_cycles=1e8, deadline_s=10.0)
    st.tasks.put(slice(a, a + 1), compute_by_s=10.0)
    queue.arrive((0, [a]))
    assert st.nodes[0].crash(0.05) == [a]
    (b,) = add_tasks(st, 1, deadline_s=10.0)
    queue.arrive((0, [b]))
    assert rec.resubmitted == [(b, 0)] and st.nodes[0].refused_down == 1
    st.engine.run()
    assert rec.node_done == []  # the old epoch's finish is void


def test_an_input_cache_learns_keyed_inputs_unless_they_were_a_hit() -> None:
    st = state_of(small(nodes=_nodes(cache={"input_items": 4})))
    queue, _ = _queue(st)
    a, b, c = add_tasks(st, 3, key=[1, 2, -1], deadline_s=10.0)
    st.tasks.input_cache_hit[b] = 1  # its input was already there: nothing new to learn
    queue.arrive((0, [a, b, c]))
    cache = st.nodes[0].input_cache
    assert cache is not None
    assert 1 in cache and 2 not in cache and len(cache) == 1
    assert list(st.nodes[0].pending) == [a, b, c]  # all three run


def test_a_full_fifo_node_first_carries_out_the_finishes_held_back() -> None:
    st = state_of(small(nodes=_nodes(max_pending=1)))
    queue, rec = _queue(st)
    radio_rec = Recorder()
    queue.hold_finishes(Radio(st, radio_rec.close, queue.arrive))
    (a,) = add_tasks(st, 1, cpu_cycles=1e8, deadline_s=10.0)
    st.tasks.put(slice(a, a + 1), compute_by_s=10.0)
    queue.arrive((0, [a]))  # finishes at 0.1, held back
    (b,) = add_tasks(st, 1, cpu_cycles=1e8, deadline_s=10.0)
    st.tasks.put(slice(b, b + 1), compute_by_s=10.0)
    st.engine.advance(0.2)  # the event being processed is at 0.2
    queue.arrive((0, [b]))
    # a's finish came before now: carried out, so b found room.
    assert rec.resubmitted == [] and list(st.nodes[0].pending) == [b]
    assert [tid for tid, *_ in radio_rec.closed] == [a]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([7], [0]),
        ([3, 1, 3, 3, 1, 2], [0, 0, 1, 2, 1, 0]),
        ([5, 5, 5, 5], [0, 1, 2, 3]),
    ],
)
def test_occurrence_counts_earlier_equal_entries(values: list[int], expected: list[int]) -> None:
    got = occurrence(np.array(values, dtype=np.int64))
    assert got.dtype == np.int64 and got.tolist() == expected


def test_occurrence_agrees_with_a_plain_count() -> None:
    values = np.random.default_rng(2).integers(0, 6, 300)
    seen: dict[int, int] = {}
    expected = []
    for v in values.tolist():
        expected.append(seen.get(v, 0))
        seen[v] = seen.get(v, 0) + 1
    assert occurrence(values).tolist() == expected


def _held(st: SimState) -> NodeQueue:
    """A queue whose finishes are held back: the engine's events are the deliveries."""
    queue, _ = _queue(st)
    radio = Recorder()
    queue.hold_finishes(Radio(st, radio.close, queue.arrive))
    return queue


def test_the_stream_delivers_equal_times_in_the_order_queued() -> None:
    st = state_of(small())
    queue = _held(st)
    a, b, c, d = add_tasks(st, 4, deadline_s=10.0)
    queue.stream.add([(0.3, 0, [a]), (0.1, 0, [b])])  # any order within one add
    queue.stream.add([(0.1, 0, [c]), (0.3, 0, [d])])
    st.engine.run(1.0)
    # At 0.1: b (queued first), then c; at 0.3: a, then d.
    assert list(st.nodes[0].pending) == [b, c, a, d]
    assert st.engine.events == 2  # one per arrival time


def test_an_earlier_arrival_replaces_the_delivery_event_and_the_old_one_is_void() -> None:
    st = state_of(small())
    queue = _held(st)
    a, b = add_tasks(st, 2, deadline_s=10.0)
    queue.stream.add([(0.5, 0, [a])])
    queue.stream.add([(0.2, 0, [b])])
    st.engine.run(1.0)
    assert list(st.nodes[0].pending) == [b, a]
    assert (st.tasks.node_arrival_s[a], st.tasks.node_arrival_s[b]) == (0.5, 0.2)
    assert st.engine.events == 2  # the replaced event is not counted


def test_another_event_between_two_arrivals_sees_only_the_first() -> None:
    st = state_of(small())
    queue = _held(st)
    a, b = add_tasks(st, 2, deadline_s=10.0)
    seen: list[tuple[float, float, float]] = []
    t = st.tasks
    queue.stream.add([(0.2, 0, [a]), (0.6, 0, [b])])

    def look(_: object) -> None:
        seen.append((st.engine.now, t.node_arrival_s[a], t.node_arrival_s[b]))

    st.engine.schedule(0.4, look, None)
    st.engine.run(1.0)
    assert seen[0][:2] == (0.4, 0.2) and seen[0][2] != seen[0][2]  # b not yet (NaN)
    assert t.node_arrival_s[b] == 0.6 and st.engine.events == 3


def test_the_stream_stops_at_the_runs_bound_and_goes_on_in_the_next() -> None:
    st = state_of(small())
    queue = _held(st)
    a, b = add_tasks(st, 2, deadline_s=10.0)
    queue.stream.add([(0.2, 0, [a]), (0.3, 0, [b])])
    st.engine.run(0.25)
    assert list(st.nodes[0].pending) == [a]
    st.engine.run(1.0)
    assert list(st.nodes[0].pending) == [a, b] and st.tasks.node_arrival_s[b] == 0.3
