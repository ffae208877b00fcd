"""Wire error codes: the closed set of reasons a frame or a task can fail.

Every error that crosses the wire carries one of these codes, so that a peer in any
language can act on it without parsing messages. The table in docs/protocol.md is
generated from :data:`DESCRIPTIONS`; keep both in step by editing only this file.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Why a frame was refused or a task did not produce a result."""

    BAD_FRAME = "bad_frame"
    VERSION_MISMATCH = "version_mismatch"
    UNKNOWN_TASK = "unknown_task"
    BAD_ARGS = "bad_args"
    TOO_LARGE = "too_large"
    OVERLOADED = "overloaded"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    CANCELLED = "cancelled"
    TASK_FAILED = "task_failed"
    UNAUTHORIZED = "unauthorized"
    DRAINING = "draining"
    DUPLICATE_ID = "duplicate_id"
    NEED_INPUT = "need_input"
    INTERNAL = "internal"


#: One line per code: what happened and what the caller should do next.
DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.BAD_FRAME: "The frame is not valid msgpack or not a known message, or the message "
    "is not allowed in the connection's state. Fix the sender; the connection stays open "
    "after the handshake. In a batch of submits, each item that does not decode is answered "
    "alone, under its id when one can be read (else with id None, the message naming the "
    "item), and the batch's valid items still run.",
    ErrorCode.VERSION_MISMATCH: "The hello named a protocol version the node does not speak. "
    "Upgrade the older side; the connection is closed.",
    ErrorCode.UNKNOWN_TASK: "The node does not serve a task of that name: none is registered, "
    "or the node lacks a label the task requires (its requires; the message names the "
    "labels). Start the node with the module that defines it (--tasks) or the labels "
    "(--labels).",
    ErrorCode.BAD_ARGS: "The arguments do not fit the task's signature (count or annotated "
    "types), or an argument sent with its digest (Submit.refs) does not hash to it (the "
    "node stores nothing it has not verified). Nothing ran.",
    ErrorCode.TOO_LARGE: "The frame exceeds the node's max_frame_bytes. A conforming client "
    "refuses it before sending; a node closes a connection that sends one (WebSocket 1009), "
    "having read only its header.",
    ErrorCode.OVERLOADED: "The node's admission queue is full, or this client holds its "
    "fair share of it (tasks or argument bytes), or a queued task of a client above its "
    "share was pushed out, unstarted, to make room for another's. Retry after "
    "retry_after_s seconds or elsewhere; the client does this itself.",
    ErrorCode.DEADLINE_EXCEEDED: "The task's deadline passed before it could start (a task "
    "whose deadline has passed is never started), while it ran, or before its result "
    "arrived; or it ran past its time limit (its timeout_s, capped by the node's "
    "max_task_s). A running task is stopped (its worker replaced); the message says which.",
    ErrorCode.CANCELLED: "The task was cancelled by its owner before it finished; a running "
    "one is stopped (its worker replaced) and its result never sent.",
    ErrorCode.TASK_FAILED: "The task ran and raised; exc_type and message say what it raised. "
    "The node keeps serving.",
    ErrorCode.UNAUTHORIZED: "The hello's token is missing, oversized, badly signed, expired, "
    "too long-lived, for another audience, or of a role that may not submit (client or admin "
    "needed); the message says which. The connection is closed.",
    ErrorCode.DRAINING: "The node is shutting down or draining and takes no new work. The "
    "client resubmits the task elsewhere.",
    ErrorCode.DUPLICATE_ID: "A submit reused the id of a task the connection still has in "
    "flight. It is refused once, on the connection (id None, the message names the id), so "
    "that the task already in flight keeps the only answer under that id.",
    ErrorCode.NEED_INPUT: "A hash-first argument (Submit.refs) is not in the node's "
    "data-locality cache (never sent, evicted, or the node restarted); the message names "
    "the argument indexes. Nothing ran. The client sends the same submit again with those "
    "bytes (it does this itself).",
    ErrorCode.INTERNAL: "An unexpected failure inside the node; details are in its log, not on "
    "the wire.",
}
