"""Hypothesis: any sequence of events keeps the owner's books right and delivers once.

The events are what a real client could see, in any order: submits (single and
batched, with and without deadlines, some registered locally), answers from any node
for any id (right, late, forged, duplicate), refusals, nodes going up, down, draining
and back, timers firing, cancels. After every event the per-node index must agree
with the tasks' fields (issue 11's bug broke exactly this); at the end, after a close,
every task must have had exactly one outcome.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import edgeoffload.examples.tasks  # noqa: F401  (registers echo)
from edgeoffload.client.latency import TaskLatency
from edgeoffload.client.ownership import (
    LOCAL,
    ArmTimer,
    BatchSubmitted,
    CancelRequested,
    CancelTimer,
    Closing,
    Decided,
    Deliver,
    DeliverBatch,
    ErrorReceived,
    Event,
    LocalDone,
    NodeDown,
    NodeDraining,
    NodeResumed,
    NodeUp,
    Ownership,
    ResultReceived,
    ResultsReceived,
    StartLocalRun,
    Submitted,
    Timer,
    TimerFired,
    TimerKind,
)
from edgeoffload.client.placement import LeastInFlight
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Error, Result
from edgeoffload.tasks import spec_of

NODES = ("A", "B", "C")
ECHO = spec_of("echo")

steps = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.booleans(), st.booleans(), st.booleans()),
        st.tuples(st.just("batch"), st.integers(1, 5), st.booleans()),
        st.tuples(st.just("result"), st.integers(0, 6), st.integers(0, 3)),
        st.tuples(st.just("results"), st.integers(0, 6), st.integers(0, 3)),
        st.tuples(
            st.just("error"),
            st.integers(0, 6),
            st.integers(0, 3),
            st.sampled_from([ErrorCode.OVERLOADED, ErrorCode.DRAINING, ErrorCode.TASK_FAILED]),
        ),
        st.tuples(st.just("up"), st.sampled_from(NODES)),
        st.tuples(st.just("down"), st.sampled_from(NODES)),
        st.tuples(st.just("drain"), st.sampled_from(NODES)),
        st.tuples(st.just("resume"), st.sampled_from(NODES)),
        st.tuples(st.just("fire"), st.integers(0, 12)),
        st.tuples(st.just("local_done"), st.integers(1, 6)),
        st.tuples(st.just("cancel"), st.integers(1, 6)),
        st.tuples(st.just("decide"), st.sampled_from((*NODES, LOCAL))),
    ),
    min_size=20,
    max_size=80,
)


class World:
    """The owner plus what an executor would remember: armed timers, started local
    runs, outcomes delivered."""

    def __init__(self) -> None:
        latency = TaskLatency(min_samples=1)
        latency.add("echo", 0.01)
        self.o = Ownership(LeastInFlight(), max_attempts=3, hedge=True, latency=latency)
        self.now = 0.0
        self.timers: dict[Timer, float] = {}
        self.local: set[int] = set()
        self.delivered: dict[int, int] = {}
        self.submitted = 0
        self.undecided: list[int] = []
        for node in NODES[:2]:  # two nodes up from the start: hedges and moves happen
            self.feed(NodeUp(node, frozenset({"echo"})))

    def feed(self, event: Event) -> None:
        self.now += 0.001
        for ins in self.o.handle(event, self.now):
            if isinstance(ins, ArmTimer):
                self.timers[ins.timer] = ins.at
            elif isinstance(ins, CancelTimer):
                self.timers.pop(ins.timer, None)
            elif isinstance(ins, StartLocalRun):
                self.local.add(ins.task_id)
            elif isinstance(ins, Deliver):
                self.delivered[ins.task_id] = self.delivered.get(ins.task_id, 0) + 1
            elif isinstance(ins, DeliverBatch):
                for i in range(len(ins.values)):
                    task_id = ins.first_id + i
                    self.delivered[task_id] = self.delivered.get(task_id, 0) + 1
            elif type(ins).__name__ == "Decide":
                self.undecided = [t.id for t in ins.tasks]  # type: ignore[attr-defined]
        self.check()

    def check(self) -> None:
        """The per-node index is exactly what the tasks' fields and batches say."""
        o = self.o
        for node in (*NODES, LOCAL):
            expected = sum(1 for t in o.tasks.values() if node in (t.node, t.hedge))
            expected += sum(b.on_node for b in o.batches.values() if b.node == node)
            assert o.in_flight(node) == expected, node
        assert all(n == 1 for n in self.delivered.values()), self.delivered

    def target(self, pick: int, which: int) -> tuple[str, int]:
        """An answer's sender and id: mostly a live task at its node or hedge node (the
        interesting case), sometimes any node (fencing) or a settled id (duplicates)."""
        live = sorted({*self.o.tasks, *self.o._batch_of})
        if not live or which == 3:
            return NODES[pick % len(NODES)], pick + 1
        task_id = live[pick % len(live)]
        t = self.o.tasks.get(task_id)
        placed = t.node if t is not None else self.o._batch_of[task_id].node
        hedge = t.hedge if t is not None else None
        node = {0: placed, 1: hedge or placed, 2: NODES[pick % len(NODES)]}[which]
        return (node or NODES[0]), task_id

    def step(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "submit":
            _, local, deadline, auto = step
            where = "auto" if auto else ("local" if local else "edge")
            spec = ECHO  # registered here: hedging applies (echo is idempotent)
            task_id = self.o.next_id()
            self.submitted += 1
            self.feed(Submitted(task_id, "echo", [1], 0, 0.05 if deadline else None, where, spec))
        elif kind == "batch":
            _, n, deadline = step
            first = self.o.next_ids(n)
            self.submitted += n
            args = [[i] for i in range(n)]
            self.feed(BatchSubmitted(first, "echo", args, 0, 0.05 if deadline else None))
        elif kind == "result":
            node, task_id = self.target(step[1], step[2])
            self.feed(ResultReceived(node, Result(task_id, "v")))
        elif kind == "results":
            node, task_id = self.target(step[1], step[2])
            items: list[Result | Error] = [Result(task_id, "v"), Result(task_id + 1, "w")]
            self.feed(ResultsReceived(node, items))
        elif kind == "error":
            node, task_id = self.target(step[1], step[2])
            self.feed(ErrorReceived(node, Error(task_id, step[3], "no")))
        elif kind == "up":
            self.feed(NodeUp(step[1], frozenset({"echo"})))
        elif kind == "down":
            self.feed(NodeDown(step[1], "closed"))
        elif kind == "drain":
            self.feed(NodeDraining(step[1]))
        elif kind == "resume":
            self.feed(NodeResumed(step[1]))
        elif kind == "fire" and self.timers:
            timer = _sorted(self.timers)[step[1] % len(self.timers)]
            self.now = max(self.now, self.timers.pop(timer))
            self.feed(TimerFired(timer))
        elif kind == "local_done" and step[1] in self.local:
            self.local.discard(step[1])
            self.feed(LocalDone(step[1], True, 1, 0.001))
        elif kind == "cancel":
            self.feed(CancelRequested(step[1]))
        elif kind == "decide" and self.undecided:
            choices = tuple((i, step[1], None) for i in self.undecided)
            self.undecided = []
            self.feed(Decided(choices))


def _sorted(timers: dict[Timer, float]) -> list[Timer]:
    return sorted(timers, key=lambda t: (t.kind.value, t.task_id))


@settings(max_examples=500, deadline=None)
@given(steps)
def test_any_event_sequence_keeps_the_books_and_delivers_each_task_once(
    sequence: list[tuple[Any, ...]],
) -> None:
    world = World()
    for step in sequence:
        world.step(step)
    world.feed(Closing())
    assert len(world.o) == 0
    assert sorted(world.delivered) == list(range(1, world.submitted + 1))
    assert set(world.timers) <= {Timer(TimerKind.DECIDE)}  # nothing left armed for a task
