"""The node's admission decisions on virtual time: each submit and hello gives one exact
outcome, with no socket, no event loop and no clock (time is an argument)."""

from __future__ import annotations

import msgspec
import pytest

from edgeoffload.auth import Keys, make_token
from edgeoffload.errors import BadItem
from edgeoffload.node.admission import (
    SHUTTING_DOWN,
    Admission,
    Broadcast,
    NodeOffer,
    Reject,
    Send,
    missing_labels,
)
from edgeoffload.node.scheduler import Scheduler
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.connection import State
from edgeoffload.protocol.messages import (
    PROTOCOL_VERSION,
    Draining,
    Error,
    Heartbeat,
    Hello,
    Resume,
    Status,
    Submit,
    Welcome,
)
from edgeoffload.tasks import TaskSpec, load_modules

TASKS = load_modules(["edgeoffload.examples.tasks"])
SECRET = "correct-horse-battery-staple-0123456789"
T0 = 1_000.0  # the node's monotonic clock, seconds
UNIX = 1_700_000_000.0  # wall time, for tokens only


def admission(
    *,
    labels: dict[str, str] | None = None,
    max_pending: int = 100,
    auth_secret: str | None = None,
    tasks: dict[str, TaskSpec] | None = None,
) -> Admission:
    offer = NodeOffer(
        node_id="edge-1",
        tasks=TASKS if tasks is None else tasks,
        labels=labels or {},
        max_frame_bytes=1 << 20,
        max_batch=512,
        workers=2,
        keys=None if auth_secret is None else Keys(auth_secret),
    )
    return Admission(offer, Scheduler(max_pending, workers=2))


def welcomed(a: Admission, sid: int = 1) -> Admission:
    a.open(sid)
    a.hello(sid, Hello(PROTOCOL_VERSION, f"client-{sid}"), UNIX)
    return a


def welcome(a: Admission) -> Welcome:
    return Welcome(PROTOCOL_VERSION, "edge-1", a.offered, 1 << 20, 512, 2, dict(a.offer.labels))


# -- rule 1: the task must be offered ----------------------------------------------------------


def test_unknown_task_is_answered_with_its_name() -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(7, "nope", []), T0) == Error(
        7, ErrorCode.UNKNOWN_TASK, "no task named 'nope' on this node"
    )
    assert a.scheduler.statistics().admitted == 0


def test_a_task_whose_labels_the_node_lacks_is_unknown_here_and_says_which() -> None:
    a = welcomed(admission(labels={"gpu": "false", "zone": "a"}))
    assert a.submit(1, Submit(8, "gpu_pid", []), T0) == Error(
        8, ErrorCode.UNKNOWN_TASK, "task 'gpu_pid' requires labels this node lacks: gpu=true"
    )
    # Not offered either: the welcome (and the controller) never list it.
    assert "gpu_pid" in TASKS and "gpu_pid" not in a.offered and "echo" in a.offered


def test_a_node_with_the_labels_runs_the_task() -> None:
    a = welcomed(admission(labels={"gpu": "true"}))
    assert "gpu_pid" in a.offered
    assert a.submit(1, Submit(9, "gpu_pid", []), T0) == (9, TASKS["gpu_pid"], [])


def test_missing_labels_names_absent_and_different_values() -> None:
    spec = TaskSpec("t", fn=lambda: None, module="tests", requires={"gpu": "true", "os": "l"})
    assert missing_labels(spec, {"gpu": "true", "os": "l", "extra": "x"}) == {}
    assert missing_labels(spec, {"gpu": "yes"}) == {"gpu": "true", "os": "l"}


# -- rule 2: the arguments must fit ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "args", "message"),
    [
        ("add", [1.0], "add() takes 2 positional arguments, got 1"),
        ("add", ["x", 2.0], "argument 'a': Expected `float`, got `str`"),
        ("echo_pool", [1, 2], "echo_pool() takes 1 positional argument, got 2"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs_or_queues(
    task: str, args: list[object], message: str
) -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(3, task, args), T0) == Error(3, ErrorCode.BAD_ARGS, message)
    assert a.scheduler.queued == 0


# -- rule 3: inline tasks ----------------------------------------------------------------------


def test_an_inline_task_is_run_at_once_with_its_checked_arguments() -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(4, "add", [1, 2.5]), T0) == (4, TASKS["add"], [1, 2.5])
    assert a.scheduler.queued == 0  # never queued


def test_an_inline_task_whose_budget_is_spent_never_runs() -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(5, "echo", [1], deadline_ms=0.0), T0) == Error(
        5, ErrorCode.DEADLINE_EXCEEDED, "deadline passed before arrival"
    )
    # Any budget left is enough for an inline task: it runs now.
    assert a.submit(1, Submit(6, "echo", [1], deadline_ms=0.001), T0) == (6, TASKS["echo"], [1])


# -- rule 4: the scheduler -----------------------------------------------------------------------


def test_a_pool_task_is_queued_under_its_connection_with_its_deadline_from_arrival() -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(10, "echo_pool", [1], deadline_ms=500.0), T0) is None
    assert a.scheduler.queued == 1
    (job,), expired = a.scheduler.next_chunk(T0 + 0.1, 10)
    assert (job.owner, job.id, job.deadline_at, job.args) == (1, 10, T0 + 0.5, [1])
    assert expired == []


def test_a_queued_task_past_its_deadline_is_not_started() -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(11, "echo_pool", [1], deadline_ms=500.0), T0) is None
    jobs, expired = a.scheduler.next_chunk(T0 + 0.5, 10)
    assert jobs == [] and [j.id for j in expired] == [11]


def test_overloaded_refusal_carries_a_retry_hint() -> None:
    a = welcomed(admission(max_pending=2))
    assert a.submit(1, Submit(1, "echo_pool", [1]), T0) is None
    assert a.submit(1, Submit(2, "echo_pool", [2]), T0) is None
    refusal = a.submit(1, Submit(3, "echo_pool", [3]), T0)
    assert refusal == Error(
        3,
        ErrorCode.OVERLOADED,
        "this client has 2 tasks pending (its share: 2)",
        retry_after_s=0.01,
    )
    # Inline tasks do not queue, so a full queue does not refuse them.
    assert a.submit(1, Submit(4, "echo", [4]), T0) == (4, TASKS["echo"], [4])


# -- drain, resume, shutdown ---------------------------------------------------------------------


def test_a_drained_node_refuses_new_work_inline_included_and_tells_open_connections() -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(1, "echo_pool", [1]), T0) is None  # admitted before the drain
    assert a.drain("maintenance") == [Broadcast(Draining("maintenance"), State.OPEN)]
    assert a.draining and a.drain_reason == "maintenance"
    draining = "node is draining; resubmit elsewhere"
    assert a.submit(1, Submit(2, "echo_pool", [2]), T0) == Error(2, ErrorCode.DRAINING, draining)
    assert a.submit(1, Submit(3, "echo", [3]), T0) == Error(3, ErrorCode.DRAINING, draining)
    assert a.drain("again") == []  # the first reason stands
    (job,), _ = a.scheduler.next_chunk(T0, 10)  # admitted work still runs
    assert job.id == 1


def test_resume_undoes_a_drain_and_tells_draining_connections() -> None:
    a = welcomed(admission())
    assert a.resume("not drained") == []
    a.drain("hot")
    assert a.resume("cool") == [Broadcast(Resume("cool"), State.DRAINING)]
    assert not a.draining and a.drain_reason is None
    assert a.submit(1, Submit(1, "echo", [1]), T0) == (1, TASKS["echo"], [1])


def test_a_shutdown_is_final_and_says_how_long_admitted_work_has() -> None:
    a = welcomed(admission())
    assert a.shut_down("bye", 7.5) == [Broadcast(Draining("bye", 7.5), State.OPEN)]
    assert a.closing and a.draining
    assert a.shut_down("bye", 7.5) == []
    assert a.resume("no") == [] and a.drain("no") == []
    assert a.draining
    assert a.submit(1, Submit(1, "echo", [1]), T0) == Error(
        1, ErrorCode.DRAINING, "node is draining; resubmit elsewhere"
    )


# -- the handshake -------------------------------------------------------------------------------


def test_a_hello_is_welcomed_with_the_offer_and_fills_the_session() -> None:
    a = admission(labels={"zone": "a"})
    session = a.open(5)
    assert a.hello(5, Hello(PROTOCOL_VERSION, "cam-1", batch_results=False), UNIX) == [
        Send(5, welcome(a))
    ]
    assert (session.client_id, session.batch_results, session.welcomed) == ("cam-1", False, True)
    assert welcome(a).tasks == sorted(set(TASKS) - {"gpu_pid"})


def test_a_hello_to_a_drained_node_is_welcomed_then_told_at_once() -> None:
    a = admission()
    a.drain("maintenance")
    a.open(1)
    assert a.hello(1, Hello(PROTOCOL_VERSION, "c"), UNIX) == [
        Send(1, welcome(a)),
        Send(1, Draining("maintenance")),
    ]


def test_a_hello_to_a_node_shutting_down_gets_no_welcome() -> None:
    a = admission()
    a.shut_down(SHUTTING_DOWN, 10.0)
    session = a.open(1)
    assert a.hello(1, Hello(PROTOCOL_VERSION, "c"), UNIX) == [Send(1, Draining(SHUTTING_DOWN))]
    assert not session.welcomed


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "a token is required (none was sent)"),
        (make_token("x" * 40, "cam", "client", 60, now=UNIX), "token signature is invalid"),
        (make_token(SECRET, "cam", "client", 60, now=UNIX - 120), "token expired"),
        (
            make_token(SECRET, "edge-9", "node", 60, now=UNIX),
            "role 'node' may not do this (needs admin or client)",
        ),
    ],
)
def test_auth_refusals_close_the_handshake_and_say_why(token: str | None, message: str) -> None:
    a = admission(auth_secret=SECRET)
    session = a.open(1)
    assert a.hello(1, Hello(PROTOCOL_VERSION, "c", token), UNIX) == [
        Reject(1, ErrorCode.UNAUTHORIZED, message)
    ]
    assert not session.welcomed and session.subject is None


def test_a_valid_token_is_welcomed_and_its_subject_kept_on_the_node_clock() -> None:
    a = admission(auth_secret=SECRET)
    session = a.open(1)
    token = make_token(SECRET, "cam-7", "client", 60, now=UNIX)
    assert a.hello(1, Hello(PROTOCOL_VERSION, "c", token), UNIX + 30) == [Send(1, welcome(a))]
    assert session.subject == "cam-7"
    # The same token, presented on a second connection after it expired (plus leeway).
    a.open(2)
    assert a.hello(2, Hello(PROTOCOL_VERSION, "c", token), UNIX + 66) == [
        Reject(2, ErrorCode.UNAUTHORIZED, "token expired")
    ]


def test_a_hello_with_a_nonce_gets_a_welcome_signed_for_it_and_only_then() -> None:
    """The node proves its identity key to a client that asks (edgeoffload.identity);
    a hello without a nonce gets the same welcome as before, unsigned."""
    from edgeoffload.identity import NodeIdentity, check_welcome, new_nonce

    identity = NodeIdentity.generate()
    a = admission()
    a.offer = msgspec.structs.replace(a.offer, identity=identity)
    nonce = new_nonce()
    a.open(1)
    [sent] = a.hello(1, Hello(PROTOCOL_VERSION, "cam-1", nonce=nonce), UNIX)
    assert isinstance(sent, Send) and isinstance(sent.message, Welcome)
    signed = sent.message
    assert check_welcome(identity.public_key, signed.signature, nonce, "edge-1", "cam-1") is None
    assert replace_signature(signed) == welcome(a)
    a.open(2)
    assert a.hello(2, Hello(PROTOCOL_VERSION, "cam-1"), UNIX) == [Send(2, welcome(a))]


def test_a_refused_token_gets_no_signature() -> None:
    from edgeoffload.identity import NodeIdentity, new_nonce

    a = admission(auth_secret=SECRET)
    a.offer = msgspec.structs.replace(a.offer, identity=NodeIdentity.generate())
    a.open(1)
    [refused] = a.hello(1, Hello(PROTOCOL_VERSION, "c", None, nonce=new_nonce()), UNIX)
    assert isinstance(refused, Reject)


def replace_signature(w: Welcome) -> Welcome:
    return msgspec.structs.replace(w, signature=None)


# -- per connection --------------------------------------------------------------------------------


def test_connections_own_their_tasks_ids_cancels_and_leaving() -> None:
    a = welcomed(welcomed(admission(), 1), 2)
    assert a.submit(1, Submit(1, "echo_pool", [1]), T0) is None
    assert a.submit(2, Submit(1, "echo_pool", [1]), T0) is None  # same id, other owner
    assert a.submit(1, Submit(1, "echo_pool", [1]), T0) == Error(
        None, ErrorCode.DUPLICATE_ID, "task id 1 is already in flight; this submit was ignored"
    )
    assert a.cancel(2, [1, 99]) == [Error(1, ErrorCode.CANCELLED, "cancelled by its owner")]
    assert a.submit(1, Submit(2, "echo_pool", [2]), T0) is None
    assert a.close(1) == 2  # its two tasks were dropped, the other owner's cancel stands
    assert set(a.sessions) == {2}
    assert a.scheduler.next_chunk(T0, 10) == ([], [])


def test_a_heartbeat_is_answered_with_the_queue_state() -> None:
    a = welcomed(admission())
    a.submit(1, Submit(1, "echo_pool", [1]), T0)
    a.submit(1, Submit(2, "echo_pool", [2]), T0)
    a.scheduler.next_chunk(T0, 1)
    a.drain("x")
    assert a.heartbeat(1, Heartbeat(4, 123.5)) == Send(1, Status(4, 123.5, 1, 1, 2, True))


def test_a_frame_of_submits_gives_one_entry_per_unqueued_submit_in_order() -> None:
    a = welcomed(admission())
    frame = [
        Submit(1, "echo", ["a"]),
        Submit(2, "echo_pool", ["queued"]),
        Submit(3, "nope", []),
        Submit(4, "echo", ["b"], deadline_ms=0.0),
        Submit(5, "add", [1, 2]),
    ]
    assert a.submit_all(1, frame, T0) == [
        (1, TASKS["echo"], ["a"]),
        Error(3, ErrorCode.UNKNOWN_TASK, "no task named 'nope' on this node"),
        Error(4, ErrorCode.DEADLINE_EXCEEDED, "deadline passed before arrival"),
        (5, TASKS["add"], [1, 2]),
    ]
    assert a.scheduler.queued == 1


# -- fair sharing (issue 12, 5) ----------------------------------------------------------------


def test_an_inline_flood_runs_at_most_its_budget_per_turn_and_waits_for_later_turns() -> None:
    # Issue 12: 4,096-item inline frames at 684k tasks/s pushed another client's p50 from
    # 0.71 to 36.6 ms: each frame ran whole on the event loop. Now a connection runs at
    # most inline_per_turn inline tasks per turn; the rest wait in its backlog, within
    # its share of the queue, and the server takes them turn by turn.
    a = welcomed(welcomed(admission(max_pending=12), 1), 2)
    a.offer = msgspec.structs.replace(a.offer, inline_per_turn=3)
    frame = [Submit(i, "echo", [i]) for i in range(10)]
    decisions = a.submit_all(1, frame, T0)
    assert [d[0] for d in decisions if isinstance(d, tuple)] == [0, 1, 2]
    assert [item[0] for item in a.sessions[1].deferred] == list(range(3, 10))
    # a frame arriving behind the backlog joins it whole (answers keep their order),
    # up to the client's share of the queue (12: it is the only one holding tasks);
    # past it, refused with a hint
    decisions = a.submit_all(1, [Submit(i, "echo", [i]) for i in range(10, 20)], T0)
    refused = [d for d in decisions if isinstance(d, Error)]
    assert [item[0] for item in a.sessions[1].deferred] == list(range(3, 15))
    assert [e.id for e in refused] == list(range(15, 20))
    assert refused[0] == Error(
        15,
        ErrorCode.OVERLOADED,
        "this client has 12 inline tasks waiting and 0 queued (its share: 12)",
        retry_after_s=0.01,
    )
    # each turn takes the budget, oldest first; the other connection is not held up
    assert [item[0] for item in a.take_inline(1)] == [3, 4, 5]
    assert [d[0] for d in a.submit_all(2, frame[:3], T0) if isinstance(d, tuple)] == [0, 1, 2]
    assert [item[0] for item in a.take_inline(1)] == [6, 7, 8]
    assert a.take_inline(2) == [] and a.take_inline(99) == []


def test_connections_with_one_token_subject_share_one_quota() -> None:
    a = admission(max_pending=4, auth_secret=SECRET)
    token = make_token(SECRET, "alice", "client", 3600, now=UNIX - 1)
    for sid in (1, 2):
        a.open(sid)
        a.hello(sid, Hello(PROTOCOL_VERSION, f"c{sid}", token), UNIX)
    for i in range(4):
        assert a.submit(1 + i % 2, Submit(i, "echo_pool", [i]), T0) is None
    refusal = a.submit(2, Submit(9, "echo_pool", [9]), T0)
    assert refusal is not None and refusal.code is ErrorCode.OVERLOADED
    assert a.scheduler.statistics().shares == 1


def test_a_bad_batch_item_is_answered_under_its_id_unless_that_id_is_in_flight() -> None:
    a = welcomed(admission())
    assert a.submit(1, Submit(5, "echo_pool", [5]), T0) is None
    assert a.bad_item(1, BadItem(2, "batch item 1: bad")) == Error(
        2, ErrorCode.BAD_FRAME, "batch item 1: bad"
    )
    # id 5 is in flight: its own answer must stay the only one under id 5
    assert a.bad_item(1, BadItem(5, "batch item 2: bad")) == Error(
        None, ErrorCode.BAD_FRAME, "task id 5: batch item 2: bad"
    )
    assert a.bad_item(1, BadItem(None, "batch item 3: bad")) == Error(
        None, ErrorCode.BAD_FRAME, "batch item 3: bad"
    )


def test_the_inline_backlog_and_the_queued_tasks_share_one_quota() -> None:
    a = welcomed(admission(max_pending=6))
    a.offer = msgspec.structs.replace(a.offer, inline_per_turn=1)
    a.submit_all(1, [Submit(i, "echo", [i]) for i in range(5)], T0)  # 1 runs, 4 wait
    assert len(a.sessions[1].deferred) == 4
    assert a.submit(1, Submit(10, "echo_pool", [0]), T0) is None
    assert a.submit(1, Submit(11, "echo_pool", [0]), T0) is None
    refusal = a.submit(1, Submit(12, "echo_pool", [0]), T0)
    assert refusal is not None and refusal.code is ErrorCode.OVERLOADED
    assert refusal.message == "this client has 6 tasks pending (its share: 6)"
