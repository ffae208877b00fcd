"""The messages of the offload protocol, as typed frozen structs.

One WebSocket binary message carries exactly one of these, encoded as msgpack by
:mod:`edgeoffload.protocol.codec`. Each struct is encoded as an array whose first
element is its integer tag, so a frame costs a few bytes of framing and decoding
validates the shape and every field's type in one C pass (msgspec).

Conversation, for one connection:

    client                                  node
      Hello(version, client_id, token)  ──▶
                                        ◀──  Welcome(node_id, tasks, limits) | Error
      Submit | SubmitBatch              ──▶
      Cancel(ids)                       ──▶
                                        ◀──  Result | Error | ResultBatch (any order)
      Heartbeat(seq, sent_at)           ──▶
                                        ◀──  Status(seq, sent_at, load...)
                                        ◀──  Draining(reason)   (then close 1001,
                                        ◀──  Resume(reason)      or, after an admin
                                                                 drain, resume)

Ids are chosen by the client and unique per connection; every result and task error
carries the id, which is how the client matches answers and drops late duplicates.
Deadlines travel as a *remaining budget* in milliseconds, not as a timestamp, because
the two clocks are not synchronised (gRPC's ``grpc-timeout`` does the same).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from .codes import ErrorCode
from .content import DIGEST_BYTES

#: Bumped on any incompatible change to the messages below.
PROTOCOL_VERSION = 1

#: Largest number of submits or results in one batch frame. A frame is handed to the
#: process pool in one piece, so this bounds the work a single frame can queue.
MAX_BATCH_ITEMS = 4096

#: Task names are identifiers, not payloads.
MAX_NAME_CHARS = 200

#: Positional arguments of one task.
MAX_ARGS = 64

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS)]
TaskId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Priority = Annotated[int, msgspec.Meta(ge=-1000, le=1000)]
Budget = Annotated[float, msgspec.Meta(ge=0.0)]
#: A content digest (blake2b-256 of an argument's msgpack bytes, see .content).
Digest = Annotated[bytes, msgspec.Meta(min_length=DIGEST_BYTES, max_length=DIGEST_BYTES)]
ArgIndex = Annotated[int, msgspec.Meta(ge=0, lt=MAX_ARGS)]


class _Message(msgspec.Struct, array_like=True, frozen=True, tag_field="t"):
    """Base: array-encoded, tagged, immutable."""


class Hello(_Message, tag=1, frozen=True):
    """First frame from a client: protocol version, who it is, and an optional token.

    ``batch_results``: the node may pack several answers in one ``ResultBatch`` frame
    (the client's batching switch; off means one frame per answer both ways).
    """

    version: int
    client_id: Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
    token: str | None = None
    batch_results: bool = True


class Welcome(_Message, tag=2, frozen=True):
    """The node's answer to an accepted hello: its id, its tasks and its limits."""

    version: int
    node_id: str
    tasks: list[str]
    max_frame_bytes: int
    max_batch: int
    workers: int
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    #: Bytes of its data-locality cache (0: none): a client sends hash-first
    #: arguments (``Submit.refs``) only to a node that has one.
    cache_bytes: Annotated[int, msgspec.Meta(ge=0)] = 0


class Submit(_Message, tag=3, frozen=True):
    """Run task ``task`` with positional ``args``.

    ``priority``: higher runs first. ``deadline_ms``: remaining budget when sent; the
    node never starts a task whose budget ran out in its queue. ``attempt``: 0 the first
    time, more when the owner resubmits it after a failure elsewhere; among tasks of
    the same priority, a resubmitted one runs first (it has waited once already).

    ``refs``: hash-first arguments, argument index -> digest of its msgpack bytes
    (:func:`~.content.digest`). Where ``args[i]`` is None the node takes the bytes
    from its cache, or answers ``need_input`` (then the client sends them); where it
    is the value, the node rehashes it, refuses a mismatch (``bad_args``) and keeps
    it for later references. None: every argument is sent whole.
    """

    id: TaskId
    task: Name
    args: Annotated[list[Any], msgspec.Meta(max_length=MAX_ARGS)]
    priority: Priority = 0
    deadline_ms: Budget | None = None
    attempt: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    refs: dict[ArgIndex, Digest] | None = None


class SubmitBatch(_Message, tag=4, frozen=True):
    """Several submits in one frame (the client's automatic batching)."""

    items: Annotated[list[Submit], msgspec.Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]


class Result(_Message, tag=5, frozen=True):
    """The value a task returned. ``run_ms`` is its execution time on the node;
    ``cached``: the node's result cache answered (the task did not run again)."""

    id: TaskId
    value: Any
    run_ms: float = 0.0
    cached: bool = False


class Error(_Message, tag=6, frozen=True):
    """A task, or the connection when ``id`` is None, failed with ``code``."""

    id: TaskId | None
    code: ErrorCode
    message: str
    exc_type: str | None = None
    retry_after_s: float | None = None


class ResultBatch(_Message, tag=7, frozen=True):
    """Several results or task errors in one frame."""

    items: Annotated[list[Result | Error], msgspec.Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]


class Cancel(_Message, tag=8, frozen=True):
    """Cancel these tasks: queued ones never start, running ones have their result dropped."""

    ids: Annotated[list[TaskId], msgspec.Meta(max_length=MAX_BATCH_ITEMS)]


class Heartbeat(_Message, tag=9, frozen=True):
    """Liveness probe; the node answers with a :class:`Status` echoing seq and sent_at."""

    seq: int
    sent_at: float


class Status(_Message, tag=10, frozen=True):
    """The node's load, in answer to a heartbeat (gives the client RTT and queue length)."""

    seq: int
    sent_at: float
    queued: int
    running: int
    workers: int
    draining: bool = False


class Draining(_Message, tag=11, frozen=True):
    """The node takes no new work (shutdown or drain); clients resubmit elsewhere."""

    reason: str
    drain_timeout_s: float = 0.0


class Resume(_Message, tag=12, frozen=True):
    """The node takes new work again after a drain that was not a shutdown."""

    reason: str


Message = (
    Hello
    | Welcome
    | Submit
    | SubmitBatch
    | Result
    | Error
    | ResultBatch
    | Cancel
    | Heartbeat
    | Status
    | Draining
    | Resume
)

#: Every message type, in tag order (used by tests and docs).
MESSAGE_TYPES: tuple[type[_Message], ...] = (
    Hello,
    Welcome,
    Submit,
    SubmitBatch,
    Result,
    Error,
    ResultBatch,
    Cancel,
    Heartbeat,
    Status,
    Draining,
    Resume,
)
