"""The nodes' queues (sim/node_queue.py): FIFO admission on the earliest free core,
refusals and drops, void finishes after a crash, result caches, the arrival stream's
time order and the held-back finishes."""

from __future__ import annotations

from typing import Any

import pytest

from edgeoffload.sim.node_queue import NodeQueue
from edgeoffload.sim.radio import Radio
from edgeoffload.sim.state import SimState
from edgeoffload.sim.table import Outcome, Reason

from .conftest import NodeHooks, Recorder, add_tasks, small, state_of


def _queue(st: SimState) -> tuple[NodeQueue, Recorder]:
    rec = Recorder()
    return NodeQueue(st, NodeHooks(rec)), rec


def _nodes(**fields: Any) -> list[dict[str, Any]]:
    return [{"count": 2, "cores": 4, "speed_hz": 3e9, "dvfs_levels": [0.6, 0.8, 1.0], **fields}]


def test_fifo_starts_on_the_earliest_free_core_at_the_lowest_level_that_makes_it() -> None:
    st = state_of(small())
    queue, rec = _queue(st)
    ids = add_tasks(st, 5, cpu_cycles=[3e8, 6e8, 9e8, 1.2e9, 3e8], deadline_s=10.0)
    st.tasks.put(slice(0, 5), compute_by_s=10.0)
    queue.arrive((0, ids))
    t = st.tasks
    runs = [c / (3e9 * 0.6) for c in (3e8, 6e8, 9e8, 1.2e9)]  # time to spare: 0.6
    assert [t.start_s[i] for i in ids[:4]] == [0.0] * 4
    assert [t.finish_s[i] for i in ids[:4]] == runs
    assert t.start_s[ids[4]] == runs[0]  # the first core to free
    assert [t.level[i] for i in ids] == [0.6] * 5
    node = st.nodes[0]
    assert list(node.pending) == ids
    assert node.busy_s == pytest.approx(sum(runs) + runs[0])
    assert len(st.engine.heap) == 5 and rec.closed == rec.resubmitted == []


def test_a_task_that_cannot_start_before_its_deadline_is_dropped() -> None:
    st = state_of(small())
    queue, rec = _queue(st)
    busy = add_tasks(st, 4, cpu_cycles=6e9, deadline_s=100.0)
    (late,) = add_tasks(st, 1, deadline_s=0.5)
    queue.arrive((0, [*busy, late]))
    assert rec.closed == [(late, 0.0, int(Outcome.DROPPED), int(Reason.DEADLINE_EXPIRED))]
    assert st.nodes[0].expired == 1 and late not in st.nodes[0].pending


def test_a_full_node_and_a_down_node_send_the_task_back() -> None:
    st = state_of(small(nodes=_nodes(max_pending=2)))
    queue, rec = _queue(st)
    a, b, c = add_tasks(st, 3, deadline_s=10.0)
    queue.arrive((0, [a, b, c]))
    assert rec.resubmitted == [(c, 0)] and st.nodes[0].refused_overloaded == 1
    st.nodes[1].crash(0.0)
    (d,) = add_tasks(st, 1)
    queue.arrive((1, [d]))
    assert rec.resubmitted[-1] == (d, 1) and st.nodes[1].refused_down == 1
    assert st.tasks.node_arrival_s[d] == 0.0


def test_a_finish_from_before_a_crash_is_void() -> None:
    st = state_of(small())
    queue, rec = _queue(st)
    a, b = add_tasks(st, 2, deadline_s=10.0)
    queue.arrive((0, [a]))
    queue.arrive((1, [b]))
    st.nodes[0].crash(0.01)
    st.engine.run()
    assert rec.node_done == [(b, 1, st.tasks.finish_s[b])]
    assert st.nodes[1].pending == {}


def test_a_result_cache_answers_at_once() -> None:
    apps = {
        "frame": {"cpu_cycles": 2e8, "input_bytes": 1e4, "output_bytes": 500, "cacheable": True}
    }
    st = state_of(small(apps=apps, nodes=_nodes(cache={"result_items": 10})))
    queue, rec = _queue(st)
    first, again = add_tasks(st, 2, key=7, deadline_s=10.0)
    queue.arrive((0, [first]))
    st.engine.run()  # it runs; its result is kept
    queue.arrive((0, [again]))
    t = st.tasks
    assert t.result_cache_hit[again] == 1 and t.service_s[again] == 0.0
    assert rec.node_done[-1] == (again, 0, st.engine.now)


def test_the_stream_delivers_in_time_order_one_event_per_arrival_time() -> None:
    st = state_of(small())
    queue, _ = _queue(st)
    a, b, c = add_tasks(st, 3, deadline_s=10.0)
    queue.stream.add([(0.3, 0, [a]), (0.1, 1, [b]), (0.3, 1, [c])])
    st.engine.run(0.2)
    t = st.tasks
    assert t.node_arrival_s[b] == 0.1 and t.node_arrival_s[a] != t.node_arrival_s[a]  # NaN
    st.engine.run(0.35)
    assert (t.node_arrival_s[a], t.node_arrival_s[c]) == (0.3, 0.3)
    # As from one event per arrival time (two), with b's finish in between.
    assert st.tasks.finish_s[b] < 0.3
    assert st.engine.events == 3


def test_held_finishes_run_only_once_something_needs_them() -> None:
    st = state_of(small())
    queue, _ = _queue(st)
    rec = Recorder()
    queue.hold_finishes(Radio(st, rec.close, queue.arrive))
    ids = add_tasks(st, 3, cpu_cycles=[3e8, 6e8, 9e8], deadline_s=10.0)
    queue.arrive((0, ids))
    assert st.engine.heap == []  # no finish events: held back
    t = st.tasks
    st.engine.advance(t.finish_s[ids[1]] + 1e-9)
    queue.sync()  # the first two finished before the current event
    assert [tid for tid, *_ in rec.closed] == ids[:2]
    assert list(st.nodes[0].pending) == [ids[2]]
    queue.flush_until(float("inf"))
    assert [tid for tid, *_ in rec.closed] == ids
