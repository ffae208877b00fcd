"""The node's queue: priority order, bounded admission, deadlines, cancellation."""

from __future__ import annotations

import math

from edgeoffload.node.scheduler import Scheduler
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Error, Submit
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


def test_duplicate_id_in_flight_is_refused_once_on_the_connection_not_under_its_id() -> None:
    # Issue 12, 6: it was answered Error(1, bad_frame), then the first task's result came
    # under the same id: two answers for one id. Now the refusal names the id but carries
    # id None, so the only answer under id 1 is the first task's.
    s = Scheduler(max_pending=10, workers=1)
    assert admit(s, 1) is None
    assert admit(s, 1) == Error(
        None, ErrorCode.DUPLICATE_ID, "task id 1 is already in flight; this submit was ignored"
    )
    (job,), _ = s.next_chunk(0.0, 10)
    assert admit(s, 1) is not None  # still in flight while it runs
    assert s.finished(job, True, 0.0) is True
    assert admit(s, 1) is None  # answered: the id is free again


def test_draining_refuses_new_work() -> None:
    s = Scheduler(max_pending=10, workers=1)
    s.draining = True
    error = admit(s, 1)
    assert error is not None and error.code is ErrorCode.DRAINING


def test_chunk_size_shares_the_queue_and_the_chunk_respects_the_time_budget() -> None:
    s = Scheduler(max_pending=1000, workers=2)
    for i in range(100):
        admit(s, i)
    assert s.chunk_size(idle_workers=4, max_chunk=256, budget_s=0.02) == 25
    assert s.chunk_size(idle_workers=1, max_chunk=16, budget_s=0.02) == 16
    (job,), _ = s.next_chunk(0.0, 1)
    s.finished(job, True, 0.005)  # 5 ms per task: 4 fit in 20 ms
    jobs, _ = s.next_chunk(0.0, s.chunk_size(1, 256, 0.02), 0.02)
    assert len(jobs) == 4
    assert Scheduler(10, 1).chunk_size(1, 10, 0.02) == 0


def test_a_chunk_is_sized_from_every_task_in_it_not_the_head_alone() -> None:
    # Issue 12, 5: a fast head made the chunk size (20 ms / 10 us = 256 tasks), and up to
    # 255 slow tasks rode behind it, holding a worker for seconds while a priority-1000
    # arrival waited. Now each task's measured mean counts.
    s = Scheduler(max_pending=1000, workers=1)
    fast, slow = spec("fast"), spec("slow")
    for name, run_s in (("fast", 0.00001), ("slow", 0.05)):
        s.admit("a", Submit(0, name, []), spec(name), [], 0.0)
        (job,), _ = s.next_chunk(0.0, 1)
        s.finished(job, True, run_s)
    s.admit("a", Submit(1, "fast", [], priority=1), fast, [], 0.0)  # the head
    for i in range(2, 300):
        s.admit("a", Submit(i, "slow", []), slow, [], 0.0)
    size = s.chunk_size(idle_workers=1, max_chunk=256, budget_s=0.02)
    jobs, _ = s.next_chunk(0.0, size, budget_s=0.02)
    assert [j.id for j in jobs] == [1]  # the slow one waits for a chunk of its own
    jobs, _ = s.next_chunk(0.0, size, budget_s=0.02)
    assert [j.id for j in jobs] == [2]  # alone: one slow task is over the budget already
    s.admit("b", Submit(1, "fast", [], priority=1000), fast, [], 0.0)
    jobs, _ = s.next_chunk(0.0, size, budget_s=0.02)
    assert [(j.owner, j.id) for j in jobs] == [("b", 1)]  # next free worker takes it


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


# -- fair sharing between clients (issue 12, 5) -------------------------------------------------


def admit_all(s: Scheduler, owner: str, ids: range, **kw: object) -> list[Error | None]:
    return [admit(s, i, owner=owner, **kw) for i in ids]


def test_one_client_filling_the_queue_does_not_refuse_another() -> None:
    # Issue 12: one client filling the 10,000-task queue made every other client's pool
    # submits fail `overloaded` (10 of 10). Now the newcomer is under its fair share
    # (10,000 // 2), so each of its submits pushes out the flooder's newest queued task.
    s = Scheduler(max_pending=10_000, workers=2)
    assert admit_all(s, "a", range(10_000)) == [None] * 10_000
    assert admit_all(s, "b", range(10)) == [None] * 10
    pushed = s.take_pushed_out()
    assert [(j.owner, j.id) for j in pushed] == [("a", i) for i in range(9_999, 9_989, -1)]
    assert s.take_pushed_out() == []
    assert s.queued == 10_000 and s.statistics().pushed_out == 10
    # the flooder is over its share: refused with a hint, and nothing is pushed out for it
    refusal = admit(s, 10_000, owner="a")
    assert refusal is not None and refusal.code is ErrorCode.OVERLOADED
    assert refusal.message == "this client has 9990 tasks pending (its share: 5000)"
    assert refusal.retry_after_s is not None and refusal.retry_after_s > 0
    # the queue is never above its limit, and the two take turns from now on
    jobs, _ = s.next_chunk(0.0, 6)
    assert [(j.owner, j.id) for j in jobs] == [
        ("a", 0),
        ("b", 0),
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("b", 2),
    ]


def test_a_client_over_its_share_is_refused_even_with_room_left() -> None:
    s = Scheduler(max_pending=100, workers=1)
    admit(s, 0, owner="b")  # two clients hold tasks: each may hold 50
    assert admit_all(s, "a", range(50)) == [None] * 50
    refusal = admit(s, 50, owner="a")
    assert refusal is not None and refusal.code is ErrorCode.OVERLOADED
    assert s.queued == 51 and s.take_pushed_out() == []
    s.cancel("b", [0])  # alone again: the whole queue is its share
    assert admit(s, 50, owner="a") is None


def test_a_configured_cap_per_client_bounds_the_share() -> None:
    s = Scheduler(max_pending=100, workers=1, max_per_share=10)
    assert admit_all(s, "a", range(10)) == [None] * 10
    refusal = admit(s, 10, owner="a")
    assert (
        refusal is not None
        and refusal.message == "this client has 10 tasks pending (its share: 10)"
    )


def test_connections_with_one_subject_share_one_quota() -> None:
    s = Scheduler(max_pending=4, workers=1)
    spec_ = spec()
    for i in range(4):
        assert s.admit(f"conn-{i}", Submit(i, "t", []), spec_, [], 0.0, "alice") is None
    assert s.statistics().shares == 1
    refusal = s.admit("conn-9", Submit(9, "t", []), spec_, [], 0.0, "alice")
    assert refusal is not None and refusal.code is ErrorCode.OVERLOADED
    assert s.admit("conn-9", Submit(9, "t", []), spec_, [], 0.0, "bob") is None  # pushes out
    assert [(j.owner, j.id) for j in s.take_pushed_out()] == [("conn-3", 3)]


def test_a_flood_does_not_delay_another_clients_task_of_the_same_priority() -> None:
    s = Scheduler(max_pending=10_000, workers=1)
    admit_all(s, "flood", range(1_000))
    jobs, _ = s.next_chunk(0.0, 10)  # the flood runs alone meanwhile
    assert admit(s, 0, owner="polite") is None
    jobs, _ = s.next_chunk(0.0, 2)
    # it starts at the tag of the job served last, so it goes next
    assert [(j.owner, j.id) for j in jobs] == [("polite", 0), ("flood", 10)]


def test_turns_are_weighted_by_measured_run_time() -> None:
    # a share whose tasks take 4x longer gets a task for every 4 of the other's
    s = Scheduler(max_pending=1000, workers=1)
    for name, run_s in (("slow", 0.004), ("fast", 0.001)):
        s.admit("x", Submit(0, name, []), spec(name), [], 0.0)
        (job,), _ = s.next_chunk(0.0, 1)
        s.finished(job, True, run_s)
    for i in range(20):
        s.admit("s", Submit(i, "slow", []), spec("slow"), [], 0.0)
        s.admit("f", Submit(i, "fast", []), spec("fast"), [], 0.0)
    jobs, _ = s.next_chunk(0.0, 10)
    assert "".join(j.owner for j in jobs) == "sffffsffff"  # type: ignore[misc]


def test_priority_still_holds_across_levels() -> None:
    s = Scheduler(max_pending=1000, workers=1)
    admit_all(s, "a", range(5), priority=1)
    admit(s, 0, owner="b")
    admit(s, 1, owner="b", priority=2)
    jobs, _ = s.next_chunk(0.0, 10)
    assert [(j.owner, j.id) for j in jobs] == [("b", 1)] + [("a", i) for i in range(5)] + [("b", 0)]


def test_without_fairness_the_order_is_one_queue() -> None:
    # the simulator's node: one node-wide queue, the old order, no quotas
    s = Scheduler(max_pending=3, workers=1, fair=False)
    admit_all(s, "a", range(2))
    assert admit(s, 0, owner="b") is None
    refusal = admit(s, 1, owner="b")
    assert refusal == Error(
        1, ErrorCode.OVERLOADED, "3 tasks pending (limit 3)", retry_after_s=0.01
    )
    jobs, _ = s.next_chunk(0.0, 10)
    assert [(j.owner, j.id) for j in jobs] == [("a", 0), ("a", 1), ("b", 0)]


def test_a_task_never_measured_goes_in_a_chunk_of_its_own() -> None:
    # it could be the slow one: the first of a name runs alone, then its mean sizes chunks
    s = Scheduler(max_pending=1000, workers=1)
    for i in range(10):
        admit(s, i)
    jobs, _ = s.next_chunk(0.0, 10, budget_s=0.02)
    assert [j.id for j in jobs] == [0]
    s.finished(jobs[0], True, 0.004)
    jobs, _ = s.next_chunk(0.0, 10, budget_s=0.02)
    assert [j.id for j in jobs] == [1, 2, 3, 4, 5]  # 5 x 4 ms fit in 20 ms


def test_argument_bytes_in_flight_are_shared_between_clients() -> None:
    s = Scheduler(max_pending=1000, workers=1, max_bytes=1000)

    def submit(owner: str, task_id: int, nbytes: int) -> Error | None:
        return s.admit(owner, Submit(task_id, "t", []), spec(), [], 0.0, None, nbytes)

    assert submit("a", 0, 5000) is None  # one task alone is always taken
    refusal = submit("a", 1, 1)
    assert refusal is not None and refusal.code is ErrorCode.OVERLOADED
    assert refusal.message == "this client has 5000 bytes of arguments in flight (its share: 1000)"
    assert submit("b", 0, 400) is None and submit("b", 1, 100) is None  # 500 of 1000 // 2
    assert submit("b", 2, 1) is not None
    (job,), _ = s.next_chunk(0.0, 1)  # a's
    assert s.finished(job, True, 0.0)
    assert submit("b", 2, 400) is None  # a holds nothing now: b's share is 1000 again
    assert s.cancel("b", [0, 1, 2]) and s.statistics().shares == 0
