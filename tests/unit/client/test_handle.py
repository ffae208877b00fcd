"""The public task handle: an asyncio future, read-only over the owner's record."""

from __future__ import annotations

import asyncio

import pytest

from edgeoffload.client.handle import TaskHandle
from edgeoffload.client.ownership import OwnedTask, TaskState
from edgeoffload.errors import Cancelled
from tests.conftest import run


def handle(
    cancel: bool = True, loop: asyncio.AbstractEventLoop | None = None
) -> tuple[TaskHandle, OwnedTask, list[int]]:
    cancelled: list[int] = []

    def do_cancel(task_id: int) -> bool:
        cancelled.append(task_id)
        return cancel

    h = TaskHandle(None, do_cancel, loop or asyncio.get_running_loop())
    record = OwnedTask(7, "echo", [1], 0, None, "edge", None, created_at=1.0)
    h._record = record
    return h, record, cancelled


def test_it_reads_the_record_as_the_owner_changes_it() -> None:
    loop = asyncio.new_event_loop()
    h, record, _ = handle(loop=loop)
    loop.close()
    assert (h.id, h.task, h.state, h.node, h.attempts) == (7, "echo", TaskState.NEW, None, 0)
    record.state, record.node, record.attempts, record.sent_at = TaskState.SENT, "A", 1, 2.0
    assert (h.state, h.node, h.attempts, h.sent_at, h.created_at) == (
        TaskState.SENT,
        "A",
        1,
        2.0,
        1.0,
    )
    assert not h.done() and "sent on A" in repr(h)
    with pytest.raises(AttributeError):
        h.node = "B"  # type: ignore[misc]


def test_awaiting_before_and_after_the_outcome() -> None:
    async def main() -> None:
        h, record, _ = handle()
        waiter = asyncio.ensure_future(_wait(h))
        await asyncio.sleep(0)
        record.state = TaskState.DONE
        h._settle(42, None)
        assert await waiter == 42
        assert await h == 42  # again, after the fact

        h2, record2, _ = handle()
        record2.state = TaskState.FAILED
        h2._settle(None, ValueError("no"))
        with pytest.raises(ValueError, match="no"):
            await h2

    run(main())


async def _wait(h: TaskHandle) -> object:
    return await h


def test_cancel_asks_the_client_and_the_future_ends_cancelled() -> None:
    async def main() -> None:
        h, record, cancelled = handle()

        def owner_cancels(task_id: int) -> bool:  # as the client does: the owner settles
            cancelled.append(task_id)
            record.state = TaskState.CANCELLED
            h._settle(None, Cancelled(task_id, "cancelled"))
            return True

        h._cancel = owner_cancels
        assert h.cancel() and cancelled == [7] and h.cancelled()
        assert not h.cancel() and cancelled == [7]
        with pytest.raises(asyncio.CancelledError):
            await h

    run(main())


def test_a_cancelled_outcome_not_asked_here_is_an_error() -> None:
    async def main() -> None:
        h, _, _ = handle()
        h._settle(None, Cancelled(7, "client closed"))  # e.g. the client closing
        assert not h.cancelled()
        with pytest.raises(Cancelled):
            await h

    run(main())
