"""The client's promises against real node processes: priority, cancellation,
overload and drain handling, reconnection, local fallback, the blocking facade."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

import edgeoffload.examples.tasks as ex
from edgeoffload import Client
from edgeoffload.errors import Cancelled
from tests.conftest import NodeProcess, run, start_node


def test_high_priority_overtakes_queued_low_priority_work(node_factory) -> None:  # type: ignore[no-untyped-def]
    one = node_factory("--workers", "1", "--max-chunk", "1")

    async def main() -> list[str]:
        order: list[str] = []
        async with Client([one.url]) as client:

            async def tagged(tag: str, priority: int) -> None:
                await client.submit("sleep", 0.05, priority=priority, where="edge")
                order.append(tag)

            lows = [asyncio.create_task(tagged(f"low{i}", 0)) for i in range(8)]
            await asyncio.sleep(0.15)  # the lows are queued behind the first
            high = asyncio.create_task(tagged("high", 10))
            await asyncio.gather(high, *lows)
        return order

    order = run(main())
    assert order.index("high") <= 4, order  # ahead of the lows still queued when it came


def test_cancel_a_queued_task_it_never_runs(node_factory) -> None:  # type: ignore[no-untyped-def]
    one = node_factory("--workers", "1", "--max-chunk", "1")

    async def main() -> None:
        async with Client([one.url]) as client:
            blocker = asyncio.ensure_future(client.submit("sleep", 0.3, where="edge"))
            await asyncio.sleep(0.05)
            victim = asyncio.ensure_future(client.submit("sleep_echo", "ran", 0.0, where="edge"))
            await asyncio.sleep(0.05)
            victim.cancel()
            with pytest.raises(asyncio.CancelledError):
                await victim
            await blocker
            assert client.statistics().pending == 0
            # the node answered the cancel and still serves
            assert await client.submit("echo", 1, where="edge") == 1

    run(main())


def test_cancel_by_id_fails_the_caller_with_cancelled(node: NodeProcess) -> None:
    async def main() -> None:
        async with Client([node.url]) as client:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            p = client.submit_nowait("sleep", [0.5], lambda v, e: fut.set_result(e), where="edge")
            assert client.cancel(p.id)
            assert isinstance(await fut, Cancelled)
            assert not client.cancel(p.id)

    run(main())


def test_overloaded_node_refuses_and_the_client_places_elsewhere(node_factory) -> None:  # type: ignore[no-untyped-def]
    tiny = node_factory("--workers", "1", "--max-pending", "2")
    roomy = node_factory("--workers", "2")

    async def main() -> None:
        async with Client([tiny.url, roomy.url]) as client:
            await client.wait_for_nodes(2)
            results = await asyncio.gather(
                *(client.submit("sleep_echo", i, 0.02, where="edge") for i in range(40))
            )
            assert results == list(range(40))
            assert client.statistics().resubmitted > 0  # some were refused by the tiny node

    run(main())


def test_drain_timeout_hands_unfinished_work_back_to_its_owner(node_factory) -> None:  # type: ignore[no-untyped-def]
    short = node_factory("--workers", "1", "--drain-timeout-s", "0.2", "--max-chunk", "1")
    other = node_factory("--workers", "2")

    async def main() -> None:
        async with Client([short.url]) as client:
            tasks = [
                asyncio.ensure_future(client.submit("sleep_echo", i, 0.1, where="edge"))
                for i in range(10)
            ]
            await asyncio.sleep(0.15)
            short.signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            # a second node appears: the drained node's leftovers go there
            client.add_node(other.url)
            assert sorted(await asyncio.gather(*tasks)) == list(range(10))
            assert client.statistics().resubmitted > 0

    run(main())


def test_reconnects_with_backoff_when_the_node_comes_back(node_factory) -> None:  # type: ignore[no-untyped-def]
    first = node_factory("--workers", "1")
    port = first.url.split(":")[2].split("/")[0]

    async def main() -> None:
        async with Client([first.url], reconnect_min_s=0.05, reconnect_max_s=0.2) as client:
            assert await client.submit("echo", "before", where="edge") == "before"
            first.kill()
            await asyncio.sleep(0.3)
            assert client.statistics().nodes_connected == 0
            again = start_node("--workers", "1", "--port", port)
            try:
                await client.wait_for_nodes(1, timeout_s=10)
                assert await client.submit("echo", "after", where="edge") == "after"
            finally:
                again.stop()

    run(main())


def test_tasks_run_locally_when_the_only_node_dies(node_factory) -> None:  # type: ignore[no-untyped-def]
    lone = node_factory("--workers", "1")

    async def main() -> None:
        async with Client([lone.url]) as client:
            running = [client.submit(ex.sleep_echo, i, 0.2) for i in range(6)]
            await asyncio.sleep(0.1)
            lone.kill()
            assert sorted(await asyncio.gather(*running)) == list(range(6))
            stats = client.statistics()
            assert stats.completed_local >= 1 and stats.failed == 0

    run(main())


def test_blocking_facade(node: NodeProcess) -> None:
    with Client([node.url]) as client:
        assert client.run(ex.add, 1, 2) == 3
        assert client.run_map("echo", range(100)) == list(range(100))
        t0 = time.monotonic()
        assert client.run("add", 2, 2, where="local") == 4
        assert time.monotonic() - t0 < 5


def test_a_client_with_no_nodes_runs_everything_locally() -> None:
    async def main() -> None:
        async with Client([]) as client:
            assert await client.submit(ex.count_primes, 100) == 25
            assert await client.map(ex.add, [1, 2], [3, 4]) == [4, 6]

    run(main())
