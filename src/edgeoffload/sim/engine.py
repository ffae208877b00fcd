"""The discrete-event core: a heap of timed callbacks, nothing about the model.

SimPy's shape (``simpy/core.py``): a heap of ``(time, priority, sequence, ...)``; the
sequence number breaks ties first-in first-out, so a run is deterministic. Events are
plain callbacks with one argument rather than generator processes: on this machine a
heapq loop ran an M/M/1 queue at 1.27 M jobs/s against SimPy's 0.16-0.24 M (issue 6),
and the model needs no process that waits on more than one thing.

Randomness is not the engine's business: the model draws from a seeded
``numpy.random.Generator`` it was given, in event order, so the same seed gives the same
numbers byte for byte.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

#: Priorities: at equal times, lower runs first. Failures and recoveries go first so
#: that an arrival at the instant of a crash sees the node down.
URGENT = 0
NORMAL = 1

Callback = Callable[[Any], None]


class Engine:
    """Simulated clock and event heap.

    Call :meth:`schedule` to add events, then :meth:`run` to process them in time
    order; a callback may schedule more (never in the past) or :meth:`stop` the run.
    """

    __slots__ = ("_stopped", "current", "events", "heap", "now", "seq", "until")

    def __init__(self) -> None:
        self.now = 0.0
        #: Events processed so far.
        self.events = 0
        #: ``(time, priority, next(seq), callback, arg)`` entries. Public for the model's
        #: hot paths, which may push entries themselves (never in the past).
        self.heap: list[tuple[float, int, int, Callback, Any]] = []
        #: Sequence numbers of events, in scheduling order; the model's hot paths draw
        #: from it when they record an event outside the heap (to keep its place).
        self.seq = itertools.count()
        #: The bound of the current :meth:`run`.
        self.until = float("inf")
        #: The entry of the event being processed (its ``(time, priority, sequence)``
        #: orders it among the others).
        self.current: tuple[float, int, int, Callback | None, Any] = (0.0, URGENT, -1, None, None)
        self._stopped = False

    def schedule(
        self, at: float, callback: Callback, arg: Any = None, priority: int = NORMAL
    ) -> None:
        """Run ``callback(arg)`` at simulated time ``at`` (>= now).

        Raises:
            ValueError: ``at`` is in the past (a model bug: it would break causality).
        """
        if at < self.now:
            raise ValueError(f"event at {at} s scheduled in the past (now {self.now} s)")
        heapq.heappush(self.heap, (at, priority, next(self.seq), callback, arg))

    def next_seq(self) -> int:
        """A sequence number, as :meth:`schedule` draws them (an event recorded outside
        the heap keeps its place in the order)."""
        return next(self.seq)

    def count(self, n: int) -> None:
        """``n`` events of the model were processed outside the heap (batched)."""
        self.events += n

    def void(self) -> None:
        """The event being processed was void (replaced): not one of the model's."""
        self.events -= 1

    def advance(self, at: float, counted: bool = True) -> None:
        """Move the clock to ``at`` (>= now) for an event processed outside the heap,
        which then is the current one (counted as processed unless ``counted`` is
        False: the caller counts a batch of them with :meth:`count`)."""
        self.now = at
        self.current = (at, NORMAL, next(self.seq), None, None)
        if counted:
            self.events += 1

    def settle(self, at: float) -> None:
        """The run is over and its last event was at ``at``: the clock ends there."""
        if at > self.now:
            self.now = at

    def peek(self) -> float:
        """Time of the next event (inf when none is left)."""
        return self.heap[0][0] if self.heap else float("inf")

    def stop(self) -> None:
        """Make the current :meth:`run` return after the event being processed."""
        self._stopped = True

    @property
    def stopping(self) -> bool:
        """:meth:`stop` was called during the event being processed."""
        return self._stopped

    def run(self, until: float = float("inf")) -> bool:
        """Process events with time <= ``until``, in order.

        Returns:
            True if the run was stopped by :meth:`stop` (call :meth:`run` again to go
            on); False when it reached ``until`` or ran out of events. The clock is then
            at ``until`` (or at the last event when ``until`` is infinite).
        """
        self._stopped = False
        self.until = until
        heap = self.heap
        pop = heapq.heappop
        count = 0
        try:
            while heap and heap[0][0] <= until:
                entry = pop(heap)
                self.now = entry[0]
                self.current = entry
                entry[3](entry[4])
                count += 1
                if self._stopped:
                    return True
        finally:
            self.events += count
        if until != float("inf"):
            self.now = max(self.now, until)
        return False
