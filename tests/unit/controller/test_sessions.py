"""controller.service's sessions driven without sockets (receive and send are queues),
against a real SQLite store: a node's hello and beats (stored, counted, commands sent
on drain and resume, a node that rejoins while drained is told at once, beats for
another id and ids other than the token's refused), and a subscriber (snapshot first,
then updates in order; its resubmission reports logged with the token's subject, a
claimed `dead` event refused, counts turned into the dashboard's share)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from edgeoffload.auth import Claims, Role
from edgeoffload.config import ControllerConfig
from edgeoffload.controller.service import Controller
from edgeoffload.errors import Unauthorized
from edgeoffload.protocol.control import (
    ClientCounts,
    ClientReport,
    Command,
    ControllerToClient,
    EventKind,
    NodeBeat,
    NodeHello,
    TableSnapshot,
    TableUpdate,
)
from tests.conftest import run
from tests.unit.controller.serving import metrics

encode = msgspec.json.encode


class Closed(Exception):
    """The peer went away (what a closed WebSocket raises into a session)."""


class Peer:
    """The other end of a session: frames it will send, frames it got."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def say(self, message: msgspec.Struct) -> None:
        self.inbox.put_nowait(encode(message))

    def close(self) -> None:
        self.inbox.put_nowait(None)

    async def receive(self) -> bytes:
        frame = await self.inbox.get()
        if frame is None:
            raise Closed
        return frame

    async def send(self, data: bytes) -> None:
        self.got.put_nowait(data)

    async def next(self, type_: Any) -> Any:
        return msgspec.json.decode(await asyncio.wait_for(self.got.get(), 5), type=type_)


def hello(node_id: str = "n1") -> NodeHello:
    return NodeHello(node_id=node_id, url=f"ws://10.0.0.1:1/{node_id}", cores=4, speed_hz=2e9)


def beat(node_id: str = "n1", seq: int = 1, **kw: Any) -> NodeBeat:
    return NodeBeat(node_id=node_id, seq=seq, metrics=metrics(**kw))


def with_controller(tmp_path: Path, body: Callable[[Controller], Awaitable[None]]) -> None:
    async def main() -> None:
        c = Controller(ControllerConfig(store=f"sqlite:///{tmp_path}/c.db"))
        await c.start()
        try:
            await body(c)
        finally:
            await c.close()

    run(main(), timeout=30)


async def until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not predicate():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.005)


def test_a_node_registers_beats_are_stored_and_it_is_forgotten_as_a_sender(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        node = Peer()
        node.say(hello())
        node.say(beat(seq=1, queue_length=5))
        node.say(beat(seq=2, queue_length=6))
        node.close()
        with pytest.raises(Closed):
            await c.node_session(node.receive, node.send)
        view = c.membership.get("n1")
        assert view is not None
        assert (view.cores, view.speed_hz, view.queue_length) == (4, 2e9, 6)
        assert c.heartbeats == 2
        rows = await c.db(c.store.metrics, "n1", 0.0, 10)
        assert [m.queue_length for _, m in rows] == [5, 6]
        assert "n1" not in c._node_senders
        assert [v.node_id for v in await c.db(c.store.nodes)] == ["n1"]
        assert [e.kind for e in await c.events(0, 10, "n1")] == ["joined"]

    with_controller(tmp_path, body)


def test_the_first_message_must_be_a_hello(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        node = Peer()
        node.say(beat())
        with pytest.raises(ValueError, match=r"^the first message from a node must be its hello$"):
            await c.node_session(node.receive, node.send)
        assert c.membership.get("n1") is None

    with_controller(tmp_path, body)


def test_a_beat_for_another_node_ends_the_session(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        node = Peer()
        node.say(hello("n1"))
        node.say(beat("n2"))
        with pytest.raises(ValueError, match=r"^a beat for 'n2' on 'n1''s link$"):
            await c.node_session(node.receive, node.send)
        assert c.heartbeats == 0
        assert c.membership.get("n2") is None

    with_controller(tmp_path, body)


def test_a_hello_must_name_the_tokens_subject(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        node = Peer()
        node.say(hello("n1"))
        claims = Claims(subject="n9", role=Role.NODE, expires_at=time.time() + 60)
        with pytest.raises(Unauthorized, match="node id 'n1' is not this token's subject 'n9'"):
            await c.node_session(node.receive, node.send, claims)
        assert c.membership.get("n1") is None

    with_controller(tmp_path, body)


def test_drain_and_resume_are_sent_to_the_connected_node(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        node = Peer()
        node.say(hello())
        session = asyncio.create_task(c.node_session(node.receive, node.send))
        await until(lambda: c.membership.get("n1") is not None)
        view = await c.drain("n1", "")
        assert view is not None and view.draining
        assert view.drain_reason == "drained by operator"
        assert await node.next(Command) == Command(action="drain", reason="drained by operator")
        view = await c.resume("n1")
        assert view is not None and not view.draining
        resumed = await node.next(Command)
        assert resumed.action == "resume"
        assert await c.drain("nope", "x") is None
        assert await c.resume("nope") is None
        node.close()
        with pytest.raises(Closed):
            await session

    with_controller(tmp_path, body)


def test_a_node_that_rejoins_while_drained_is_told_at_once(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        first = Peer()
        first.say(hello())
        first.close()
        with pytest.raises(Closed):
            await c.node_session(first.receive, first.send)
        await c.drain("n1", "kernel update")
        again = Peer()
        again.say(hello())
        session = asyncio.create_task(c.node_session(again.receive, again.send))
        assert await again.next(Command) == Command(action="drain", reason="kernel update")
        again.close()
        with pytest.raises(Closed):
            await session

    with_controller(tmp_path, body)


def test_a_subscriber_gets_the_snapshot_then_updates_in_order(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        node = Peer()
        node.say(hello("n1"))
        node.close()
        with pytest.raises(Closed):
            await c.node_session(node.receive, node.send)
        client = Peer()
        session = asyncio.create_task(c.subscriber_session(client.receive, client.send))
        snap = await client.next(ControllerToClient)
        assert isinstance(snap, TableSnapshot)
        assert [v.node_id for v in snap.nodes] == ["n1"]
        assert snap.counts is True
        assert c.statistics().subscribers == 1
        await c.drain("n1", "why")
        update = await client.next(ControllerToClient)
        assert isinstance(update, TableUpdate)
        assert (update.event, update.node.node_id, update.node.draining) == (
            EventKind.DRAINED,
            "n1",
            True,
        )
        client.close()
        await asyncio.wait_for(session, 5)  # the peer went: the session ends quietly
        assert c.statistics().subscribers == 0

    with_controller(tmp_path, body)


def test_resubmission_reports_are_logged_with_the_subject(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        client = Peer()
        claims = Claims(subject="camera-7", role=Role.CLIENT, expires_at=time.time() + 60)
        session = asyncio.create_task(c.subscriber_session(client.receive, client.send, claims))
        await client.next(ControllerToClient)
        client.say(ClientReport(event=EventKind.RESUBMITTED, node_id="n1", count=12))
        await until(lambda: c.events_logged == 1)
        (event,) = await c.events(0, 10, "n1")
        assert (event.kind, event.detail) == ("tasks_resubmitted", "12 tasks by camera-7")
        client.close()
        await asyncio.wait_for(session, 5)

    with_controller(tmp_path, body)


def test_a_client_claiming_a_controller_event_is_disconnected(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        client = Peer()
        session = asyncio.create_task(c.subscriber_session(client.receive, client.send))
        await client.next(ControllerToClient)
        client.say(ClientReport(event=EventKind.DEAD, node_id="n1", count=1))
        await asyncio.wait_for(session, 5)  # ended by the controller, not the peer
        assert await c.events(0, 10, None) == []
        assert c.statistics().subscribers == 0

    with_controller(tmp_path, body)


def test_client_counts_become_the_dashboards_share(tmp_path: Path) -> None:
    async def body(c: Controller) -> None:
        client = Peer()
        session = asyncio.create_task(c.subscriber_session(client.receive, client.send))
        await client.next(ControllerToClient)
        watcher = c.watch(can_write=False, idle_s=5)
        snapshot = await anext(watcher)
        assert b'"snapshot"' in snapshot
        client.say(ClientCounts(local=0, edge=0))
        client.say(ClientCounts(local=3, edge=9))
        frame = await asyncio.wait_for(anext(watcher), 5)
        assert frame is not None
        decoded = msgspec.json.decode(frame)
        assert decoded["type"] == "share"
        assert c.statistics().pages == 1
        await watcher.aclose()
        assert c.statistics().pages == 0
        client.close()
        await asyncio.wait_for(session, 5)

    with_controller(tmp_path, body)
