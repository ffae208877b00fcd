"""The node's work queue, as pure logic: admission, quotas, priority, fair sharing
between clients, deadlines, cancellation.

The server feeds it submits and completions and asks it for the next chunk of work for
an idle worker; it never touches a socket, a process or a clock (time comes in as
``now``, in seconds of any monotonic clock). The same object runs under the simulator.

Each job has an *owner* (who is answered: the connection) and a *share* (whose quota
and fair share it counts against: the token's subject when the node checks tokens,
else the connection), so one client opening ten connections with one token gets one
share, not ten.

Order: higher ``priority`` first, always. Within one priority level, shares take turns
by weighted fair queuing (start-time fair queuing: each share's tag advances by the
expected run time of the job it was served, the share with the lowest tag goes next,
and a share that was idle starts at the level's current tag, so it is served at once
but earns no credit for the time it was idle). A flood from one client therefore
delays another client's tasks of the same priority by at most one job of each other
busy share, not by the flood. Within one share and level: resubmitted before first
attempts (a task that was in flight on a node that failed has waited once already:
failover should not put it behind the survivors' whole backlog), then earlier
deadline (none counts as latest), then arrival (a sequence number, so ties are FIFO
and runs are deterministic).

Rules:
- Admission is bounded: at most ``max_pending`` tasks queued or running. Each share
  may hold its *fair share* ``max(1, max_pending // active)`` of them, where
  ``active`` counts the shares holding tasks, itself included (optionally capped by
  ``max_per_share``). A submit past its share is answered ``overloaded`` with a retry
  hint (the time the backlog needs to drain at the measured service rate). A submit
  under its share is never refused for want of room: when the queue is full, the
  newest queued task of the share holding the most tasks above its own fair share is
  pushed out (answered ``overloaded`` with the same hint; it never started, so its
  owner simply resubmits, see :meth:`Scheduler.take_pushed_out`). So the queue never
  exceeds ``max_pending``, and a client that fills it alone gives way, task by task,
  to each client that arrives. With ``max_bytes``, the argument bytes a share holds in
  queued and running tasks are shared the same way (``max_bytes // active``); a share
  holding some is refused ``overloaded`` past its share of bytes (one task alone is
  always taken: the frame limit bounds it).
- A task whose deadline has passed is never started: it is answered
  ``deadline_exceeded`` when it reaches the head of the queue (or on arrival).
- A chunk is sized from every task in it: jobs are added while the sum of their
  measured mean run times stays within the chunk's budget, so a slow task never rides
  behind a fast head (the first job always goes, whatever its cost). A task never
  measured yet counts as the whole budget: it goes in a chunk of its own until its
  first run says what it costs (it could be the slow one).
- Cancelling a queued task removes it; cancelling a running one drops its result. Both
  are answered ``cancelled`` at once.
- A second submit of an id the owner has in flight is refused once with
  ``duplicate_id`` on the connection (``id`` None, so the first one's answer is the
  only answer under that id).
- Draining refuses new work with ``draining``; admitted work still runs.

``fair=False`` (what the simulator passes: it models one node-wide queue) puts every
job in one share: no quotas, one queue per level, the order above without the turns.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..protocol.codes import ErrorCode
from ..protocol.messages import Error, Submit
from ..tasks import TaskSpec

#: Weight of the newest run time in each task's running mean (EWMA).
RUN_TIME_ALPHA = 0.2

#: The expected run time charged for a task never measured yet, in the fair queue's
#: tags (1 ms: a pool round trip; only the ratio between shares matters).
UNMEASURED_COST_S = 0.001


class Job(msgspec.Struct):
    """One admitted task: who owns it, what to run, and when it must start by."""

    owner: Hashable
    id: int
    spec: TaskSpec
    args: list[Any]
    priority: int
    deadline_at: float  # math.inf when none
    enqueued_at: float
    cancelled: bool = False
    started: bool = False
    share: Hashable = None
    nbytes: int = 0  # its arguments' share of the frame that carried it


class SchedulerStats(msgspec.Struct, frozen=True):
    """A snapshot of the queue for health reports and /metrics."""

    queued: int
    running: int
    admitted: int
    completed: int
    failed: int
    expired: int
    cancelled: int
    rejected_overloaded: int
    draining: bool
    pushed_out: int = 0
    shares: int = 0


# An entry of a share's queue: (resubmitted first, deadline, arrival, job).
_Entry = tuple[int, float, int, Job]


class _Held(msgspec.Struct):
    """What one share holds: its pending jobs (queued or running) in arrival order, and
    their argument bytes."""

    jobs: dict[tuple[Hashable, int], Job]
    nbytes: int = 0


class _Level(msgspec.Struct):
    """The queued jobs of one priority: a heap of entries per share, and the shares'
    turns as ``(tag, arrival, share)``: the lowest tag goes next.

    Invariant: every share in ``queues`` has exactly one entry in ``turns``.
    """

    queues: dict[Hashable, list[_Entry]] = msgspec.field(default_factory=dict)
    turns: list[tuple[float, int, Hashable]] = msgspec.field(default_factory=list)
    #: The tag of the job served last (where an arriving share starts).
    vtime: float = 0.0


@dataclass(slots=True)
class Scheduler:
    """Priority queue with bounded admission for one node (see the module docstring).

    Args:
        max_pending: queued plus running tasks admitted before ``overloaded``.
        workers: worker processes, used for the retry hint.
        draining: refuse new work; on a node, owned by its
            :class:`~.admission.Admission` (drain, resume, shutdown).
        fair: quotas and fair turns between shares (off: one share for all).
        max_per_share: a fixed cap on one share's tasks, below its fair share
            (None: the fair share alone).
        max_bytes: argument bytes the node holds in queued and running tasks, shared
            like ``max_pending`` (None: not counted).
    """

    max_pending: int
    workers: int
    draining: bool = False
    fair: bool = True
    max_per_share: int | None = None
    max_bytes: int | None = None
    _levels: dict[int, _Level] = field(default_factory=dict)
    _priorities: list[int] = field(default_factory=list)  # -priority of each level
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _pending: dict[tuple[Hashable, int], Job] = field(default_factory=dict)
    #: Each share's pending jobs (queued or running), in arrival order.
    _shares: dict[Hashable, _Held] = field(default_factory=dict)
    _pushed_out: list[Job] = field(default_factory=list)
    _run_time_s: dict[str, float] = field(default_factory=dict)
    _running: int = 0
    _queued: int = 0
    _counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("admitted", "completed", "failed", "expired", "cancelled", "overloaded", "pushed"),
            0,
        )
    )

    # -- input ----------------------------------------------------------------------------

    def quota(self, share: Hashable) -> int:
        """How many tasks ``share`` may hold now (queued plus running): its fair share
        ``max(1, max_pending // active)``, capped by ``max_per_share``."""
        active = len(self._shares) + (share not in self._shares)
        fair_share = max(1, self.max_pending // active)
        cap = self.max_per_share
        return fair_share if cap is None or cap >= fair_share else max(1, cap)

    def held(self, share: Hashable) -> int:
        """How many tasks ``share`` holds (queued plus running)."""
        held = self._shares.get(share if self.fair else None)
        return 0 if held is None else len(held.jobs)

    def room(self, share: Hashable) -> int:
        """How many more tasks ``share`` may hold now (its quota less what it holds)."""
        return self.quota(share) - self.held(share)

    def admit(
        self,
        owner: Hashable,
        submit: Submit,
        spec: TaskSpec,
        args: list[Any],
        now: float,
        share: Hashable = None,
        nbytes: int = 0,
        waiting: int = 0,
    ) -> Error | None:
        """Queue a submit whose task and arguments were already checked.

        Args:
            owner: who is answered (the connection).
            share: whose quota it counts against (default: the owner).
            nbytes: the size of its arguments (counted against ``max_bytes``).
            waiting: tasks of the share held elsewhere (its inline backlog on a
                node), counted against its quota with those it holds here.

        Returns:
            None when queued, else the error to send back. Check
            :meth:`take_pushed_out` afterwards: admitting it may have pushed out
            another share's newest queued task.
        """
        if self.draining:
            return Error(submit.id, ErrorCode.DRAINING, "node is draining; resubmit elsewhere")
        key = (owner, submit.id)
        if key in self._pending:
            return Error(
                None,
                ErrorCode.DUPLICATE_ID,
                f"task id {submit.id} is already in flight; this submit was ignored",
            )
        if not self.fair:
            share = None
        elif share is None:
            share = owner
        # The fair share, inline (this is the node's hot path; :meth:`quota` says it).
        shares = self._shares
        held = shares.get(share)
        if held is None:
            n_held = waiting
            quota = self.max_pending // (len(shares) + 1)
        else:
            n_held = len(held.jobs) + waiting
            quota = self.max_pending // len(shares)
        cap = self.max_per_share
        if cap is not None and cap < quota:
            quota = cap
        if quota < 1:
            quota = 1
        if self.max_bytes is None:
            nbytes = 0
        elif nbytes and held is not None:
            held_bytes = held.nbytes
            byte_share = self.max_bytes // (len(shares) + (held is None))
            if held_bytes and held_bytes + nbytes > byte_share:
                self._counts["overloaded"] += 1
                return Error(
                    submit.id,
                    ErrorCode.OVERLOADED,
                    f"this client has {held_bytes} bytes of arguments in flight "
                    f"(its share: {byte_share})",
                    retry_after_s=self.retry_after_s(),
                )
        budget = submit.deadline_ms
        deadline_at = math.inf if budget is None else now + budget / 1000.0
        pending = self._pending
        if n_held >= quota or (
            len(pending) >= self.max_pending and (deadline_at <= now or not self._push_out(quota))
        ):
            self._counts["overloaded"] += 1
            if n_held >= quota and self.fair:
                why = f"this client has {n_held} tasks pending (its share: {quota})"
            else:
                why = f"{len(pending)} tasks pending (limit {self.max_pending})"
            return Error(submit.id, ErrorCode.OVERLOADED, why, retry_after_s=self.retry_after_s())
        if deadline_at <= now:
            self._counts["expired"] += 1
            return Error(submit.id, ErrorCode.DEADLINE_EXCEEDED, "deadline passed before arrival")
        priority = submit.priority
        job = Job(
            owner, submit.id, spec, args, priority, deadline_at, now, False, False, share, nbytes
        )
        pending[key] = job
        if held is None:
            shares[share] = _Held({key: job}, nbytes)
        else:
            held.jobs[key] = job
            held.nbytes += nbytes
        self._queued += 1
        self._enqueue(job, resubmitted=submit.attempt != 0)
        self._counts["admitted"] += 1
        return None

    def _enqueue(self, job: Job, resubmitted: bool) -> None:
        """Put ``job`` in its priority level's queue of its share, giving the share a
        turn if it had none (resubmitted jobs go ahead of first attempts)."""
        level = self._levels.get(job.priority)
        if level is None:
            level = self._levels[job.priority] = _Level()
            heapq.heappush(self._priorities, -job.priority)
        seq = next(self._seq)
        heap = level.queues.get(job.share)
        if heap is None:
            heap = level.queues[job.share] = []
            heapq.heappush(level.turns, (level.vtime, seq, job.share))
        heapq.heappush(heap, (-1 if resubmitted else 0, job.deadline_at, seq, job))

    def _push_out(self, fair_share: int) -> bool:
        """Make room for a share under its ``fair_share``: drop the newest queued job of
        the share holding the most tasks, if that share holds more than the fair share.

        O(shares), and only when the queue is full."""
        victim = max(self._shares.values(), key=_count, default=None)
        if victim is None or len(victim.jobs) <= fair_share:
            return False
        for job in reversed(victim.jobs.values()):
            if not job.started:
                self._remove(job)
                self._forget(job)
                self._counts["pushed"] += 1
                self._pushed_out.append(job)
                return True
        return False

    def take_pushed_out(self) -> list[Job]:
        """The queued jobs pushed out to make room since the last call: answer each
        with :func:`pushed_out_error` (they never started)."""
        jobs, self._pushed_out = self._pushed_out, []
        return jobs

    def cancel(self, owner: Hashable, ids: list[int]) -> list[Error]:
        """Cancel the owner's tasks that are still pending; return the answers to send."""
        answers = []
        for task_id in ids:
            job = self._pending.get((owner, task_id))
            if job is not None:
                self._remove(job)
                self._forget(job)
                self._counts["cancelled"] += 1
                answers.append(Error(task_id, ErrorCode.CANCELLED, "cancelled by its owner"))
        return answers

    def drop_owner(self, owner: Hashable) -> int:
        """Forget every task of an owner whose connection closed (no one to answer).

        Returns the number dropped; queued ones will never start.
        """
        jobs = [j for k, j in self._pending.items() if k[0] == owner]
        for job in jobs:
            self._remove(job)
            self._forget(job)
        return len(jobs)

    def abandon_all(self) -> list[Job]:
        """Forget every queued and running job (drain timeout); return them so that each
        owner can be told. Results of the running ones will be dropped."""
        jobs = list(self._pending.values())
        for job in jobs:
            self._remove(job)
            self._forget(job)
        return jobs

    def _remove(self, job: Job) -> None:
        """Take a job out of ``_pending`` and its share's count."""
        key = (job.owner, job.id)
        del self._pending[key]
        held = self._shares[job.share]
        del held.jobs[key]
        held.nbytes -= job.nbytes
        if not held.jobs:
            del self._shares[job.share]

    def _forget(self, job: Job) -> None:
        """Mark a removed job: a queued one will be skipped when its turn comes."""
        job.cancelled = True
        if not job.started:
            self._queued -= 1

    # -- output ---------------------------------------------------------------------------

    def chunk_size(self, idle_workers: int, max_chunk: int, budget_s: float = math.inf) -> int:
        """How many tasks to hand one idle worker at most: the queue shared among idle
        workers, capped by ``max_chunk``. (``budget_s`` of expected run time is applied
        by :meth:`next_chunk`, task by task; it is accepted here for the old callers.)"""
        queued = self._queued
        if queued == 0 or idle_workers <= 0:
            return 0
        return max(1, min(math.ceil(queued / idle_workers), max_chunk))

    def next_chunk(
        self, now: float, max_items: int, budget_s: float = math.inf
    ) -> tuple[list[Job], list[Job]]:
        """Pop up to ``max_items`` runnable jobs in turn order, while the sum of their
        measured mean run times stays within ``budget_s`` (the first job always goes).

        Returns:
            (jobs to run now, jobs whose deadline passed in the queue: answer each with
            :func:`expired_error`).
        """
        jobs: list[Job] = []
        expired: list[Job] = []
        run_time = self._run_time_s
        levels = self._levels
        priorities = self._priorities
        heappop = heapq.heappop
        total = 0.0
        n = 0
        full = False
        while not full and n < max_items and priorities:
            priority = -priorities[0]
            level = levels[priority]
            turns = level.turns
            queues = level.queues
            while n < max_items and turns:  # this level, turn by turn
                tag, _, share = turns[0]
                heap = queues[share]
                job = heap[0][3] if heap else None
                if job is None or job.cancelled:  # removed (lazily): skip it
                    if job is not None:
                        heappop(heap)
                    if not heap:
                        heappop(turns)
                        del queues[share]
                    continue
                if job.deadline_at <= now:
                    heappop(heap)
                    if not heap:
                        heappop(turns)
                        del queues[share]
                    self._queued -= 1
                    self._remove(job)
                    self._counts["expired"] += 1
                    expired.append(job)
                    continue
                measured = run_time.get(job.spec.name)
                cost = budget_s if measured is None else measured  # never measured: alone
                if n and total + cost > budget_s:
                    full = True
                    break
                heappop(heap)
                level.vtime = tag
                if not heap:
                    heappop(turns)
                    del queues[share]
                else:  # the share's next turn, after the run time it was just served
                    turn = (tag + (measured or UNMEASURED_COST_S), next(self._seq), share)
                    if len(turns) == 1:
                        turns[0] = turn
                    else:
                        heapq.heapreplace(turns, turn)
                total += cost
                job.started = True
                jobs.append(job)
                n += 1
            if not turns:  # the level is empty: the next one down
                heappop(priorities)
                del levels[priority]
        self._queued -= n
        self._running += n
        return jobs, expired

    def finished(self, job: Job, ok: bool, run_s: float) -> bool:
        """Record that a job ran; return False if its result must be dropped (cancelled
        or owner gone) and True if it should be delivered."""
        self._running -= 1
        self._counts["completed" if ok else "failed"] += 1
        name = job.spec.name
        old = self._run_time_s.get(name)
        self._run_time_s[name] = run_s if old is None else old + RUN_TIME_ALPHA * (run_s - old)
        if job.cancelled:
            return False
        self._remove(job)
        job.cancelled = True  # done: nothing of it is pending any more
        return True

    def release(self, job: Job) -> bool:
        """A started job that did not run to its end because its worker was stopped for
        another task of its chunk: queue it again (ahead of first attempts of its
        priority, as a resubmit) and return True, or False if it was cancelled or its
        owner left meanwhile (nothing to run)."""
        self._running -= 1
        if self._pending.get((job.owner, job.id)) is not job:
            return False
        job.started = False
        self._queued += 1
        self._enqueue(job, resubmitted=True)
        return True

    # -- observation ------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def running(self) -> int:
        return self._running

    @property
    def idle(self) -> bool:
        """Nothing queued or running (the drain is complete)."""
        return self._queued == 0 and self._running == 0

    def in_flight(self, owner: Hashable, task_id: int) -> bool:
        """The owner has a task of that id queued or running."""
        return (owner, task_id) in self._pending

    def retry_after_s(self) -> float:
        """Time for the backlog to drain at the measured mean run time (at least 10 ms)."""
        mean = sum(self._run_time_s.values()) / len(self._run_time_s) if self._run_time_s else 0.001
        return max(0.01, round(len(self._pending) * mean / max(1, self.workers), 3))

    def mean_run_time_s(self, name: str) -> float | None:
        return self._run_time_s.get(name)

    def statistics(self) -> SchedulerStats:
        c = self._counts
        return SchedulerStats(
            queued=self.queued,
            running=self._running,
            admitted=c["admitted"],
            completed=c["completed"],
            failed=c["failed"],
            expired=c["expired"],
            cancelled=c["cancelled"],
            rejected_overloaded=c["overloaded"],
            draining=self.draining,
            pushed_out=c["pushed"],
            shares=len(self._shares),
        )


def _count(held: _Held) -> int:
    return len(held.jobs)


def pushed_out_error(job: Job, retry_after_s: float) -> Error:
    """The answer to a queued job pushed out to make room for a client under its share."""
    return Error(
        job.id,
        ErrorCode.OVERLOADED,
        "pushed out of the queue (not started) to make room for another client's share",
        retry_after_s=retry_after_s,
    )


def expired_error(job: Job) -> Error:
    """The answer to a job whose deadline passed while it was queued."""
    return Error(job.id, ErrorCode.DEADLINE_EXCEEDED, "deadline passed while queued; not started")
