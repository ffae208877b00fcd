"""The client's table of the tasks it owns, as pure logic.

The caller owns its tasks (Ray's ownership model): the client keeps every task it
submitted until exactly one outcome has been delivered to its caller. The table knows
where each task is placed now; the I/O layer asks it what to do on each event:

- a result or error from node N for task i: delivered only if i is pending *and* placed
  on N now. A late answer from a node the task has left (it was resubmitted after that
  node dropped, refused or was declared dead) is dropped: this is the fencing that makes
  delivery exactly-once.
- node N lost: every task placed on N is returned for placement elsewhere.

Ids are unique per client (a counter), across nodes, so a resubmitted task keeps its
id and any answer about it names it unambiguously.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..tasks import TaskSpec

Where = Literal["auto", "local", "edge"]
#: Placement of a task that runs on the client itself.
LOCAL = "local"

#: Called once with (value, None) or (None, exception).
Done = Callable[[Any, BaseException | None], None]


@dataclass(slots=True, eq=False)
class Pending:
    """One owned task and where it is now."""

    id: int
    task: str
    args: list[Any]
    priority: int
    deadline_at: float | None  # client loop time; None: no deadline
    where: Where
    spec: TaskSpec | None  # the local registration, if any (enables local runs)
    on_done: Done
    node: str | None = None  # node id, LOCAL, or None while unplaced
    hedge: str | None = None  # node running a second copy (hedged request), if any
    attempts: int = 0
    sent_at: float = 0.0  # when it was last sent to a node (client loop time)
    timer: Any = None  # the I/O layer's deadline timer handle
    hedge_timer: Any = None
    choice: Any = None  # the decision engine's choice, when where="auto" decided it
    excluded: set[str] | None = None  # nodes that refused it (made on first refusal)

    @property
    def can_run_locally(self) -> bool:
        return self.spec is not None and self.where != "edge"


class OwnerTable:
    """Every pending task of one client, by id and by node."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts
        self._ids = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self._by_node: dict[str, set[int]] = {}
        self.duplicates_dropped = 0
        self.resubmitted = 0
        self.hedges = 0
        self.hedge_wins = 0

    def create(
        self,
        task: str,
        args: list[Any],
        *,
        priority: int,
        deadline_at: float | None,
        where: Where,
        spec: TaskSpec | None,
        on_done: Done,
    ) -> Pending:
        """Register a new task (not yet placed)."""
        p = Pending(next(self._ids), task, args, priority, deadline_at, where, spec, on_done)
        self._pending[p.id] = p
        return p

    def place(self, p: Pending, node: str) -> bool:
        """Record that ``p`` is sent to ``node`` (or LOCAL).

        Returns False when the task has used up its attempts: the caller fails it.
        """
        if p.attempts >= self.max_attempts:
            return False
        p.attempts += 1
        if p.attempts > 1:
            self.resubmitted += 1
        p.node = node
        self._on(node).add(p.id)
        return True

    def add_hedge(self, p: Pending, node: str) -> None:
        """A second copy of ``p`` runs on ``node``; an answer from either counts."""
        p.hedge = node
        self._on(node).add(p.id)
        self.hedges += 1

    def drop_hedge(self, p: Pending) -> None:
        if p.hedge is not None:
            self._on(p.hedge).discard(p.id)
            p.hedge = None

    def drop_copy(self, p: Pending, node: str) -> None:
        """One copy of a hedged task ended without a result on ``node``: the other copy
        becomes the task's only placement, in the task and in the per-node index."""
        if node == p.hedge:
            self.drop_hedge(p)
        elif node == p.node and p.hedge is not None:
            self._on(node).discard(p.id)
            p.node, p.hedge = p.hedge, None

    def _on(self, node: str) -> set[int]:
        ids = self._by_node.get(node)
        if ids is None:
            ids = self._by_node[node] = set()
        return ids

    def unplace(self, p: Pending) -> None:
        """The task left its node (refused there); it waits for a new placement."""
        if p.node is not None:
            self._on(p.node).discard(p.id)
            p.node = None

    def take(self, task_id: int, node: str) -> Pending | None:
        """Claim the task for delivery of an answer that came from ``node``.

        Returns None for an answer that must be dropped: unknown id (already delivered)
        or a task that is no longer placed on that node (fenced). For a hedged task an
        answer from either copy's node counts (the first wins; cancel the other).
        """
        p = self._pending.get(task_id)
        if p is None or (p.node != node and p.hedge != node):
            self.duplicates_dropped += 1
            return None
        del self._pending[task_id]
        self._forget(p)
        if node == p.hedge:
            self.hedge_wins += 1
        return p

    def _forget(self, p: Pending) -> None:
        for where in (p.node, p.hedge):
            if where is not None:
                self._on(where).discard(p.id)

    def get(self, task_id: int) -> Pending | None:
        """The pending task with this id, wherever it is."""
        return self._pending.get(task_id)

    def peek(self, task_id: int, node: str) -> Pending | None:
        """The task if it is pending on ``node`` (an answer from there counts)."""
        p = self._pending.get(task_id)
        return p if p is not None and node in (p.node, p.hedge) else None

    def remove(self, task_id: int) -> Pending | None:
        """Claim a task wherever it is (deadline passed, caller cancelled)."""
        p = self._pending.pop(task_id, None)
        if p is not None:
            self._forget(p)
        return p

    def node_lost(self, node: str) -> list[Pending]:
        """Every task placed on ``node``, now unplaced, oldest first, to place elsewhere.

        A hedged task whose other copy still runs is not returned: that copy becomes
        the task's placement.
        """
        ids = self._by_node.pop(node, set())
        lost = []
        for i in sorted(ids):
            p = self._pending.get(i)
            if p is None:
                continue
            if p.hedge == node:
                p.hedge = None
            elif p.hedge is not None:
                p.node, p.hedge = p.hedge, None
            else:
                p.node = None
                lost.append(p)
        return lost

    def in_flight(self, node: str) -> int:
        ids = self._by_node.get(node)
        return len(ids) if ids else 0

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self) -> list[Pending]:
        return list(self._pending.values())
