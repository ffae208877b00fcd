"""The node's work queue, as pure logic: admission, priority, deadlines, cancellation.

The server feeds it submits and completions and asks it for the next chunk of work for
an idle worker; it never touches a socket, a process or a clock (time comes in as
``now``, in seconds of any monotonic clock). The same object runs under the simulator.

Order: higher ``priority`` first, then resubmitted before first attempts (a task that
was in flight on a node that failed has waited once already: failover should not put
it behind the survivors' whole backlog), then earlier deadline (none counts as latest),
then arrival (a sequence number, so ties are FIFO and runs are deterministic).

Rules:
- Admission is bounded: with ``max_pending`` tasks queued or running, a submit is
  answered ``overloaded`` with a retry hint (the time the backlog needs to drain at the
  measured service rate).
- A task whose deadline has passed is never started: it is answered
  ``deadline_exceeded`` when it reaches the head of the queue (or on arrival).
- Cancelling a queued task removes it; cancelling a running one drops its result. Both
  are answered ``cancelled`` at once.
- Draining refuses new work with ``draining``; admitted work still runs.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from ..protocol.codes import ErrorCode
from ..protocol.messages import Error, Submit
from ..tasks import TaskSpec

#: Weight of the newest run time in each task's running mean (EWMA).
RUN_TIME_ALPHA = 0.2


@dataclass(slots=True)
class Job:
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


@dataclass(frozen=True, slots=True)
class SchedulerStats:
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


@dataclass(slots=True)
class Scheduler:
    """Priority queue with bounded admission for one node (see the module docstring).

    Args:
        max_pending: queued plus running tasks admitted before ``overloaded``.
        workers: worker processes, used for the retry hint.
        draining: refuse new work; on a node, owned by its
            :class:`~.admission.Admission` (drain, resume, shutdown).
    """

    max_pending: int
    workers: int
    draining: bool = False
    _heap: list[tuple[int, int, float, int, Job]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _pending: dict[tuple[Hashable, int], Job] = field(default_factory=dict)
    _run_time_s: dict[str, float] = field(default_factory=dict)
    _running: int = 0
    _queued: int = 0
    _counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("admitted", "completed", "failed", "expired", "cancelled", "overloaded"), 0
        )
    )

    # -- input ----------------------------------------------------------------------------

    def admit(
        self, owner: Hashable, submit: Submit, spec: TaskSpec, args: list[Any], now: float
    ) -> Error | None:
        """Queue a submit whose task and arguments were already checked.

        Returns:
            None when queued, else the error to send back.
        """
        if self.draining:
            return Error(submit.id, ErrorCode.DRAINING, "node is draining; resubmit elsewhere")
        key = (owner, submit.id)
        if key in self._pending:
            return Error(
                submit.id, ErrorCode.BAD_FRAME, f"task id {submit.id} is already in flight"
            )
        if len(self._pending) >= self.max_pending:
            self._counts["overloaded"] += 1
            return Error(
                submit.id,
                ErrorCode.OVERLOADED,
                f"{len(self._pending)} tasks pending (limit {self.max_pending})",
                retry_after_s=self.retry_after_s(),
            )
        budget = submit.deadline_ms
        deadline_at = math.inf if budget is None else now + budget / 1000.0
        if deadline_at <= now:
            self._counts["expired"] += 1
            return Error(submit.id, ErrorCode.DEADLINE_EXCEEDED, "deadline passed before arrival")
        job = Job(owner, submit.id, spec, args, submit.priority, deadline_at, now)
        self._pending[key] = job
        self._queued += 1
        retry = 0 if submit.attempt == 0 else -1
        heapq.heappush(self._heap, (-submit.priority, retry, deadline_at, next(self._seq), job))
        self._counts["admitted"] += 1
        return None

    def cancel(self, owner: Hashable, ids: list[int]) -> list[Error]:
        """Cancel the owner's tasks that are still pending; return the answers to send."""
        answers = []
        for task_id in ids:
            job = self._pending.pop((owner, task_id), None)
            if job is not None:
                self._forget(job)
                self._counts["cancelled"] += 1
                answers.append(Error(task_id, ErrorCode.CANCELLED, "cancelled by its owner"))
        return answers

    def drop_owner(self, owner: Hashable) -> int:
        """Forget every task of an owner whose connection closed (no one to answer).

        Returns the number dropped; queued ones will never start.
        """
        keys = [k for k in self._pending if k[0] == owner]
        for key in keys:
            self._forget(self._pending.pop(key))
        return len(keys)

    def abandon_all(self) -> list[Job]:
        """Forget every queued and running job (drain timeout); return them so that each
        owner can be told. Results of the running ones will be dropped."""
        jobs = list(self._pending.values())
        self._pending.clear()
        for job in jobs:
            self._forget(job)
        return jobs

    def _forget(self, job: Job) -> None:
        """Mark a job removed from ``_pending``: a queued one will be skipped when popped."""
        job.cancelled = True
        if not job.started:
            self._queued -= 1

    # -- output ---------------------------------------------------------------------------

    def chunk_size(self, idle_workers: int, max_chunk: int, budget_s: float) -> int:
        """How many tasks to hand one idle worker: the queue shared among idle workers,
        capped by ``max_chunk`` and by ``budget_s`` of expected run time (so a chunk does
        not hold back a high-priority arrival for long)."""
        queued = len(self._heap)
        if queued == 0 or idle_workers <= 0:
            return 0
        share = math.ceil(queued / idle_workers)
        head_time = self._run_time_s.get(self._heap[0][4].spec.name, 0.0)
        by_time = max_chunk if head_time <= 0 else max(1, int(budget_s / head_time))
        return max(1, min(share, max_chunk, by_time))

    def next_chunk(self, now: float, max_items: int) -> tuple[list[Job], list[Job]]:
        """Pop up to ``max_items`` runnable jobs in priority order.

        Returns:
            (jobs to run now, jobs whose deadline passed in the queue: answer each with
            :func:`expired_error`).
        """
        jobs: list[Job] = []
        expired: list[Job] = []
        heap = self._heap
        while heap and len(jobs) < max_items:
            job = heapq.heappop(heap)[4]
            if job.cancelled:
                continue
            self._queued -= 1
            if job.deadline_at <= now:
                self._pending.pop((job.owner, job.id), None)
                self._counts["expired"] += 1
                expired.append(job)
                continue
            job.started = True
            jobs.append(job)
        self._running += len(jobs)
        return jobs, expired

    def finished(self, job: Job, ok: bool, run_s: float) -> bool:
        """Record that a job ran; return False if its result must be dropped (cancelled
        or owner gone) and True if it should be delivered."""
        self._running -= 1
        self._counts["completed" if ok else "failed"] += 1
        name = job.spec.name
        old = self._run_time_s.get(name)
        self._run_time_s[name] = run_s if old is None else old + RUN_TIME_ALPHA * (run_s - old)
        return self._pending.pop((job.owner, job.id), None) is not None

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
        heapq.heappush(self._heap, (-job.priority, -1, job.deadline_at, next(self._seq), job))
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
        )


def expired_error(job: Job) -> Error:
    """The answer to a job whose deadline passed while it was queued."""
    return Error(job.id, ErrorCode.DEADLINE_EXCEEDED, "deadline passed while queued; not started")
