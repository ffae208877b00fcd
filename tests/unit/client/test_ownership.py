"""The owner's rules on virtual time: exact instruction lists for each event, no sockets."""

from __future__ import annotations

import dataclasses
from typing import Any

import edgeoffload.examples.tasks  # noqa: F401  (registers echo, sleep, gpu_pid)
from edgeoffload.client.ownership import (
    LOCAL,
    ArmTimer,
    BatchSubmitted,
    CancelCopy,
    CancelRequested,
    CancelTimer,
    Closing,
    Decide,
    Decided,
    Deliver,
    DeliverBatch,
    ErrorReceived,
    Instruction,
    LocalDone,
    NodeDown,
    NodeDraining,
    NodeListed,
    NodeLoad,
    NodeResumed,
    NodeUnreachable,
    NodeUp,
    Ownership,
    Resubmitting,
    ResultReceived,
    ResultsReceived,
    SendBatchToNode,
    SendToNode,
    StartLocalRun,
    Submitted,
    TaskState,
    Timer,
    TimerFired,
    TimerKind,
    Unsendable,
    Where,
)
from edgeoffload.client.placement import LeastInFlight, make_placement
from edgeoffload.errors import (
    Cancelled,
    DeadlineExceeded,
    FrameTooLarge,
    NoNodeAvailable,
    Overloaded,
    TaskFailed,
    Unauthorized,
    task_error,
)
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Error, Result, Submit
from edgeoffload.tasks import TaskSpec, spec_of


def spec(name: str) -> TaskSpec:
    s = spec_of(name)
    assert s is not None
    return s


ECHO = spec("echo")
GPU = spec("gpu_pid")


class Same(Exception):
    """Equal to any exception of the same type and text (exceptions compare by identity)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self.exc) and str(other) == str(self.exc)

    __hash__ = None  # type: ignore[assignment]


def owner(hedge: bool = False, max_attempts: int = 5, placement: str = "") -> Ownership:
    chosen = make_placement(placement) if placement else LeastInFlight()
    return Ownership(chosen, max_attempts=max_attempts, wait_for_node_s=10.0, hedge=hedge)


def up(o: Ownership, *nodes: str, tasks: tuple[str, ...] = ("t", "echo")) -> None:
    for node in nodes:
        assert o.handle(NodeUp(node, frozenset(tasks)), 0.0) == []


def submit(
    o: Ownership,
    now: float = 0.0,
    *,
    task: str = "t",
    args: list[Any] | None = None,
    where: Where = "edge",
    spec: TaskSpec | None = None,
    deadline_s: float | None = None,
) -> list[Instruction]:
    event = Submitted(o.next_id(), task, args or [], where=where, spec=spec, deadline_s=deadline_s)
    return o.handle(event, now)


def sent(node: str, task_id: int, attempt: int = 0, task: str = "t", **kw: Any) -> SendToNode:
    hedge = kw.pop("hedge", False)
    return SendToNode(node, Submit(task_id, task, kw.pop("args", []), attempt=attempt, **kw), hedge)


def result(o: Ownership, node: str, task_id: int, value: Any, now: float) -> list[Instruction]:
    return o.handle(ResultReceived(node, Result(task_id, value, run_ms=2.0)), now)


def error(
    o: Ownership, node: str, task_id: int, code: ErrorCode, now: float, retry: float | None = None
) -> list[Instruction]:
    return o.handle(ErrorReceived(node, Error(task_id, code, "no", retry_after_s=retry)), now)


def hedging(nodes: tuple[str, ...] = ("A", "B")) -> Ownership:
    """An owner with hedging on, whose echo tasks have a p95 of 0.01 s."""
    o = owner(hedge=True)
    up(o, *nodes)
    for _ in range(20):
        o.latency.add("echo", 0.01)
    return o


def hedged_on_a_and_b() -> Ownership:
    o = hedging()
    assert submit(o, task="echo", args=[1], spec=ECHO) == [
        sent("A", 1, task="echo", args=[1]),
        ArmTimer(Timer(TimerKind.HEDGE, 1), 0.01),
    ]
    assert o.handle(TimerFired(Timer(TimerKind.HEDGE, 1)), 0.01) == [
        sent("B", 1, task="echo", args=[1], hedge=True)
    ]
    assert (o.in_flight("A"), o.in_flight("B")) == (1, 1)
    return o


# -- placement and exactly-once ------------------------------------------------------------


def test_ids_count_from_one() -> None:
    o = owner()
    assert [o.next_id() for _ in range(3)] == [1, 2, 3]


def test_each_task_goes_to_the_node_with_the_fewest_in_flight() -> None:
    o = owner()
    up(o, "A", "B")
    assert submit(o) == [sent("A", 1)]
    assert submit(o) == [sent("B", 2)]
    assert submit(o) == [sent("A", 3)]
    assert (o.in_flight("A"), o.in_flight("B")) == (2, 1)


def test_a_result_is_delivered_once_and_duplicates_are_dropped() -> None:
    o = owner()
    up(o, "A")
    submit(o, 1.0)
    assert result(o, "A", 1, 42, 1.5) == [Deliver(1, 42, None, "A", 0.002, 0.5)]
    assert result(o, "A", 1, 42, 1.6) == []
    stats = o.statistics()
    assert (stats.completed_edge, stats.duplicates_dropped, stats.pending) == (1, 1, 0)
    assert o.in_flight("A") == 0


def test_an_answer_from_a_node_the_task_is_not_on_is_fenced() -> None:
    o = owner()
    up(o, "A", "B")
    submit(o)
    assert result(o, "B", 1, "forged", 0.1) == []
    assert error(o, "B", 1, ErrorCode.TASK_FAILED, 0.1) == []
    assert o.statistics().duplicates_dropped == 2
    assert o.get(1) is not None and o.get(1).state is TaskState.SENT  # type: ignore[union-attr]


def test_node_loss_places_its_tasks_again_oldest_first_and_fences_its_late_answers() -> None:
    o = owner()
    up(o, "A", "B")
    submit(o), submit(o), submit(o)  # 1 and 3 on A, 2 on B
    assert o.handle(NodeDown("A", "closed"), 1.0) == [
        Resubmitting("A", "closed", 2),
        sent("B", 1, attempt=1),
        sent("B", 3, attempt=1),
    ]
    assert result(o, "A", 1, "late", 1.125) == []  # the dead node's late result
    assert result(o, "B", 1, "ok", 1.25) == [Deliver(1, "ok", None, "B", 0.002, 0.25)]
    assert o.statistics().resubmitted == 2
    assert (o.in_flight("A"), o.in_flight("B")) == (0, 2)


def test_placement_sees_the_nodes_load_reports() -> None:
    o = owner(placement="least_loaded")
    up(o, "A", "B")
    o.handle(NodeLoad("A", 0.001, queued=8, running=2, workers=2), 0.0)
    o.handle(NodeLoad("B", 0.002, queued=0, running=1, workers=2), 0.0)
    assert submit(o) == [sent("B", 1)]


def test_labels_restrict_placement() -> None:
    o = owner()
    up(o, "A", tasks=("gpu_pid",))
    o.handle(NodeUp("G", frozenset({"gpu_pid"}), labels={"gpu": "true"}), 0.0)
    assert submit(o, task="gpu_pid", spec=GPU, where="edge") == [sent("G", 1, task="gpu_pid")]


def test_the_controller_listing_a_node_draining_stops_placement_there() -> None:
    o = owner()
    up(o, "A", "B")
    o.handle(NodeListed("A", alive=True, draining=True), 0.0)
    assert submit(o) == [sent("B", 1)]
    assert submit(o) == [sent("B", 2)]


# -- refusals, retries, attempts ------------------------------------------------------------


def test_a_refused_task_goes_elsewhere_and_avoids_the_refusing_node() -> None:
    o = owner()
    up(o, "A", "B")
    submit(o)
    assert error(o, "A", 1, ErrorCode.DRAINING, 0.1) == [sent("B", 1, attempt=1)]
    assert error(o, "B", 1, ErrorCode.OVERLOADED, 0.2) == [sent("A", 1, attempt=2)]  # all refused


def test_the_only_node_s_retry_hint_is_honoured() -> None:
    o = owner()
    up(o, "A")
    submit(o)
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 1.0, retry=0.5) == [
        ArmTimer(Timer(TimerKind.RETRY, 1), 1.5)
    ]
    assert o.get(1).state is TaskState.RETRYING  # type: ignore[union-attr]
    assert o.handle(TimerFired(Timer(TimerKind.RETRY, 1)), 1.5) == [sent("A", 1, attempt=1)]


def test_cancelling_a_task_waiting_to_retry_cancels_its_retry_timer() -> None:
    o = owner()
    up(o, "A")
    submit(o)
    error(o, "A", 1, ErrorCode.OVERLOADED, 1.0, retry=0.5)
    assert o.handle(CancelRequested(1), 1.1) == [
        CancelTimer(Timer(TimerKind.RETRY, 1)),
        Deliver(1, None, Same(Cancelled(1, "cancelled by the caller")), None),
    ]
    assert o.handle(TimerFired(Timer(TimerKind.RETRY, 1)), 1.5) == []


def test_max_attempts_fail_the_task() -> None:
    o = owner(max_attempts=2)
    up(o, "A")
    submit(o)
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 0.1) == [sent("A", 1, attempt=1)]
    message = "task 't' was placed 2 times without a result"
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 0.2) == [
        Deliver(1, None, Same(Overloaded(1, message)), None)
    ]
    assert o.statistics().failed == 1 and len(o) == 0


def test_the_task_s_own_failure_is_delivered_not_retried() -> None:
    o = owner()
    up(o, "A", "B")
    submit(o)
    failed = ErrorReceived("A", Error(1, ErrorCode.TASK_FAILED, "boom", exc_type="ValueError"))
    assert o.handle(failed, 0.1) == [
        Deliver(1, None, Same(TaskFailed(1, "boom", "ValueError")), "A")
    ]


# -- hedging -------------------------------------------------------------------------------


def test_a_slow_idempotent_task_gets_a_second_copy_and_the_first_answer_wins() -> None:
    o = hedged_on_a_and_b()
    assert result(o, "B", 1, 1, 0.02) == [
        CancelCopy("A", 1),
        Deliver(1, 1, None, "B", 0.002, 0.02),
    ]
    assert result(o, "A", 1, 1, 0.03) == []  # the losing copy's answer
    stats = o.statistics()
    assert (stats.hedges, stats.hedge_wins, stats.duplicates_dropped) == (1, 1, 1)


def test_hedge_first_copy_fails_the_books_follow_the_survivor() -> None:
    """Issue 11's bug: the first copy failing on A left the task counted on A, and
    losing A then placed again a task B was still running."""
    o = hedged_on_a_and_b()
    assert error(o, "A", 1, ErrorCode.TASK_FAILED, 0.02) == []  # B's copy continues
    assert (o.in_flight("A"), o.in_flight("B")) == (0, 1)
    assert o.handle(NodeDown("A", "closed"), 0.03) == []  # nothing to place again
    assert result(o, "B", 1, 1, 0.04) == [Deliver(1, 1, None, "B", 0.002, 0.04)]
    assert o.statistics().resubmitted == 0


def test_hedge_copy_refused_leaves_the_first_copy() -> None:
    o = hedged_on_a_and_b()
    assert error(o, "B", 1, ErrorCode.OVERLOADED, 0.02) == []
    assert (o.in_flight("A"), o.in_flight("B")) == (1, 0)
    assert result(o, "B", 1, 1, 0.03) == []  # B dropped the task: fenced now
    assert result(o, "A", 1, 1, 0.04) == [Deliver(1, 1, None, "A", 0.002, 0.04)]


def test_node_loss_during_a_hedge_keeps_the_other_copy_without_resubmitting() -> None:
    o = hedged_on_a_and_b()
    assert o.handle(NodeDown("A", "closed"), 0.02) == []  # B's copy is the placement now
    t = o.get(1)
    assert t is not None and (t.node, t.hedge) == ("B", None)
    assert (o.in_flight("A"), o.in_flight("B")) == (0, 1)
    # Losing the last copy places the task again; no node is left, so it waits for one.
    assert o.handle(NodeDown("B", "closed"), 0.03) == [
        Resubmitting("B", "closed", 1),
        ArmTimer(Timer(TimerKind.PARK), 10.03),
    ]


def test_losing_the_hedge_copy_s_node_leaves_the_first_copy() -> None:
    o = hedged_on_a_and_b()
    assert o.handle(NodeDown("B", "closed"), 0.02) == []
    assert result(o, "A", 1, 1, 0.04) == [Deliver(1, 1, None, "A", 0.002, 0.04)]


def test_no_hedge_without_another_node() -> None:
    o = hedging(("A",))
    submit(o, task="echo", args=[1], spec=ECHO)
    assert o.handle(TimerFired(Timer(TimerKind.HEDGE, 1)), 0.01) == []
    assert o.statistics().hedges == 0


def test_a_settled_task_cancels_its_hedge_timer() -> None:
    o = hedging()
    submit(o, task="echo", args=[1], spec=ECHO)
    assert result(o, "A", 1, 1, 0.005) == [
        CancelTimer(Timer(TimerKind.HEDGE, 1)),
        Deliver(1, 1, None, "A", 0.002, 0.005),
    ]


# -- parking -------------------------------------------------------------------------------


def test_with_no_node_up_tasks_park_under_one_timer_and_go_when_a_node_comes() -> None:
    o = owner()
    assert submit(o, 0.0) == [ArmTimer(Timer(TimerKind.PARK), 10.0)]
    assert submit(o, 1.0) == []
    assert o.get(1).state is TaskState.PARKED  # type: ignore[union-attr]
    assert o.handle(NodeUp("A", frozenset({"t"})), 2.0) == [
        CancelTimer(Timer(TimerKind.PARK)),
        sent("A", 1),
        sent("A", 2),
    ]


def test_parked_tasks_fail_when_no_node_comes_in_time_naming_the_time_each_waited() -> None:
    """Seen: a task parked 6 s said it waited 10 s (the shared timer's length)."""
    o = owner()
    submit(o, 0.0)
    submit(o, 4.0)
    assert o.handle(TimerFired(Timer(TimerKind.PARK)), 10.0) == [
        Deliver(1, None, Same(NoNodeAvailable("no node could take task 't' within 10.0 s")), None),
        Deliver(2, None, Same(NoNodeAvailable("no node could take task 't' within 6.0 s")), None),
    ]
    assert len(o) == 0


def test_a_task_that_found_no_node_says_why_each_was_unreachable() -> None:
    """Seen: `submit --url ws://127.0.0.1:9999/offload` said only "no node could take
    task 'add' within 10.0 s", never "connection refused" nor the URL."""
    o = owner()
    url, refused = "ws://127.0.0.1:9999/offload", "ConnectionRefusedError: [Errno 111] refused"
    assert o.handle(NodeUnreachable(url, refused), 0.0) == []
    submit(o, 0.0)
    message = f"no node could take task 't' within 10.0 s ({url}: {refused})"
    assert o.handle(TimerFired(Timer(TimerKind.PARK)), 10.0) == [
        Deliver(1, None, Same(NoNodeAvailable(message)), None)
    ]
    # A node that came up since is no longer named.
    o.handle(NodeUp("A", frozenset({"t"}), url=url), 11.0)
    o.handle(NodeDown("A", "closed"), 12.0)
    submit(o, 12.0)
    assert o.handle(TimerFired(Timer(TimerKind.PARK)), 22.0) == [
        Deliver(2, None, Same(NoNodeAvailable("no node could take task 't' within 10.0 s")), None)
    ]


def test_a_refused_token_fails_waiting_and_new_tasks_at_once() -> None:
    """Seen: a client whose token was refused saw `NoNodeAvailable ... within 10.0 s`
    after 15 s instead of `Unauthorized` naming the reason."""
    o = owner()
    url = "ws://127.0.0.1:8765/offload"
    assert submit(o, 0.0) == [ArmTimer(Timer(TimerKind.PARK), 10.0)]
    refusal = Unauthorized(None, f"{url}: unauthorized: token expired")
    assert o.handle(NodeUnreachable(url, "unauthorized: token expired", everywhere=True), 0.5) == [
        CancelTimer(Timer(TimerKind.PARK)),
        Deliver(1, None, Same(refusal), None),
    ]
    assert submit(o, 1.0) == [Deliver(2, None, Same(refusal), None)]
    # Refused by one node while another may still come: tasks keep waiting.
    o2 = owner()
    o2.handle(NodeUnreachable(url, "unauthorized: token expired", everywhere=False), 0.0)
    assert submit(o2, 0.0) == [ArmTimer(Timer(TimerKind.PARK), 10.0)]
    # Once a node is up, an old refusal no longer fails new tasks.
    up(o, "B")
    assert submit(o, 2.0) == [sent("B", 3)]


def test_a_resumed_node_or_the_controller_s_word_unparks() -> None:
    o = owner()
    up(o, "A")
    o.handle(NodeDraining("A"), 0.0)
    assert submit(o, 0.0) == [ArmTimer(Timer(TimerKind.PARK), 10.0)]
    assert o.handle(NodeResumed("A"), 1.0) == [CancelTimer(Timer(TimerKind.PARK)), sent("A", 1)]
    assert result(o, "A", 1, 1, 1.0) == [Deliver(1, 1, None, "A", 0.002, 0.0)]
    o.handle(NodeListed("A", alive=False), 1.0)  # declared dead: the link is fenced
    o.handle(NodeDown("A", "declared dead"), 1.0)
    assert submit(o, 2.0) == [ArmTimer(Timer(TimerKind.PARK), 12.0)]
    # Recovered in the table while still disconnected: the tasks try again, and park
    # again under a fresh timer (the reconnect, NodeUp, will place them).
    assert o.handle(NodeListed("A", alive=True, back=True), 3.0) == [
        CancelTimer(Timer(TimerKind.PARK)),
        ArmTimer(Timer(TimerKind.PARK), 13.0),
    ]
    assert o.handle(NodeUp("A", frozenset({"t"})), 4.0) == [
        CancelTimer(Timer(TimerKind.PARK)),
        sent("A", 2),
    ]


def test_a_task_no_connected_node_serves_fails_at_once() -> None:
    o = owner()
    up(o, "A", tasks=("echo", "sleep"))
    message = "no connected node serves task 't' (they serve: echo, sleep)"
    assert submit(o) == [Deliver(1, None, Same(task_error(ErrorCode.UNKNOWN_TASK, 1, message)))]


# -- deadlines, cancel, close --------------------------------------------------------------


def test_deadline_passes_cancels_the_copy_and_fences_the_late_result() -> None:
    o = owner()
    up(o, "A")
    assert submit(o, 0.0, deadline_s=1.0) == [
        ArmTimer(Timer(TimerKind.DEADLINE, 1), 1.0),
        sent("A", 1, deadline_ms=1000.0),
    ]
    assert o.handle(TimerFired(Timer(TimerKind.DEADLINE, 1)), 1.0) == [
        CancelCopy("A", 1),
        Deliver(1, None, Same(DeadlineExceeded(1, "no result before the deadline")), "A"),
    ]
    assert result(o, "A", 1, "late", 1.1) == []


def test_a_resubmitted_task_carries_what_is_left_of_its_deadline() -> None:
    o = owner()
    up(o, "A", "B")
    submit(o, 0.0, deadline_s=1.0)
    assert o.handle(NodeDown("A"), 0.25) == [
        Resubmitting("A", "", 1),
        sent("B", 1, attempt=1, deadline_ms=750.0),
    ]
    assert result(o, "B", 1, 7, 0.5) == [
        CancelTimer(Timer(TimerKind.DEADLINE, 1)),
        Deliver(1, 7, None, "B", 0.002, 0.25),
    ]


def test_cancel_tells_every_copy_and_ends_the_task_once() -> None:
    o = hedged_on_a_and_b()
    assert o.handle(CancelRequested(1), 0.02) == [
        CancelCopy("A", 1),
        CancelCopy("B", 1),
        Deliver(1, None, Same(Cancelled(1, "cancelled by the caller")), "A"),
    ]
    assert o.handle(CancelRequested(1), 0.03) == []
    assert (o.in_flight("A"), o.in_flight("B")) == (0, 0)


def test_closing_cancels_everything_still_owned() -> None:
    o = owner()
    up(o, "A")
    submit(o, 0.0)
    o.handle(NodeDown("A"), 0.0)  # 1 parks now, under the park timer
    closed = Cancelled(1, "client closed")
    assert o.handle(Closing(), 1.0) == [
        Deliver(1, None, Same(closed), None),
        CancelTimer(Timer(TimerKind.PARK)),
    ]


# -- local runs and decisions --------------------------------------------------------------


def test_with_no_node_a_registered_task_runs_here() -> None:
    o = owner()
    assert submit(o, 1.0, task="echo", args=[5], where="auto", spec=ECHO) == [
        StartLocalRun(1, ECHO, [5])
    ]
    assert o.in_flight(LOCAL) == 1
    assert o.handle(LocalDone(1, True, 5, 0.001), 1.25) == [Deliver(1, 5, None, LOCAL, 0.001, 0.25)]
    assert o.statistics().completed_local == 1


def test_a_local_failure_and_bad_arguments_are_the_task_s_errors() -> None:
    o = owner()
    submit(o, task="echo", args=[5], where="local", spec=ECHO)
    assert o.handle(LocalDone(1, False, ("ValueError", "bad"), 0.001), 0.5) == [
        Deliver(1, None, Same(TaskFailed(1, "bad", "ValueError")), LOCAL, 0.001, 0.5)
    ]
    assert submit(o, task="echo", args=[1, 2], where="local", spec=ECHO) == [
        Deliver(2, None, Same(task_error(ErrorCode.BAD_ARGS, 2, _bad_args(ECHO, [1, 2]))), LOCAL)
    ]


def _bad_args(s: TaskSpec, args: list[Any]) -> str:
    try:
        s.check_args(args)
    except TypeError as exc:
        return str(exc)
    raise AssertionError("arguments accepted")


def test_where_local_without_a_local_registration_fails() -> None:
    o = owner()
    message = "task 't' is not registered locally and where='local'"
    assert submit(o, where="local") == [Deliver(1, None, Same(NoNodeAvailable(message)))]


def test_auto_tasks_of_one_turn_are_decided_together() -> None:
    o = owner()
    up(o, "A", "B")
    assert submit(o, task="echo", args=[1], where="auto", spec=ECHO) == [
        ArmTimer(Timer(TimerKind.DECIDE), 0.0)
    ]
    assert submit(o, task="echo", args=[2], where="auto", spec=ECHO) == []
    assert o.get(1).state is TaskState.DECIDING  # type: ignore[union-attr]
    tasks = (o.get(1), o.get(2))
    assert o.handle(TimerFired(Timer(TimerKind.DECIDE)), 0.0) == [
        Decide(tasks, ("A", "B"), (0, 0), 0)  # type: ignore[arg-type]
    ]
    assert o.handle(Decided(((1, "B", "c1"), (2, LOCAL, "c2"))), 0.0) == [
        sent("B", 1, task="echo", args=[1]),
        StartLocalRun(2, ECHO, [2]),
    ]
    assert o.handle(LocalDone(2, True, 2, 0.001), 0.1) == [
        Deliver(2, 2, None, LOCAL, 0.001, 0.1, "c2")
    ]


def test_a_task_cancelled_before_its_decision_is_left_out() -> None:
    o = owner()
    up(o, "A")
    submit(o, task="echo", args=[1], where="auto", spec=ECHO)
    o.handle(CancelRequested(1), 0.0)
    assert o.handle(TimerFired(Timer(TimerKind.DECIDE)), 0.0) == []
    assert o.handle(Decided(((1, "A", None),)), 0.0) == []


def test_an_unsendable_auto_task_runs_here_an_edge_task_fails() -> None:
    o = owner()
    up(o, "A")
    submit(o, task="echo", args=[1], where="edge", spec=ECHO)
    too_large = FrameTooLarge(10, 5)
    assert o.handle(Unsendable("A", 1, too_large), 0.0) == [Deliver(1, None, too_large, None)]
    submit(o, task="echo", args=[2], where="auto", spec=ECHO)
    o.handle(TimerFired(Timer(TimerKind.DECIDE)), 0.0)
    o.handle(Decided(((2, "A", None),)), 0.0)
    assert o.handle(Unsendable("A", 2, TypeError("not encodable")), 0.0) == [
        StartLocalRun(2, ECHO, [2])
    ]


def test_instructions_carry_the_stimulus_id_of_their_event() -> None:
    o = owner()
    up(o, "A", "B")
    submit(o)
    out = o.handle(NodeDown("A", "closed", stimulus_id="down-A"), 1.0)
    assert [i.stimulus_id for i in out] == ["down-A", "down-A"]


# -- batch records -------------------------------------------------------------------------


def batch(o: Ownership, n: int, now: float = 0.0, deadline_s: float | None = None) -> int:
    first = o.next_ids(n)
    LAST[:] = o.handle(
        BatchSubmitted(first, "t", [[i] for i in range(n)], deadline_s=deadline_s), now
    )
    return first


#: The instructions of the last batch() call.
LAST: list[Instruction] = []


def items(node: str, first: int, n: int, attempt: int = 0, **kw: Any) -> SendBatchToNode:
    return SendBatchToNode(
        node, [Submit(first + i, "t", [i], attempt=attempt, **kw) for i in range(n)]
    )


def test_a_batch_is_sent_in_one_instruction_and_delivered_once_when_all_are_in() -> None:
    o = owner()
    up(o, "A", "B")
    assert o.next_id() == 1
    first = batch(o, 3)
    assert first == 2 and [items("A", 2, 3)] == LAST
    assert o.in_flight("A") == 3 and len(o) == 3 and 3 in o
    assert submit(o) == [sent("B", 5)]  # the batch's items count as in flight on A
    assert result(o, "A", 3, "b", 0.1) == []
    assert result(o, "A", 3, "b", 0.1) == []  # a duplicate
    failed = ErrorReceived("A", Error(2, ErrorCode.TASK_FAILED, "boom", exc_type="E"))
    assert o.handle(failed, 0.2) == []
    assert result(o, "A", 4, "c", 0.3) == [
        DeliverBatch(2, [None, "b", "c"], [Same(TaskFailed(2, "boom", "E")), None, None])
    ]
    stats = o.statistics()
    assert (stats.completed_edge, stats.failed, stats.duplicates_dropped) == (2, 1, 1)
    assert o.in_flight("A") == 0 and len(o) == 1 and not o.batches


def test_a_batch_s_answers_from_another_node_are_fenced() -> None:
    o = owner()
    up(o, "A", "B")
    batch(o, 2)
    assert result(o, "B", 1, "forged", 0.1) == []
    assert o.statistics().duplicates_dropped == 1


def test_losing_a_batch_s_node_places_its_unfinished_items_again_one_by_one() -> None:
    o = owner()
    up(o, "A", "B")
    batch(o, 3)
    result(o, "A", 1, "a", 0.1)
    assert o.handle(NodeDown("A", "closed"), 0.5) == [
        Resubmitting("A", "closed", 2),
        sent("B", 2, attempt=1, args=[1]),
        sent("B", 3, attempt=1, args=[2]),
    ]
    assert o.in_flight("A") == 0 and o.in_flight("B") == 2
    assert result(o, "A", 2, "late", 0.6) == []  # fenced
    assert result(o, "B", 2, "b", 0.7) == []
    assert result(o, "B", 3, "c", 0.8) == [DeliverBatch(1, ["a", "b", "c"], [None, None, None])]
    assert o.statistics().resubmitted == 2 and len(o) == 0


def test_a_refused_batch_item_goes_elsewhere_on_its_own() -> None:
    o = owner()
    up(o, "A", "B")
    batch(o, 2)
    assert error(o, "A", 2, ErrorCode.OVERLOADED, 0.1) == [sent("B", 2, attempt=1, args=[1])]
    assert result(o, "A", 1, "a", 0.2) == []
    assert result(o, "B", 2, "b", 0.3) == [DeliverBatch(1, ["a", "b"], [None, None])]


def test_a_batch_s_deadline_fails_what_is_left_with_one_timer() -> None:
    o = owner()
    up(o, "A")
    first = o.next_ids(2)
    assert o.handle(BatchSubmitted(first, "t", [[0], [1]], deadline_s=1.0), 0.0) == [
        ArmTimer(Timer(TimerKind.BATCH_DEADLINE, 1), 1.0),
        items("A", 1, 2, deadline_ms=1000.0),
    ]
    result(o, "A", 1, "a", 0.5)
    late = DeadlineExceeded(2, "no result before the deadline")
    assert o.handle(TimerFired(Timer(TimerKind.BATCH_DEADLINE, 1)), 1.0) == [
        CancelCopy("A", 2),
        DeliverBatch(1, ["a", None], [None, Same(late)]),
    ]


def test_a_batch_done_before_its_deadline_cancels_its_timer() -> None:
    o = owner()
    up(o, "A")
    o.handle(BatchSubmitted(o.next_ids(1), "t", [[0]], deadline_s=1.0), 0.0)
    assert result(o, "A", 1, "a", 0.5) == [
        CancelTimer(Timer(TimerKind.BATCH_DEADLINE, 1)),
        DeliverBatch(1, ["a"], [None]),
    ]


def test_with_no_node_a_batch_s_items_park_one_by_one() -> None:
    o = owner()
    assert o.handle(BatchSubmitted(o.next_ids(2), "t", [[0], [1]]), 0.0) == [
        ArmTimer(Timer(TimerKind.PARK), 10.0)
    ]
    assert o.handle(NodeUp("A", frozenset({"t"})), 1.0) == [
        CancelTimer(Timer(TimerKind.PARK)),
        sent("A", 1, args=[0]),
        sent("A", 2, args=[1]),
    ]


def test_cancelling_one_item_and_closing_end_a_batch_once() -> None:
    o = owner()
    up(o, "A")
    batch(o, 3)
    assert o.handle(CancelRequested(2), 0.1) == [CancelCopy("A", 2)]
    assert o.handle(Closing(), 0.2) == [
        DeliverBatch(
            1,
            [None, None, None],
            [
                Same(Cancelled(1, "client closed")),
                Same(Cancelled(2, "cancelled by the caller")),
                Same(Cancelled(3, "client closed")),
            ],
        )
    ]
    assert len(o) == 0 and o.in_flight("A") == 0


def test_an_unsendable_batch_item_fails_alone() -> None:
    o = owner()
    up(o, "A")
    batch(o, 2)
    too_large = FrameTooLarge(10, 5)
    assert o.handle(Unsendable("A", 1, too_large), 0.0) == []
    assert result(o, "A", 2, "b", 0.1) == [DeliverBatch(1, [None, "b"], [too_large, None])]


def test_a_frame_of_answers_is_handled_in_order_as_if_one_by_one() -> None:
    o = owner()
    up(o, "A", "B")
    batch(o, 2)  # 1, 2 on A
    submit(o)  # 3 on B
    submit(o)  # 4 on B
    frame = ResultsReceived(
        "B",
        [
            Result(3, "c", run_ms=2.0),
            Result(1, "forged"),  # on A, not B: fenced
            Error(4, ErrorCode.DRAINING, "draining"),
        ],
    )
    assert o.handle(frame, 0.5) == [
        Deliver(3, "c", None, "B", 0.002, 0.5),
        sent("A", 4, attempt=1),  # refused by B: placed on A
    ]
    frame = ResultsReceived("A", [Result(1, "a"), Result(2, "b"), Result(4, "d")])
    assert o.handle(frame, 1.0) == [
        DeliverBatch(1, ["a", "b"], [None, None]),
        Deliver(4, "d", None, "A", 0.0, 0.5),
    ]
    assert o.statistics().duplicates_dropped == 1


def test_a_task_s_own_max_attempts_overrides_the_client_s() -> None:
    once = dataclasses.replace(ECHO, max_attempts=1)  # must not run twice
    o = owner(max_attempts=5)
    up(o, "A", "B")
    assert submit(o, task="echo", args=[1], spec=once) == [sent("A", 1, task="echo", args=[1])]
    message = "task 'echo' was placed 1 times without a result"
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 0.1) == [
        Deliver(1, None, Same(Overloaded(1, message)), None)
    ]
    # More than the client's, for one worth retrying longer.
    patient = dataclasses.replace(ECHO, max_attempts=3)
    o = owner(max_attempts=1)
    up(o, "A")
    submit(o, task="echo", spec=patient)
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 0.1) == [sent("A", 1, attempt=1, task="echo")]
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 0.2) == [sent("A", 1, attempt=2, task="echo")]
    message = "task 'echo' was placed 3 times without a result"
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 0.3) == [
        Deliver(1, None, Same(Overloaded(1, message)), None)
    ]
    # A task without its own limit keeps the client's.
    o = owner(max_attempts=1)
    up(o, "A")
    submit(o, task="echo", spec=ECHO)
    assert error(o, "A", 1, ErrorCode.OVERLOADED, 0.1) == [
        Deliver(
            1, None, Same(Overloaded(1, "task 'echo' was placed 1 times without a result")), None
        )
    ]


def test_the_run_s_timings_and_cache_flag_are_kept_on_the_record_for_info() -> None:
    o = owner()
    up(o, "A")
    submit(o)
    record = o.get(1)
    assert record is not None
    o.handle(ResultReceived("A", Result(1, "v", run_ms=2.0, queue_ms=5.0)), 0.1)
    assert (record.run_s, record.queue_s, record.cached) == (0.002, 0.005, False)


# -- fallback timer (issue 16 part 2) -------------------------------------------------------


def fallback_sent(o: Ownership, budget: float = 0.5) -> None:
    """Task 1 (echo, auto) sent to A with a fallback budget."""
    up(o, "A")
    submit(o, task="echo", args=[1], where="auto", spec=ECHO)
    o.handle(TimerFired(Timer(TimerKind.DECIDE)), 0.0)
    assert o.handle(Decided(((1, "A", "c1"),), fallback_s=((1, budget),)), 0.0) == [
        sent("A", 1, task="echo", args=[1]),
        ArmTimer(Timer(TimerKind.FALLBACK, 1), budget),
    ]


def test_an_offloaded_task_past_its_budget_runs_here_and_the_late_result_is_fenced() -> None:
    o = owner()
    fallback_sent(o)
    assert o.handle(TimerFired(Timer(TimerKind.FALLBACK, 1)), 0.5) == [
        CancelCopy("A", 1),
        StartLocalRun(1, ECHO, [1]),
    ]
    assert result(o, "A", 1, "late", 0.6) == []  # the node's answer no longer counts
    assert o.handle(LocalDone(1, True, 1, 0.001), 0.75) == [
        Deliver(1, 1, None, LOCAL, 0.001, 0.25, "c1")
    ]
    assert o.statistics().fallbacks == 1


def test_a_result_in_time_cancels_the_fallback_timer() -> None:
    o = owner()
    fallback_sent(o)
    assert result(o, "A", 1, 7, 0.2) == [
        CancelTimer(Timer(TimerKind.FALLBACK, 1)),
        Deliver(1, 7, None, "A", 0.002, 0.2, "c1"),
    ]
    assert o.handle(TimerFired(Timer(TimerKind.FALLBACK, 1)), 0.5) == []
    assert o.statistics().fallbacks == 0


def test_no_fallback_timer_without_a_budget() -> None:
    o = owner()
    up(o, "A")
    submit(o, task="echo", args=[1], where="auto", spec=ECHO)
    o.handle(TimerFired(Timer(TimerKind.DECIDE)), 0.0)
    assert o.handle(Decided(((1, "A", None),)), 0.0) == [sent("A", 1, task="echo", args=[1])]


def test_the_last_placement_of_a_task_that_may_run_here_is_here() -> None:
    """Nodes lost one after another used up a frame's placements and it failed with
    ``overloaded`` although it could run here (bench e2e, ultrasound on Norway: 1-MB
    uploads held the heartbeats back and the nodes were declared dead again and
    again). The last placement ``max_attempts`` allows now runs it here; a task forced
    to the edge still goes to a node, and the limit itself is unchanged."""
    o = owner(max_attempts=3)
    up(o, "A", "B", "C")
    submit(o, task="echo", args=[1], where="auto", spec=ECHO)
    o.handle(TimerFired(Timer(TimerKind.DECIDE)), 0.0)
    assert o.handle(Decided(((1, "A", "c"),)), 0.0) == [sent("A", 1, task="echo", args=[1])]
    assert o.handle(NodeDown("A", "closed"), 1.0) == [
        Resubmitting("A", "closed", 1),
        sent("B", 1, attempt=1, task="echo", args=[1]),
    ]
    assert o.handle(NodeDown("B", "closed"), 2.0) == [
        Resubmitting("B", "closed", 1),
        StartLocalRun(1, ECHO, [1]),
    ]
    assert o.handle(LocalDone(1, True, 1, 0.001), 2.5)[0] == Deliver(
        1, 1, None, LOCAL, 0.001, 0.5, "c"
    )
    # where="edge": the third placement is C, as before.
    o = owner(max_attempts=3)
    up(o, "A", "B", "C")
    submit(o, task="echo", args=[1], where="edge", spec=ECHO)
    o.handle(NodeDown("A", "closed"), 1.0)
    assert o.handle(NodeDown("B", "closed"), 2.0)[1] == sent(
        "C", 1, attempt=2, task="echo", args=[1]
    )
