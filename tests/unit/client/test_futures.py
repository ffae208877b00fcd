"""client.futures: ``submit`` returns a future (asyncio's in a loop, concurrent.futures' in
a blocking client) that is awaited, polled, cancelled, gathered, waited for and iterated as
it completes; ``info()`` says where and how the task ran. Fake links (no sockets) for the
async side; a real node for the blocking one."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import dataclasses
import logging

import pytest

import edgeoffload
import edgeoffload.examples.tasks
from edgeoffload import (
    FIRST_COMPLETED,
    BlockingTaskHandle,
    Cancelled,
    Client,
    TaskFailed,
    TaskHandle,
    TaskInfo,
    TaskState,
    as_completed,
    wait,
)
from edgeoffload.errors import InvalidState
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Cancel, Error, Result, Submit
from tests.conftest import NodeProcess, run
from tests.unit.client.test_client import FakeLink, started


def answer(client: Client, link: FakeLink, task_id: int, value: object, **kw: float) -> None:
    client._listener.on_result(link, Result(task_id, value, **kw))  # type: ignore[arg-type]


def test_submit_returns_an_asyncio_future_with_its_task_id_and_await_gives_the_value() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            fut = client.submit("echo", "hi", where="edge")
            assert isinstance(fut, TaskHandle) and isinstance(fut, asyncio.Future)
            assert a.sent == [Submit(fut.id, "echo", ["hi"])]
            assert not fut.done() and fut.state is TaskState.SENT
            with pytest.raises(asyncio.InvalidStateError):
                fut.result()  # polled before it is done: asyncio's rule
            answer(client, a, fut.id, "hi")
            assert fut.done() and fut.result() == "hi" and fut.exception() is None
            assert await fut == "hi"
            assert await client.submit("add", 1, 2, where="local") == 3  # as before

    run(main())


def test_the_outcome_cannot_be_set_from_outside() -> None:
    async def main() -> None:
        async with Client([]) as client:
            started(client, FakeLink("A"))
            fut = client.submit("echo", 1, where="edge")
            with pytest.raises(InvalidState, match="owner"):
                fut.set_result(2)
            with pytest.raises(InvalidState, match="owner"):
                fut.set_exception(ValueError())
            assert not fut.done()

    run(main())


def test_cancel_ends_the_future_cancelled_and_cancels_the_task_on_its_node() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            seen: list[BaseException | None] = []
            fut = client.submit_nowait("sleep", [5.0], lambda v, e: seen.append(e), where="edge")
            assert fut.cancel() and not fut.cancel()
            assert fut.cancelled() and fut.state is TaskState.CANCELLED
            assert a.sent[-1] == Cancel([fut.id])
            with pytest.raises(asyncio.CancelledError):
                await fut
            assert len(seen) == 1 and isinstance(seen[0], Cancelled)  # the callback's view
            # By id, through the client: the same.
            other = client.submit("sleep", 5.0, where="edge")
            assert client.cancel(other.id) and other.cancelled()

    run(main())


def test_cancelling_the_coroutine_that_awaits_it_cancels_the_task() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            fut = client.submit("sleep", 5.0, where="edge")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(fut, 0.01)
            assert fut.cancelled() and a.sent[-1] == Cancel([fut.id])
            assert client.statistics().pending == 0

    run(main())


def test_gather_gives_values_in_order_and_raises_the_first_error() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            futs = [client.submit("echo", i, where="edge") for i in range(3)]
            for f in reversed(futs):
                answer(client, a, f.id, f.id * 10)
            assert await client.gather(futs) == [f.id * 10 for f in futs]
            ok, bad = client.submit("echo", 1, where="edge"), client.submit("echo", 2, where="edge")
            answer(client, a, ok.id, 1)
            client._listener.on_error(  # type: ignore[arg-type]
                a, Error(bad.id, ErrorCode.TASK_FAILED, "boom", "ValueError")
            )
            with pytest.raises(TaskFailed, match="boom"):
                await client.gather([ok, bad])
            values = await client.gather([ok, bad], return_exceptions=True)
            assert values[0] == 1 and isinstance(values[1], TaskFailed)
            assert await client.gather([]) == []

    run(main())


def test_wait_first_completed_then_all_with_a_timeout() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            f1, f2 = client.submit("echo", 1, where="edge"), client.submit("echo", 2, where="edge")
            done, pending = await wait([f1, f2], timeout=0.01)
            assert (done, pending) == (set(), {f1, f2})
            answer(client, a, f2.id, 2)
            done, pending = await wait([f1, f2], return_when=FIRST_COMPLETED)
            assert (done, pending) == ({f2}, {f1})
            answer(client, a, f1.id, 1)
            done, pending = await wait([f1, f2])
            assert (done, pending) == ({f1, f2}, set())
            # asyncio's own wait takes them as they are (they are asyncio futures).
            assert await asyncio.wait([f1], return_when=asyncio.FIRST_COMPLETED) == ({f1}, set())
            with pytest.raises(ValueError, match="return_when must be"):
                await wait([f1], return_when="SOMETIME")
            assert await wait([]) == (set(), set())

    run(main())


def test_as_completed_yields_each_future_as_it_ends_and_times_out() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            futs = [client.submit("echo", i, where="edge") for i in range(3)]
            order: list[TaskHandle] = []
            seen = asyncio.Event()

            async def collect() -> None:
                async for f in as_completed(futs):
                    order.append(f)
                    seen.set()

            collector = asyncio.ensure_future(collect())
            for f in (futs[2], futs[0], futs[1]):
                seen.clear()
                answer(client, a, f.id, 0)
                await seen.wait()  # the collector has it before the next one ends
            await collector
            assert order == [futs[2], futs[0], futs[1]]

            slow = client.submit("echo", 9, where="edge")
            with pytest.raises(TimeoutError, match=r"1 of 1 futures .* within 0.01 s"):
                async for _ in as_completed([slow], timeout=0.01):
                    pass

    run(main())


def test_mixing_kinds_or_passing_non_futures_is_refused() -> None:
    with pytest.raises(TypeError, match="TaskHandle"):
        wait([1, 2])  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="TaskHandle"):
        as_completed(["x"])  # type: ignore[call-overload]


def test_info_says_where_and_how_long_an_edge_task_took() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            fut = client.submit("echo", "x", where="edge")
            assert fut.info() == TaskInfo(
                fut.id, "echo", TaskState.SENT, "A", 1, None, None, None, None, False
            )
            await asyncio.sleep(0.02)
            answer(client, a, fut.id, "x", run_ms=3.0, queue_ms=4.0)
            info = fut.info()
            assert (info.where, info.attempts, info.run_ms, info.queue_ms) == ("A", 1, 3.0, 4.0)
            assert info.state is TaskState.DONE and info.cached is False
            assert info.total_ms is not None and info.transfer_ms is not None
            # The round trip less the node's time is the transfer (both ways, with framing).
            assert info.transfer_ms == pytest.approx(info.total_ms - 7.0, abs=0.01)
            assert info.total_ms >= 20.0

    run(main())


def test_info_of_a_local_run_says_device_and_of_a_failure_keeps_the_attempts() -> None:
    async def main() -> None:
        async with Client([], local_workers=0) as client:
            fut = client.submit("add", 1, 2, where="local")
            await fut
            info = fut.info()
            assert (info.where, info.attempts, info.transfer_ms) == ("device", 1, 0.0)
            assert info.run_ms is not None and info.queue_ms is not None
            a = FakeLink("A")
            started(client, a)
            bad = client.submit("echo", 1, where="edge")
            client._listener.on_error(  # type: ignore[arg-type]
                a, Error(bad.id, ErrorCode.TASK_FAILED, "boom", "ValueError")
            )
            assert bad.info().state is TaskState.FAILED and bad.info().where == "A"
            assert bad.info().run_ms is None

    run(main())


def test_info_reads_the_cache_flag_when_the_result_carries_one() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            fut = client.submit("echo", 1, where="edge")
            names = {f.name for f in dataclasses.fields(TaskInfo)}
            assert "cached" in names
            client._listener.on_result(a, Result(fut.id, 1, cached=True))  # type: ignore[arg-type]
            assert fut.info().cached is True

    run(main())


def test_the_public_names_are_exported() -> None:
    for name in ("wait", "as_completed", "TaskInfo", "BlockingTaskHandle", "FIRST_COMPLETED"):
        assert name in edgeoffload.__all__ and getattr(edgeoffload, name) is not None


# -- the blocking client: concurrent.futures ---------------------------------------------------


def test_blocking_submit_returns_a_concurrent_future(node: NodeProcess) -> None:
    with Client([node.url]) as c:
        fut = c.submit("add", 2, 3, where="edge")
        assert isinstance(fut, BlockingTaskHandle) and isinstance(fut, cf.Future)
        assert fut.result(timeout=10) == 5 and fut.done() and fut.id >= 1
        info = fut.info()
        assert info.where not in (None, "device") and info.attempts == 1
        assert info.run_ms is not None and info.queue_ms is not None and info.queue_ms >= 0

        futs = [c.submit("add", i, i, where="edge") for i in range(5)]
        assert c.gather(futs) == [0, 2, 4, 6, 8]
        # The standard library's own wait and as_completed take them.
        done, not_done = cf.wait(futs, timeout=10)
        assert done == set(futs) and not not_done
        assert set(cf.as_completed(futs, timeout=10)) == set(futs)
        done, not_done = wait(futs, timeout=10, return_when=FIRST_COMPLETED)
        assert done and done | not_done == set(futs)
        assert {f.result() for f in as_completed(futs, timeout=10)} == {0, 2, 4, 6, 8}

        slow = c.submit("sleep", 5.0, where="edge")
        done, not_done = wait([slow], timeout=0.05)
        assert not done and not_done == {slow}
        assert slow.cancel() and slow.cancelled() and not slow.cancel()
        with pytest.raises(cf.CancelledError):
            slow.result(timeout=1)
        with pytest.raises(TaskFailed, match="no way"):
            c.submit("fail", "no way", where="edge").result(timeout=10)
        with pytest.raises(TaskFailed, match="no way"):
            c.gather([c.submit("fail", "no way", where="edge")])
        assert c.run("add", 1, 1, where="edge") == 2  # the blocking run, unchanged
        assert c.statistics().pending == 0


def test_queue_time_is_reported_by_the_node(node_factory: object) -> None:
    node = node_factory("--workers", "1")  # type: ignore[operator]
    with Client([node.url]) as c:
        first = c.submit("sleep", 0.3, where="edge")
        second = c.submit("sleep", 0.0, where="edge")
        c.gather([first, second])
        # The second waited behind the first on the only worker: the node counts it.
        queued = second.info().queue_ms
        assert queued is not None and queued >= 250.0
        assert first.info().run_ms is not None and first.info().run_ms >= 250.0  # type: ignore[operator]


def test_closing_with_futures_nobody_awaits_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    import gc

    async def main() -> None:
        client = await Client([]).start()
        started(client, FakeLink("A"))
        client.submit("sleep", 5.0, where="edge")  # dropped: closing cancels it
        await client.close()
        gc.collect()

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run(main())
        gc.collect()
    assert "never retrieved" not in caplog.text
