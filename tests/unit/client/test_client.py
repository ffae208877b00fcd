"""The client as the executor of the owner's instructions, with fake links (no sockets)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import edgeoffload.examples.tasks  # noqa: F401  (registers echo, add, sleep)
from edgeoffload import Cancelled, DeadlineExceeded, NoNodeAvailable, TaskHandle, TaskState
from edgeoffload.client.client import Client
from edgeoffload.errors import InvalidState
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Cancel, Error, Result, Submit
from tests.conftest import run


class FakeLink:
    """What the executor uses of a NodeLink: its identity, load, send and cancel."""

    def __init__(self, node_id: str, tasks: tuple[str, ...] = ("echo", "sleep")) -> None:
        self.node_id = node_id
        self.url = f"ws://{node_id}/offload"
        self.tasks = frozenset(tasks)
        self.labels: dict[str, str] = {}
        self.workers = 1
        self.cache_bytes = 0
        self.rtt_s = 0.0
        self.queued = self.running = 0
        self.connected = self.accepting = True
        self.view = None
        self.sent: list[Submit | Cancel] = []

    def send(self, submit: Submit) -> None:
        self.sent.append(submit)

    def send_many(self, submits: list[Submit]) -> None:
        self.sent.extend(submits)

    def cancel(self, ids: list[int]) -> None:
        self.sent.append(Cancel(ids))

    def answer(self, listener: Any) -> None:
        """Echo every submit sent so far (as a node running ``echo`` would)."""
        sent, self.sent = self.sent, []
        listener.on_results(self, [Result(s.id, s.args[0]) for s in sent if isinstance(s, Submit)])


def started(client: Client, *links: FakeLink) -> Client:
    for link in links:
        client._listener.link_up(link)  # type: ignore[arg-type]
    return client


def test_a_task_is_sent_its_result_delivered_and_its_handle_reads_the_life() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            h = client.submit_nowait("sleep", [0.5], where="edge")
            assert isinstance(h, TaskHandle)
            assert (h.state, h.node, h.attempts, h.settled_at) == (TaskState.SENT, "A", 1, None)
            assert a.sent == [Submit(h.id, "sleep", [0.5])]
            client._listener.on_result(a, Result(h.id, 0.5, run_ms=1.0))  # type: ignore[arg-type]
            assert h.done() and h.state is TaskState.DONE
            assert await h == 0.5
            assert h.settled_at is not None and h.sent_at is not None
            assert h.created_at <= h.sent_at <= h.settled_at
            stats = client.statistics()
            assert (stats.pending, stats.completed_edge) == (0, 1)

    run(main())


def test_the_listener_wiring_is_not_part_of_the_client() -> None:
    for name in ("link_up", "link_down", "on_result", "on_error", "table_node", "on_draining"):
        assert not hasattr(Client, name), name
    assert not hasattr(Client, "owner")


def test_a_lost_node_s_task_is_sent_to_another() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a, b = FakeLink("A"), FakeLink("B")
            started(client, a, b)
            h = client.submit_nowait("sleep", [0.5], where="edge")
            assert h.node == "A"
            client._listener.link_down(a, "closed")  # type: ignore[arg-type]
            assert h.node == "B" and b.sent == [Submit(h.id, "sleep", [0.5], attempt=1)]
            client._listener.on_result(a, Result(h.id, "late"))  # type: ignore[arg-type]
            assert not h.done()  # fenced
            client._listener.on_result(b, Result(h.id, "ok"))  # type: ignore[arg-type]
            assert await h == "ok"
            assert client.statistics().duplicates_dropped == 1

    run(main())


def test_the_deadline_timer_fails_the_task_and_cancels_it_on_its_node() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            h = client.submit_nowait("sleep", [5.0], where="edge", deadline=0.01)
            with pytest.raises(DeadlineExceeded):
                await h
            assert a.sent[-1] == Cancel([h.id])
            assert h.state is TaskState.FAILED

    run(main())


def test_cancel_through_the_handle() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            h = client.submit_nowait("sleep", [5.0], where="edge")
            assert h.cancel() and not h.cancel()
            assert a.sent[-1] == Cancel([h.id]) and h.state is TaskState.CANCELLED
            with pytest.raises(Cancelled):
                await h

    run(main())


def test_a_refusal_is_placed_again_after_the_only_node_s_retry_hint() -> None:
    async def main() -> None:
        async with Client([]) as client:
            a = FakeLink("A")
            started(client, a)
            h = client.submit_nowait("sleep", [0.1], where="edge")
            refusal = Error(h.id, ErrorCode.OVERLOADED, "busy", retry_after_s=0.01)
            client._listener.on_error(a, refusal)  # type: ignore[arg-type]
            assert h.state is TaskState.RETRYING and len(a.sent) == 1
            await asyncio.sleep(0.05)
            assert a.sent[-1] == Submit(h.id, "sleep", [0.1], attempt=1)

    run(main())


def test_local_runs_inline_and_on_a_thread() -> None:
    async def main() -> None:
        async with Client([], local_workers=0) as client:
            h = client.submit_nowait("add", [2, 2], where="local")
            assert h.done() and h.node == "local"  # inline: ran before submit returned
            assert await h == 4
            assert await client.submit("sleep", 0.01, where="local") == 0.01
            assert client.statistics().completed_local == 2

    run(main())


def test_with_no_node_an_edge_task_waits_then_fails() -> None:
    async def main() -> None:
        async with Client([], wait_for_node_s=0.02) as client:
            h = client.submit_nowait("sleep", [0.1], where="edge")
            assert h.state is TaskState.PARKED
            with pytest.raises(NoNodeAvailable):
                await h

    run(main())


def test_a_parked_task_goes_when_a_node_comes() -> None:
    async def main() -> None:
        async with Client([], wait_for_node_s=5) as client:
            h = client.submit_nowait("sleep", [0.1], where="edge")
            a = FakeLink("A")
            started(client, a)
            assert h.state is TaskState.SENT and a.sent == [Submit(h.id, "sleep", [0.1])]

    run(main())


def test_a_raising_callback_is_logged_and_the_client_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad(value: Any, exc: BaseException | None) -> None:
        raise RuntimeError("caller bug")

    async def main() -> None:
        async with Client([]) as client:
            client.submit_nowait("add", [1, 2], bad, where="local")
            assert await client.submit("add", 2, 3, where="local") == 5

    with caplog.at_level(logging.ERROR, logger="edgeoffload.client"):
        run(main())
    assert "raised" in caplog.text


def test_misuse_raises() -> None:
    async def main() -> None:
        client = Client([])
        with pytest.raises(InvalidState):
            client.submit_nowait("add", [1, 2])
        await client.start()
        with pytest.raises(ValueError, match="not a registered task"):
            client.submit_nowait(print, [])
        with pytest.raises(ValueError, match="where must be"):
            client.submit_nowait("add", [1, 2], where="cloud")  # type: ignore[arg-type]
        await client.close()
        with pytest.raises(InvalidState):
            client.submit_nowait("add", [1, 2])

    run(main())


def test_close_cancels_what_is_pending() -> None:
    async def main() -> None:
        client = await Client([]).start()
        started(client, FakeLink("A"))
        h = client.submit_nowait("sleep", [5.0], where="edge")
        await client.close()
        with pytest.raises(Cancelled):
            await h

    run(main())


def test_map_keeps_order_and_raises_the_first_error_after_all_ended() -> None:
    async def main() -> None:
        async with Client([]) as client:
            assert await client.map("add", range(5), range(5), where="local", window=2) == [
                0,
                2,
                4,
                6,
                8,
            ]
            with pytest.raises(Exception, match="boom"):
                await client.map("fail", ["boom", "boom"], where="local")
            assert client.statistics().pending == 0

    run(main())


def test_the_blocking_facade() -> None:
    with Client([]) as client:
        assert client.run("add", 1, 2, where="local") == 3
        assert client.run_map("add", [1, 2], [3, 4], where="local") == [4, 6]
    with pytest.raises(InvalidState):
        client.run("add", 1, 2)


def test_a_map_to_the_edge_is_owned_in_batch_records_of_a_frame_each() -> None:
    async def main() -> None:
        async with Client([], batch_max_items=4) as client:
            a = FakeLink("A")
            started(client, a)
            task = asyncio.ensure_future(client.map("echo", range(10), where="edge", window=8))
            await asyncio.sleep(0)
            assert [s.id for s in a.sent] == list(range(1, 9))  # two batches of 4
            assert len(client._own.batches) == 2
            a.answer(client._listener)
            await asyncio.sleep(0)
            assert [s.id for s in a.sent] == [9, 10]  # the window refilled: a batch of 2
            a.answer(client._listener)
            assert await task == list(range(10))
            stats = client.statistics()
            assert (stats.completed_edge, stats.pending) == (10, 0)

    run(main())


def test_a_batched_map_survives_its_node_s_loss() -> None:
    async def main() -> None:
        async with Client([], batch_max_items=8) as client:
            a, b = FakeLink("A"), FakeLink("B")
            started(client, a, b)
            task = asyncio.ensure_future(client.map("echo", range(4), where="edge"))
            await asyncio.sleep(0)
            # One batch per node, so a short map still spreads.
            assert [s.id for s in a.sent] == [1, 2] and [s.id for s in b.sent] == [3, 4]
            client._listener.on_result(a, Result(1, 0))  # type: ignore[arg-type]
            client._listener.link_down(a, "closed")  # type: ignore[arg-type]
            assert [s.id for s in b.sent] == [3, 4, 2]
            b.answer(client._listener)
            assert await task == [0, 1, 2, 3]
            assert client.statistics().resubmitted == 1

    run(main())
