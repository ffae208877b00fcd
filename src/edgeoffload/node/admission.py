"""Who may connect to a node and what work it takes, as pure logic: per-connection
sessions, the handshake, admission of each submit, drain and resume.

The server (:mod:`.server`) owns the sockets; for every message it calls one method
here with the connection's id and the time, and carries out what comes back: a frame
to send on one connection or on all of them, a refusal that closes the handshake, a
task to run inline, an error to answer. Nothing here awaits, reads a clock or touches
a socket, so every rule below is tested on virtual time (tests/unit/node/
test_admission.py), and the :class:`~.scheduler.Scheduler` it feeds is the one the
simulator runs. The shape is the scheduler's and the controller's membership: events
in (a method per message kind; a frame of submits is one event), instructions out.

Two clocks come in, named for what they are: ``now`` is the node's monotonic clock
(deadlines are budgets measured from arrival, see docs/protocol.md), ``unix_now`` is
wall time, only for a token's expiry (its issuer stamped it in Unix time).

Rules, in the order a submit meets them:

1. **The task must be offered.** A name the node does not serve, or a task whose
   ``requires`` labels the node does not carry, is answered ``unknown_task``. The
   node offers (in its welcome and to its controller) only the tasks it can run, so a
   conforming client never sends either; a client that submits by name without the
   task's spec, or that follows a stale table, is told why.
2. **The arguments must fit** the task's signature (``bad_args``; nothing ran).
3. **Inline tasks run at once** unless the node drains, up to ``inline_per_turn``
   (256) per connection per event-loop turn; one whose budget is already spent
   (``deadline_ms <= 0``) is answered ``deadline_exceeded`` and never runs. The rest
   wait in the connection's inline backlog (:attr:`Session.deferred`, in arrival
   order; a frame that arrives while it is not empty joins it whole), and the server
   takes up to ``inline_per_turn`` of them per turn (:meth:`Admission.take_inline`),
   so a flooding connection runs about 0.1 ms of inline work per turn and every other
   connection's frames are read in between. The backlog counts against the client's
   fair share of the queue (rule 4) with its queued tasks, both ways: past it,
   ``overloaded`` with a retry hint.
   Deferred rather than queued for the pool: tried first, the pool's per-task cost
   on the loop (admission, a chunk, the answer's trip back) is several times an inline
   run's, so a flood moved there cost the other clients more loop time, not less
   (measured: their p50 round trip 140 ms instead of 35 ms beside a 4,096-item flood;
   deferred, 0.3 to 0.6 ms, see docs/reliability.md).
4. **Everything else goes to the scheduler**, which refuses it while draining
   (``draining``), past the client's fair share of the queue (``overloaded``, with a
   retry hint), when its id is already in flight (``duplicate_id``) or when its
   deadline has passed (``deadline_exceeded``); see :mod:`.scheduler`. Its share is
   the token's subject when the node checks tokens (one client's connections share
   one quota), else the connection.

The handshake: with a secret (:class:`~edgeoffload.auth.Keys`), a hello whose token
is missing, oversized, badly signed, expired, too long-lived or of a role that may not
submit is refused (``unauthorized``, the connection closes; edgeoffload.auth says why
each check). A node shutting down
answers a hello with ``Draining`` and no welcome; a drained node welcomes, then says
``Draining`` at once, so the client knows not to place work there.

Drain and shutdown are states of this object, not flags set on the scheduler from
outside: :meth:`Admission.drain`, :meth:`Admission.resume` and
:meth:`Admission.shut_down` set the scheduler's drain flag and return the frame to
tell every client.

Per-connection state lives in a :class:`Session` keyed by the connection's id: the
client's name, whether it takes batched answers, its token's subject. The quotas and
fair turns are the scheduler's, keyed by the share each submit names (rule 4); the
per-frame inline budget is here (rule 3).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from ..auth import CLIENT_ROLES, Keys, verify_token
from ..errors import BadItem, Unauthorized
from ..identity import NodeIdentity
from ..protocol.codec import DEFAULT_MAX_FRAME_BYTES
from ..protocol.codes import ErrorCode
from ..protocol.connection import State
from ..protocol.messages import (
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
from ..tasks import TaskSpec
from .scheduler import Scheduler

#: What a node says to a hello, and with each refusal, while it shuts down.
SHUTTING_DOWN = "node shutting down"


# -- instructions (what the server carries out) ---------------------------------------------


class Send(msgspec.Struct, frozen=True):
    """Send ``message`` on connection ``sid`` (a welcome, a drain notice, a status)."""

    sid: int
    message: Welcome | Draining | Resume | Status


class Reject(msgspec.Struct, frozen=True):
    """Refuse connection ``sid``'s hello with ``code`` and close the connection."""

    sid: int
    code: ErrorCode
    message: str


class Broadcast(msgspec.Struct, frozen=True):
    """Send ``message`` on every connection whose protocol state is ``state``: a drain
    notice goes to open connections, a resume to draining ones (the connection state
    machine allows nothing else)."""

    message: Draining | Resume
    state: State


#: Run an inline task now, in the event loop, and answer its id with the outcome:
#: ``(task id, spec, checked args)``.
#: NOTE: a plain tuple, and one call per frame (:meth:`Admission.submit_all`), not a
#: dataclass and a call per submit: this is the node's hottest path. Measured on
#: 64-submit frames of inline ``echo``: 196 ns per submit, against 350 ns with a
#: dataclass per task and a call per submit. The node's whole handling of an inline
#: submit, the run and the answer included, costs ~500 ns against ~440 ns when these
#: checks were written inline in the server, of a round trip of about 5 us per task
#: (~190,000 tasks/s through one node).
RunInline = tuple[int, TaskSpec, list[Any]]

Instruction = Send | Reject | Broadcast

#: What admission decides about one submit that is not simply queued.
SubmitDecision = RunInline | Error


# -- state ---------------------------------------------------------------------------------


class NodeOffer(msgspec.Struct, frozen=True):
    """What a node offers, fixed when it starts.

    Attributes:
        node_id: its name (``host:port`` unless configured).
        tasks: every task it loaded, by name.
        labels: its labels, matched against each task's ``requires``.
        max_frame_bytes: the largest frame it accepts (told in the welcome).
        max_batch: the most answers it packs in one frame.
        workers: its pool processes.
        keys: the secrets client tokens are checked with; None: no token needed.
        inline_per_turn: inline tasks a connection runs per event-loop turn (rule 3).
        cache_bytes: its data-locality cache's budget (told in the welcome; 0: none).
        identity: the node's key pair, which signs a welcome whose hello carried a
            nonce (:mod:`edgeoffload.identity`); None: welcomes are never signed.
    """

    node_id: str
    tasks: Mapping[str, TaskSpec]
    labels: Mapping[str, str] = msgspec.field(default_factory=dict)
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_batch: int = 4096
    workers: int = 1
    keys: Keys | None = None
    inline_per_turn: int = 256
    cache_bytes: int = 0
    identity: NodeIdentity | None = None


class Session(msgspec.Struct):
    """One client connection as admission sees it.

    Attributes:
        sid: the connection's id, unique for the node's life; the owner of its jobs in
            the scheduler.
        client_id: the name the hello gave (empty until then).
        batch_results: the client takes several answers in one frame.
        subject: the token's subject when the node checks tokens.
        welcomed: the hello was accepted (a welcome was sent).
        deferred: its inline tasks past this turn's budget, to run in later turns.
    """

    sid: int
    client_id: str = ""
    batch_results: bool = True
    subject: str | None = None
    welcomed: bool = False
    deferred: deque[RunInline] = msgspec.field(default_factory=deque)


def missing_labels(spec: TaskSpec, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels ``spec`` requires that ``labels`` lack or carry another value."""
    return {k: v for k, v in spec.requires.items() if labels.get(k) != v}


class Admission:
    """Sessions and admission for one node (see the module docstring).

    Args:
        offer: the node's fixed facts.
        scheduler: its work queue; admission owns its drain flag.

    Call :meth:`open` when a connection arrives and :meth:`close` when it ends; in
    between, one method per received message. Sessions are keyed by ``sid``, which the
    caller chooses (unique per connection).
    """

    def __init__(self, offer: NodeOffer, scheduler: Scheduler) -> None:
        self.offer = offer
        self.scheduler = scheduler
        self.sessions: dict[int, Session] = {}
        #: Why the node is drained without shutting down (admin or health), if it is.
        self.drain_reason: str | None = None
        #: The node is shutting down (for good: no resume).
        self.closing = False
        # Rule 1 is decided once per task, not per submit: the labels never change.
        self._runnable: dict[str, TaskSpec] = {}
        self._lacking: dict[str, str] = {}
        for name, spec in offer.tasks.items():
            missing = missing_labels(spec, offer.labels)
            if missing:
                wanted = ", ".join(f"{k}={v}" for k, v in sorted(missing.items()))
                self._lacking[name] = f"task {name!r} requires labels this node lacks: {wanted}"
            else:
                self._runnable[name] = spec

    @property
    def offered(self) -> list[str]:
        """The names of the tasks the node can run, sorted (its welcome lists them)."""
        return sorted(self._runnable)

    @property
    def draining(self) -> bool:
        """The node takes no new work (drained or shutting down)."""
        return self.scheduler.draining

    # -- connections ------------------------------------------------------------------------

    def open(self, sid: int) -> Session:
        """A connection arrived (before its hello)."""
        session = self.sessions[sid] = Session(sid)
        return session

    def close(self, sid: int) -> int:
        """A connection ended: forget its session and its jobs (no one to answer).

        Returns the number of its tasks that were still queued or running.
        """
        self.sessions.pop(sid, None)
        return self.scheduler.drop_owner(sid)

    def hello(self, sid: int, hello: Hello, unix_now: float) -> list[Instruction]:
        """Accept or refuse a hello (the connection checked its version already)."""
        session = self.sessions[sid]
        session.client_id = hello.client_id
        session.batch_results = hello.batch_results
        offer = self.offer
        if offer.keys is not None:
            try:
                claims = verify_token(offer.keys, hello.token, CLIENT_ROLES, unix_now)
                session.subject = claims.subject
            except Unauthorized as exc:
                return [Reject(sid, ErrorCode.UNAUTHORIZED, exc.message)]
        if self.closing:
            return [Send(sid, Draining(SHUTTING_DOWN))]
        session.welcomed = True
        signature = None
        if hello.nonce is not None and offer.identity is not None:
            # Signed after the token check: a stranger gets no signatures to study.
            signature = offer.identity.sign_welcome(hello.nonce, offer.node_id, hello.client_id)
        welcome = Welcome(
            PROTOCOL_VERSION,
            offer.node_id,
            self.offered,
            offer.max_frame_bytes,
            offer.max_batch,
            offer.workers,
            dict(offer.labels),
            cache_bytes=offer.cache_bytes,
            signature=signature,
        )
        if self.drain_reason is not None:
            return [Send(sid, welcome), Send(sid, Draining(self.drain_reason))]
        return [Send(sid, welcome)]

    # -- work ----------------------------------------------------------------------------------

    def submit_all(
        self, sid: int, submits: Iterable[Submit], now: float, item_bytes: int = 0
    ) -> list[SubmitDecision]:
        """Decide the submits of one frame (rules 1-4 of the module docstring).

        ``item_bytes``: each submit's share of the frame's size, counted against the
        client's share of the node's argument bytes (the scheduler's ``max_bytes``).

        Returns:
            In the submits' order, one entry per submit that was not queued: a
            :data:`RunInline` to carry out or the :class:`Error` to answer. Submits
            without an entry were queued in the scheduler: the caller dispatches.
        """
        out: list[SubmitDecision] = []
        add = out.append
        runnable = self._runnable
        scheduler = self.scheduler
        draining = scheduler.draining
        session = self.sessions[sid]
        share = sid if session.subject is None else session.subject
        deferred = session.deferred
        # A frame arriving behind a backlog joins it whole (answers keep their order).
        inline_left = 0 if deferred else self.offer.inline_per_turn
        room = -1  # the share's room for deferred tasks, computed when first needed
        for submit in submits:
            spec = runnable.get(submit.task)
            if spec is None:
                reason = self._lacking.get(submit.task)
                if reason is None:
                    reason = f"no task named {submit.task!r} on this node"
                add(Error(submit.id, ErrorCode.UNKNOWN_TASK, reason))
                continue
            try:
                args = spec.check_args(submit.args)
            except TypeError as exc:
                add(Error(submit.id, ErrorCode.BAD_ARGS, str(exc)))
                continue
            if spec.inline and not draining:
                if submit.deadline_ms is not None and submit.deadline_ms <= 0:
                    add(
                        Error(
                            submit.id, ErrorCode.DEADLINE_EXCEEDED, "deadline passed before arrival"
                        )
                    )
                elif inline_left > 0:
                    inline_left -= 1
                    add((submit.id, spec, args))
                else:
                    if room < 0:
                        room = scheduler.room(share) - len(deferred)
                    if room > 0:
                        room -= 1
                        deferred.append((submit.id, spec, args))
                    else:
                        add(self._inline_refusal(submit.id, len(deferred), share))
                continue
            error = scheduler.admit(sid, submit, spec, args, now, share, item_bytes, len(deferred))
            if error is not None:
                add(error)
        return out

    def take_inline(self, sid: int) -> list[RunInline]:
        """The connection's deferred inline tasks to run this turn (up to
        ``inline_per_turn``, oldest first); none if it has gone."""
        session = self.sessions.get(sid)
        if session is None:
            return []
        deferred = session.deferred
        n = min(len(deferred), self.offer.inline_per_turn)
        return [deferred.popleft() for _ in range(n)]

    def _inline_refusal(self, task_id: int, waiting: int, share: object) -> Error:
        scheduler = self.scheduler
        return Error(
            task_id,
            ErrorCode.OVERLOADED,
            f"this client has {waiting} inline tasks waiting and "
            f"{scheduler.held(share)} queued (its share: {scheduler.quota(share)})",
            retry_after_s=max(0.01, round(waiting * 1e-6, 3)),
        )

    def submit(self, sid: int, submit: Submit, now: float) -> SubmitDecision | None:
        """Decide one submit: :meth:`submit_all` of one, its entry or None if queued."""
        decisions = self.submit_all(sid, (submit,), now)
        return decisions[0] if decisions else None

    def bad_item(self, sid: int, item: BadItem) -> Error:
        """The answer to a batch item that did not decode: under its id, unless that id
        is unreadable or names a task of this connection still in flight (whose answer
        must stay the only one under that id), then on the connection (id None)."""
        task_id = item.task_id
        if task_id is None or self.scheduler.in_flight(sid, task_id):
            named = item.message if task_id is None else f"task id {task_id}: {item.message}"
            return Error(None, item.code, named)
        return Error(task_id, item.code, item.message)

    def cancel(self, sid: int, ids: list[int]) -> list[Error]:
        """Cancel the connection's pending tasks; return the answers to send."""
        return self.scheduler.cancel(sid, ids)

    def heartbeat(self, sid: int, beat: Heartbeat) -> Send:
        """Answer a client's heartbeat with the queue's state (it echoes ``sent_at``, so
        the client measures the round trip without synchronised clocks)."""
        s = self.scheduler
        return Send(
            sid, Status(beat.seq, beat.sent_at, s.queued, s.running, self.offer.workers, s.draining)
        )

    # -- drain, resume, shutdown ---------------------------------------------------------------

    def drain(self, reason: str) -> list[Instruction]:
        """Take no new work (admitted work still runs); undone by :meth:`resume`.

        A no-op while drained already or shutting down (the first reason stands).
        """
        if self.closing or self.drain_reason is not None:
            return []
        self.drain_reason = reason
        self.scheduler.draining = True
        return [Broadcast(Draining(reason), State.OPEN)]

    def resume(self, reason: str = "resumed") -> list[Instruction]:
        """Take new work again after :meth:`drain`; a no-op if not drained or if the
        node is shutting down."""
        if self.closing or self.drain_reason is None:
            return []
        self.drain_reason = None
        self.scheduler.draining = False
        return [Broadcast(Resume(reason), State.DRAINING)]

    def shut_down(self, reason: str, drain_timeout_s: float) -> list[Instruction]:
        """Stop for good: refuse new work and tell open connections how long admitted
        work has to finish. A no-op the second time."""
        if self.closing:
            return []
        self.closing = True
        self.scheduler.draining = True
        return [Broadcast(Draining(reason, drain_timeout_s), State.OPEN)]
