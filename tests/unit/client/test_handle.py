"""The public task handle: read-only over the owner's record, awaitable, cancellable."""

from __future__ import annotations

import asyncio

import pytest

from edgeoffload.client.handle import TaskHandle
from edgeoffload.client.ownership import OwnedTask, TaskState
from tests.conftest import run


def handle(cancel: bool = True) -> tuple[TaskHandle, OwnedTask, list[int]]:
    cancelled: list[int] = []

    def do_cancel(task_id: int) -> bool:
        cancelled.append(task_id)
        return cancel

    h = TaskHandle(None, do_cancel)
    record = OwnedTask(7, "echo", [1], 0, None, "edge", None, created_at=1.0)
    h._record = record
    return h, record, cancelled


def test_it_reads_the_record_as_the_owner_changes_it() -> None:
    h, record, _ = handle()
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


def test_cancel_asks_the_client() -> None:
    h, _, cancelled = handle()
    assert h.cancel() and cancelled == [7]
