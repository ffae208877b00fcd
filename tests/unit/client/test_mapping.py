"""map's window loop, against fake submit functions (no client, no owner)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgeoffload.client.mapping import BatchDone, run_map
from edgeoffload.client.ownership import Done
from tests.conftest import run


class Fake:
    """Records what is submitted; answers when told, each task's value its first arg."""

    def __init__(self) -> None:
        self.singles: list[tuple[list[Any], Done]] = []
        self.batches: list[tuple[list[list[Any]], BatchDone]] = []
        self.peak = self.in_flight = 0

    def submit(self, args: list[Any], done: Done) -> None:
        self.singles.append((args, done))
        self._count(1)

    def submit_batch(self, calls: list[list[Any]], done: BatchDone) -> None:
        self.batches.append((calls, done))
        self._count(len(calls))

    def _count(self, n: int) -> None:
        self.in_flight += n
        self.peak = max(self.peak, self.in_flight)

    def answer(self, fail: Any = None) -> None:
        singles, self.singles = self.singles, []
        batches, self.batches = self.batches, []
        for args, done in singles:
            self.in_flight -= 1
            done(None, ValueError(args[0])) if args[0] == fail else done(args[0], None)
        for calls, done_all in batches:
            self.in_flight -= len(calls)
            errors = [ValueError(c[0]) if c[0] == fail else None for c in calls]
            done_all([None if e else c[0] for c, e in zip(calls, errors, strict=True)], errors)


async def drive(fake: Fake, task: asyncio.Future[list[Any]], fail: Any = None) -> list[Any]:
    while not task.done():
        await asyncio.sleep(0)
        fake.answer(fail)
    return task.result()


def test_one_by_one_in_order_within_the_window() -> None:
    async def main() -> None:
        fake = Fake()
        task = asyncio.ensure_future(run_map(((i,) for i in range(10)), 3, fake.submit))
        assert await drive(fake, task) == list(range(10))
        assert fake.peak == 3

    run(main())


def test_batches_are_at_most_a_frame_and_at_least_one_per_node() -> None:
    async def main() -> None:
        fake = Fake()
        calls = [(i,) for i in range(10)]
        task = asyncio.ensure_future(
            run_map(calls, 100, fake.submit, fake.submit_batch, batch_max=4, nodes=lambda: 1)
        )
        await asyncio.sleep(0)
        assert [len(c) for c, _ in fake.batches] == [4, 4, 2]  # 10 in frames of <= 4
        assert await drive(fake, task) == list(range(10))

        fake = Fake()
        task = asyncio.ensure_future(
            run_map(calls[:6], 100, fake.submit, fake.submit_batch, batch_max=64, nodes=lambda: 3)
        )
        await asyncio.sleep(0)
        assert [len(c) for c, _ in fake.batches] == [2, 2, 2]  # a short map still spreads
        assert await drive(fake, task) == list(range(6))

    run(main())


@pytest.mark.parametrize("batched", [False, True])
def test_the_first_error_is_raised_after_every_task_ended(batched: bool) -> None:
    async def main() -> None:
        fake = Fake()
        batch = fake.submit_batch if batched else None
        task = asyncio.ensure_future(
            run_map(((i,) for i in range(6)), 2, fake.submit, batch, batch_max=2)
        )
        with pytest.raises(ValueError, match="1"):
            await drive(fake, task, fail=1)
        assert fake.in_flight == 0 and not fake.singles and not fake.batches

    run(main())


def test_an_empty_map_returns_at_once() -> None:
    assert run(run_map(iter(()), 10, Fake().submit)) == []
