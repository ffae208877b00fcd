"""The dashboard's stream from the controller's side (``Controller.watch``): a
snapshot, then every heartbeat, table update, event and share bucket in order; and
it ends when the server stops or the page's token expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec

from edgeoffload.controller.service import Controller
from edgeoffload.protocol.control import ClientCounts, NodeBeat, TableSnapshot
from tests.conftest import run
from tests.unit.controller.test_membership import metrics
from tests.unit.controller.test_service import controller, hello


class Wire:
    """One end of a fake connection: what the peer sends, and what it was sent."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.sent: list[bytes] = []

    async def receive(self) -> str:
        return await self.inbox.get()

    async def send(self, data: bytes) -> None:
        self.sent.append(data)

    def put(self, message: msgspec.Struct) -> None:
        self.inbox.put_nowait(msgspec.json.encode(message).decode())


async def frames(stream: AsyncIterator[bytes | None], n: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < n:
        frame = await asyncio.wait_for(anext(stream), 5)
        if frame is not None:
            out.append(msgspec.json.decode(frame))
    return out


async def until(predicate: Callable[[], object]) -> None:
    deadline = time.monotonic() + 5.0
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def started(tmp_path: Path) -> Controller:
    c = controller(tmp_path, heartbeat_interval_s=10.0)
    await c.start()
    return c


def test_a_page_gets_a_snapshot_then_samples_updates_events_and_shares(tmp_path: Path) -> None:
    async def main() -> None:
        c = await started(tmp_path)
        node, client = Wire(), Wire()
        sessions = []
        try:
            node.put(hello("edge-1"))
            sessions.append(asyncio.create_task(c.node_session(node.receive, node.send)))
            node.put(NodeBeat(node_id="edge-1", seq=1, metrics=metrics()))
            await until(lambda: c.recent.latest())

            stream = c.watch(can_write=True)
            (snap,) = await frames(stream, 1)
            assert snap["type"] == "snapshot" and snap["can_write"] is True
            assert [n["node_id"] for n in snap["nodes"]] == ["edge-1"]
            assert len(snap["series"]["edge-1"]) == 1 and "edge-1" in snap["latest"]
            assert [e["kind"] for e in snap["events"]] == ["joined"]

            node.put(NodeBeat(node_id="edge-1", seq=2, metrics=metrics()))
            sample, update = await frames(stream, 2)
            assert sample["type"] == "sample" and sample["node_id"] == "edge-1"
            assert update["type"] == "update" and update["event"] == "load"

            await c.drain("edge-1", "maintenance")
            event, update = await frames(stream, 2)  # logged, then published
            assert update["node"]["draining"] is True
            assert event["type"] == "event" and event["event"]["kind"] == "drained"
            assert event["event"]["detail"] == "maintenance" and event["event"]["id"] > 0

            sessions.append(asyncio.create_task(c.subscriber_session(client.receive, client.send)))
            await until(lambda: client.sent)
            assert msgspec.json.decode(client.sent[0], type=TableSnapshot).counts is True
            client.put(ClientCounts(local=5, edge=10))  # the baseline
            client.put(ClientCounts(local=6, edge=13))
            (share,) = await frames(stream, 1)
            assert share["type"] == "share" and share["point"][1:] == [1, 3]
            await stream.aclose()
        finally:
            for task in sessions:
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)
            await c.close()

    run(main())


def test_a_stream_ends_when_the_server_stops_and_when_its_token_expires(tmp_path: Path) -> None:
    async def main() -> None:
        c = await started(tmp_path)
        try:
            expiring = c.watch(can_write=False, idle_s=0.05, until=time.time() + 0.3)
            quiet = c.watch(can_write=False, idle_s=0.05)
            await frames(expiring, 1)
            await frames(quiet, 1)
            assert await asyncio.wait_for(anext(quiet), 5) is None  # a keep-alive
            t0 = time.monotonic()
            left = [f async for f in expiring]
            assert 0.1 < time.monotonic() - t0 < 2 and all(f is None for f in left)
            c.end_streams()
            assert [f async for f in quiet] == []
            assert not c._watchers
        finally:
            await c.close()

    run(main())
