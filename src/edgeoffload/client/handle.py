"""The caller's view of one submitted task: read-only, awaitable, cancellable.

:meth:`Client.submit_nowait <edgeoffload.client.client.Client.submit_nowait>` returns
one. It reads the owner's record of the task (so ``state`` and ``node`` are always
current) but cannot change it: only the owner's state machine does, which is what keeps
its per-node books right (issue 11 found them edited from outside).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from typing import Any

from .ownership import Done, OwnedTask, TaskState

log = logging.getLogger("edgeoffload.client")


class TaskHandle:
    """One task, as its caller sees it.

    ``await handle`` returns the task's value or raises its error (as
    :meth:`Client.submit` does); :meth:`cancel` ends it as ``Cancelled``.
    """

    __slots__ = ("_cancel", "_error", "_future", "_on_done", "_record", "_value")

    def __init__(self, on_done: Done | None, cancel: Callable[[int], bool]) -> None:
        #: Set by the client as soon as the owner has made the record.
        self._record: OwnedTask
        self._on_done = on_done
        self._cancel = cancel
        self._future: asyncio.Future[Any] | None = None
        self._value: Any = None
        self._error: BaseException | None = None

    @property
    def id(self) -> int:
        """The task's id, unique in this client (it names the task in every log line)."""
        return self._record.id

    @property
    def task(self) -> str:
        return self._record.task

    @property
    def state(self) -> TaskState:
        return self._record.state

    @property
    def node(self) -> str | None:
        """Where the task is (``"local"`` here, a node id, or None while unplaced);
        once settled, where its outcome came from."""
        return self._record.node

    @property
    def hedge(self) -> str | None:
        """The node running a second copy, while one runs."""
        return self._record.hedge

    @property
    def attempts(self) -> int:
        return self._record.attempts

    @property
    def created_at(self) -> float:
        """When it was submitted (the event loop's clock, like the timings below)."""
        return self._record.created_at

    @property
    def sent_at(self) -> float | None:
        """When it was last sent to a node or started here."""
        return self._record.sent_at

    @property
    def settled_at(self) -> float | None:
        return self._record.settled_at

    def done(self) -> bool:
        """The task's one outcome has been delivered."""
        return self._record.state.settled

    def cancel(self) -> bool:
        """Cancel the task; its caller gets ``Cancelled``. False if it had ended."""
        return self._cancel(self._record.id)

    def __await__(self) -> Generator[Any, None, Any]:
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
            if self.done():
                self._resolve(self._future)
        return self._future.__await__()

    def __repr__(self) -> str:
        r = self._record
        return f"<TaskHandle {r.id} {r.task!r} {r.state.value} on {r.node}>"

    def _settle(self, value: Any, error: BaseException | None) -> None:
        """Called once by the client with the outcome. A callback that raises is the
        caller's bug: it is logged, never allowed to break the connection the answer
        came on."""
        self._value, self._error = value, error
        if self._on_done is not None:
            try:
                self._on_done(value, error)
            except Exception:
                log.exception(
                    "the callback of task %d (%s) raised",
                    self.id,
                    self.task,
                    extra={"task_id": self.id},
                )
        if self._future is not None and not self._future.done():
            self._resolve(self._future)

    def _resolve(self, future: asyncio.Future[Any]) -> None:
        if self._error is None:
            future.set_result(self._value)
        else:
            future.set_exception(self._error)


__all__ = ["TaskHandle"]
