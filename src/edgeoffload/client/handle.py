"""The caller's view of one submitted task: an asyncio future, read-only over its record.

:meth:`Client.submit <edgeoffload.client.client.Client.submit>` and
:meth:`~edgeoffload.client.client.Client.submit_nowait` return one. It *is* an
:class:`asyncio.Future` (so ``await``, ``asyncio.wait``, ``asyncio.gather`` and
``asyncio.as_completed`` take it as it is, as Ray's object refs and Dask's futures are
taken by their libraries), and it reads the owner's record of the task (so ``state``,
``node`` and :meth:`TaskHandle.info` are always current) but cannot change it: only the
owner's state machine does, which is what keeps its per-node books right (issue 11
found them edited from outside). So ``set_result`` and ``set_exception`` are refused,
and :meth:`TaskHandle.cancel` asks the owner rather than ending the future by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import Cancelled, InvalidState
from .ownership import LOCAL, Done, OwnedTask, TaskState

log = logging.getLogger("edgeoffload.client")

#: What :attr:`TaskInfo.where` says for a run on this device (a node says its id).
DEVICE = "device"


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """Where and how one task ran, as far as it has got (:meth:`TaskHandle.info`).

    Times are milliseconds; None until known (a task still running, or one that failed
    without a run to time).

    Attributes:
        where: the node id the outcome came from, ``"device"`` for a run here, None if
            it was never placed.
        attempts: placements so far (a resubmission after a lost or refusing node is
            one more; a hedge copy is not).
        queue_ms: time at the node (or in the local pool) before the run: its queue,
            the wait for a worker and the hand-over to it and back (the node reports it
            in ``Result.queue_ms``; 0 from a node that predates the field).
        run_ms: the run itself, as the node (or the local runner) timed it.
        transfer_ms: the round trip less ``queue_ms`` and ``run_ms``: the network both
            ways and the (de)serialisation; 0 for a run here.
        total_ms: from the submit to the outcome (placement, waiting for a node and
            retries included).
        cached: the node answered from its result cache (False from a node without one).
    """

    task_id: int
    task: str
    state: TaskState
    where: str | None
    attempts: int
    queue_ms: float | None
    run_ms: float | None
    transfer_ms: float | None
    total_ms: float | None
    cached: bool = False


class TaskHandle(asyncio.Future[Any]):
    """One task, as its caller sees it: an asyncio future of its value.

    ``await handle`` returns the task's value or raises its error (as
    :meth:`Client.submit` always has); ``done()``, ``result()``, ``exception()`` and
    ``add_done_callback()`` are asyncio's. :meth:`cancel` ends it cancelled (as
    cancelling a coroutine that awaits it does); the ``on_done`` callback given to
    ``submit_nowait`` then gets ``Cancelled``.
    """

    def __init__(
        self,
        on_done: Done | None,
        cancel: Callable[[int], bool],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(loop=loop)
        #: Set by the client as soon as the owner has made the record.
        self._record: OwnedTask
        self._on_done = on_done
        self._cancel = cancel
        #: A cancel was asked through this handle: the owner's ``Cancelled`` then ends
        #: the future cancelled (asyncio's way) rather than failed.
        self._cancel_asked: tuple[Any] | None = None

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

    def info(self) -> TaskInfo:
        """Where and how the task ran so far (:class:`TaskInfo`); call it again once
        done for the final figures."""
        return task_info(self._record)

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the task (on its node too); the future ends cancelled. False if it
        had ended. Asyncio calls this when a coroutine awaiting the handle is cancelled,
        so ``asyncio.wait_for(handle, t)`` cancels the task at its timeout."""
        if self.done():
            return False
        self._cancel_asked = (msg,)
        self._cancel(self._record.id)  # the owner settles it: _settle ends the future
        if not self.done():  # the owner had no record of it any more (cannot happen)
            super().cancel(msg)
        return True

    def set_result(self, result: Any) -> None:
        raise InvalidState("a task's outcome comes only from its owner, the client")

    def set_exception(self, exception: type | BaseException) -> None:
        raise InvalidState("a task's outcome comes only from its owner, the client")

    def __repr__(self) -> str:
        r = self._record
        return f"<TaskHandle {r.id} {r.task!r} {r.state.value} on {r.node}>"

    def _settle(self, value: Any, error: BaseException | None) -> None:
        """Called once by the client with the outcome. A callback that raises is the
        caller's bug: it is logged, never allowed to break the connection the answer
        came on."""
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
        if self.done():
            return
        if error is None:
            super().set_result(value)
        elif self._cancel_asked is not None and isinstance(error, Cancelled):
            super().cancel(*self._cancel_asked)
        else:
            super().set_exception(error)
            if self._on_done is not None or isinstance(error, Cancelled):
                # The callback had the error, or the caller closed the client on tasks it
                # dropped: asyncio must not log it as never retrieved. A task's own
                # failure nobody looked at is logged, as asyncio does for a task's.
                super().exception()


def task_info(r: OwnedTask) -> TaskInfo:
    """The :class:`TaskInfo` of a record (shared by both kinds of handle)."""
    where = DEVICE if r.node == LOCAL else r.node
    total = None if r.settled_at is None else (r.settled_at - r.created_at) * 1000.0
    run, queue, transfer = r.run_s, r.queue_s, None
    if run is not None and r.settled_at is not None and r.sent_at is not None:
        trip = (r.settled_at - r.sent_at) * 1000.0
        run *= 1000.0
        if r.node == LOCAL:
            queue, transfer = max(0.0, trip - run), 0.0
        else:
            queue = 0.0 if queue is None else queue * 1000.0
            transfer = max(0.0, trip - run - queue)
    elif queue is not None:
        queue *= 1000.0
    return TaskInfo(r.id, r.task, r.state, where, r.attempts, queue, run, transfer, total, r.cached)


__all__ = ["DEVICE", "TaskHandle", "TaskInfo", "task_info"]
