"""Exceptions raised by edgeoffload.

The tree, one root for everything this package raises on purpose::

    EdgeOffloadError
    ├── ConfigError (ValueError)            bad configuration, named field and problem
    ├── InvalidState (AssertionError)       API misuse: e.g. submit on a closed client
    ├── NoNodeAvailable                     where="edge" but no node is connected
    ├── EmulationError                      the kernel refused part of a network emulation
    ├── ProtocolError                       a frame broke the protocol (has .code)
    │   ├── LocalProtocolError              we, or our caller, broke it
    │   │   └── FrameTooLarge               a frame over the limit (.size, .limit)
    │   └── RemoteProtocolError             the peer broke it
    └── TaskError                           a task ended without a result (.task_id, .code)
        ├── UnknownTask
        ├── BadArguments
        ├── TaskFailed                      the task raised (.exc_type, .message)
        ├── DeadlineExceeded
        ├── Cancelled
        ├── Overloaded                      (.retry_after_s)
        ├── Unauthorized                    credentials missing or refused
        │   └── Forbidden                   valid, but the role may not do this
        └── NodeError                       draining or internal node failure

:func:`task_error` maps a wire error code to its exception class, so the client and
the node speak the same codes (see :mod:`edgeoffload.protocol.codes`).
"""

from __future__ import annotations

from .protocol.codes import ErrorCode


class EdgeOffloadError(Exception):
    """Root of every exception edgeoffload raises on purpose."""


class ConfigError(EdgeOffloadError, ValueError):
    """A configuration value is missing or invalid; the message names the field."""


class InvalidState(EdgeOffloadError, AssertionError):
    """The API was used out of order, e.g. submitting on a closed client."""


class NoNodeAvailable(EdgeOffloadError):
    """A task must run on an edge node but no node is connected."""


class EmulationError(EdgeOffloadError):
    """A network emulation could not be built: the message names the command that
    failed and what the kernel or tool said (not root, no netns, no tbf, ...)."""


class ProtocolError(EdgeOffloadError):
    """A frame broke the protocol.

    Attributes:
        code: the wire error code.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LocalProtocolError(ProtocolError):
    """We (or our caller) tried to send something the protocol forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""


class BadItem(RemoteProtocolError):
    """One submit of a batch frame does not decode; the frame's other submits stand.

    Attributes:
        task_id: the item's id when one could be read from it, else None.
    """

    def __init__(self, task_id: int | None, message: str) -> None:
        super().__init__(ErrorCode.BAD_FRAME, message)
        self.task_id = task_id


class FrameTooLarge(LocalProtocolError):
    """A frame exceeds the size limit; it was refused before being sent or buffered."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(ErrorCode.TOO_LARGE, f"frame of {size} bytes exceeds the limit of {limit}")
        self.size = size
        self.limit = limit


class TaskError(EdgeOffloadError):
    """A task ended without a result.

    Attributes:
        task_id: the id the client gave the task (None when the error is not about one task).
        code: the wire error code.
        message: what happened, in words.
    """

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, task_id: int | None, message: str) -> None:
        super().__init__(f"{self.code}: {message}")
        self.task_id = task_id
        self.message = message


class UnknownTask(TaskError):
    """No task of that name is registered where it was sent."""

    code = ErrorCode.UNKNOWN_TASK


class BadArguments(TaskError):
    """The arguments do not fit the task's signature."""

    code = ErrorCode.BAD_ARGS


class TaskFailed(TaskError):
    """The task ran and raised.

    Attributes:
        exc_type: the name of the exception the task raised, e.g. ``ValueError``.
    """

    code = ErrorCode.TASK_FAILED

    def __init__(self, task_id: int | None, message: str, exc_type: str = "Exception") -> None:
        super().__init__(task_id, f"{exc_type}: {message}")
        self.exc_type = exc_type
        self.message = message


class DeadlineExceeded(TaskError):
    """The deadline passed before the task could start or its result arrived."""

    code = ErrorCode.DEADLINE_EXCEEDED


class Cancelled(TaskError):
    """The task was cancelled before it finished."""

    code = ErrorCode.CANCELLED


class Overloaded(TaskError):
    """The node's queue was full.

    Attributes:
        retry_after_s: how long the node suggests waiting before retrying it there.
    """

    code = ErrorCode.OVERLOADED

    def __init__(self, task_id: int | None, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(task_id, message)
        self.retry_after_s = retry_after_s


class Unauthorized(TaskError):
    """The node (or controller) refused the connection's credentials."""

    code = ErrorCode.UNAUTHORIZED


class Forbidden(Unauthorized):
    """Valid credentials whose role may not do this (HTTP 403 rather than 401)."""


class NodeError(TaskError):
    """The node could not run the task for a reason of its own (draining, internal)."""

    def __init__(self, task_id: int | None, message: str, code: ErrorCode) -> None:
        self.code = code
        super().__init__(task_id, message)


_BY_CODE: dict[ErrorCode, type[TaskError]] = {
    cls.code: cls for cls in (UnknownTask, BadArguments, DeadlineExceeded, Cancelled, Unauthorized)
}


def task_error(
    code: ErrorCode,
    task_id: int | None,
    message: str,
    *,
    exc_type: str | None = None,
    retry_after_s: float | None = None,
) -> TaskError:
    """Build the exception for a wire error about one task."""
    if code is ErrorCode.TASK_FAILED:
        return TaskFailed(task_id, message, exc_type or "Exception")
    if code is ErrorCode.OVERLOADED:
        return Overloaded(task_id, message, retry_after_s or 0.0)
    cls = _BY_CODE.get(code)
    if cls is None:
        return NodeError(task_id, message, code)
    return cls(task_id, message)
