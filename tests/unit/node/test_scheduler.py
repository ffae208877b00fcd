"""The node's queue: priority order, bounded admission, deadlines, cancellation."""

from __future__ import annotations

import math

from edgeoffload.node.scheduler import Scheduler
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Submit
from edgeoffload.tasks import TaskSpec


def spec(name: str = "t") -> TaskSpec:
    return TaskSpec(name=name, fn=lambda *a: None, module="tests")


def admit(s: Scheduler, task_id: int, now: float = 0.0, owner: str = "a", **kw: object):  # type: ignore[no-untyped-def]
    return s.admit(owner, Submit(task_id, "t", [], **kw), spec(), [], now)  # type: ignore[arg-type]


def test_priority_then_deadline_then_arrival() -> None:
    s = Scheduler(max_pending=100, workers=1)
    assert admit(s, 1) is None
    assert admit(s, 2, priority=5) is None
    assert admit(s, 3, deadline_ms=50_000) is None
    assert admit(s, 4, deadline_ms=10_000) is None
    assert admit(s, 5) is None
    jobs, expired = s.next_chunk(now=0.0, max_items=10)
    assert [j.id for j in jobs] == [2, 4, 3, 1, 5] and expired == []


def test_admission_is_bounded_with_a_retry_hint() -> None:
    s = Scheduler(max_pending=2, workers=1)
    assert admit(s, 1) is None and admit(s, 2) is None
    error = admit(s, 3)
    assert error is not None and error.code is ErrorCode.OVERLOADED
    assert error.retry_after_s is not None and error.retry_after_s > 0
    assert s.statistics().rejected_overloaded == 1
    # a finished task frees a slot
    (job,), _ = s.next_chunk(0.0, 1)
    assert s.finished(job, True, 0.01)
    assert admit(s, 3) is None


def test_expired_task_is_never_started() -> None:
    s = Scheduler(max_pending=10, workers=1)
    assert admit(s, 1, now=0.0, deadline_ms=100) is None
    assert admit(s, 2, now=0.0) is None
    jobs, expired = s.next_chunk(now=0.5, max_items=10)
    assert [j.id for j in jobs] == [2]
    assert [j.id for j in expired] == [1]
    assert s.statistics().expired == 1


def test_deadline_already_passed_on_arrival() -> None:
    s = Scheduler(max_pending=10, workers=1)
    error = admit(s, 1, deadline_ms=0.0)
    assert error is not None and error.code is ErrorCode.DEADLINE_EXCEEDED


def test_cancel_queued_and_running() -> None:
    s = Scheduler(max_pending=10, workers=1)
    for i in (1, 2, 3):
        admit(s, i)
    (running,), _ = s.next_chunk(0.0, 1)
    answers = s.cancel("a", [running.id, 2, 99])
    assert [(e.id, e.code) for e in answers] == [(1, ErrorCode.CANCELLED), (2, ErrorCode.CANCELLED)]
    assert s.queued == 1 and s.running == 1
    assert s.finished(running, True, 0.0) is False  # its result is dropped
    jobs, _ = s.next_chunk(0.0, 10)
    assert [j.id for j in jobs] == [3]


def test_owner_gone_drops_its_tasks_only() -> None:
    s = Scheduler(max_pending=10, workers=1)
    admit(s, 1, owner="a")
    admit(s, 1, owner="b")
    assert s.drop_owner("a") == 1
    jobs, _ = s.next_chunk(0.0, 10)
    assert [(j.owner, j.id) for j in jobs] == [("b", 1)]


def test_duplicate_id_from_the_same_owner_is_refused() -> None:
    s = Scheduler(max_pending=10, workers=1)
    assert admit(s, 1) is None
    error = admit(s, 1)
    assert error is not None and error.code is ErrorCode.BAD_FRAME


def test_draining_refuses_new_work() -> None:
    s = Scheduler(max_pending=10, workers=1)
    s.draining = True
    error = admit(s, 1)
    assert error is not None and error.code is ErrorCode.DRAINING


def test_chunk_size_shares_the_queue_and_respects_the_time_budget() -> None:
    s = Scheduler(max_pending=1000, workers=2)
    for i in range(100):
        admit(s, i)
    assert s.chunk_size(idle_workers=4, max_chunk=256, budget_s=0.02) == 25
    assert s.chunk_size(idle_workers=1, max_chunk=16, budget_s=0.02) == 16
    (job,), _ = s.next_chunk(0.0, 1)
    s.finished(job, True, 0.005)  # 5 ms per task: 4 fit in 20 ms
    assert s.chunk_size(idle_workers=1, max_chunk=256, budget_s=0.02) == 4
    assert Scheduler(10, 1).chunk_size(1, 10, 0.02) == 0


def test_abandon_all_and_idle() -> None:
    s = Scheduler(max_pending=10, workers=1)
    admit(s, 1)
    admit(s, 2)
    (job,), _ = s.next_chunk(0.0, 1)
    assert not s.idle
    assert sorted(j.id for j in s.abandon_all()) == [1, 2]
    assert s.queued == 0
    assert s.finished(job, True, 0.0) is False
    assert s.idle


def test_run_time_is_a_moving_average() -> None:
    s = Scheduler(max_pending=10, workers=1)
    for i, run_s in enumerate([1.0, 0.0]):
        admit(s, i)
        (job,), _ = s.next_chunk(0.0, 1)
        s.finished(job, True, run_s)
    mean = s.mean_run_time_s("t")
    assert mean is not None and math.isclose(mean, 0.8)


def test_resubmitted_tasks_run_before_first_attempts_of_the_same_priority() -> None:
    s = Scheduler(max_pending=10, workers=1)
    admit(s, 1)
    admit(s, 2, attempt=1)
    admit(s, 3, priority=1)
    jobs, _ = s.next_chunk(0.0, 10)
    assert [j.id for j in jobs] == [3, 2, 1]  # priority first, then the resubmitted one


def test_released_jobs_run_again_first_and_cancelled_ones_are_forgotten() -> None:
    """A stopped worker's chunk: the task it was stopped for is finished, the others
    released; a released job still wanted is queued again ahead of first attempts."""
    s = Scheduler(max_pending=100, workers=1)
    for i in (1, 2, 3):
        assert admit(s, i) is None
    chunk, _ = s.next_chunk(0.0, 3)
    assert [j.id for j in chunk] == [1, 2, 3] and s.running == 3
    assert admit(s, 4) is None  # a first attempt, queued meanwhile
    s.cancel("a", [3])
    culprit, kept, cancelled = chunk
    assert s.finished(culprit, False, 30.0)  # answered by the caller
    assert s.release(kept) and not s.release(cancelled)
    assert (s.running, s.queued) == (0, 2)
    again, _ = s.next_chunk(0.0, 10)
    assert [j.id for j in again] == [2, 4]
    assert all(s.finished(j, True, 0.001) for j in again) and s.idle
