"""The client's side of the controller link: it reports where its tasks ran only to a
controller whose snapshot says it takes those reports (an older one would close the
link on a message it does not know)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import msgspec
import pytest
from websockets.asyncio.server import ServerConnection, serve

from edgeoffload.client import node_table as table
from edgeoffload.client.node_table import TableFollower
from edgeoffload.protocol.control import (
    ClientCounts,
    EventKind,
    NodeView,
    TableSnapshot,
)
from tests.conftest import run


@dataclass
class Stats:
    completed_local: int = 0
    completed_edge: int = 0


class Listener:
    def __init__(self) -> None:
        self.stats = Stats(completed_edge=7)

    def table_node(self, view: NodeView, event: EventKind | None) -> None:
        pass

    def table_unreachable(self, url: str, reason: str | None) -> None:
        pass

    def statistics(self) -> Stats:
        return self.stats


async def follow(snapshot: TableSnapshot, listener: Listener, seconds: float) -> list[object]:
    """Run a follower against a one-snapshot controller; what the controller got."""
    got: list[object] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send(msgspec.json.encode(snapshot).decode())
        async for raw in ws:
            got.append(msgspec.json.decode(raw, type=ClientCounts))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        follower = TableFollower(
            f"ws://127.0.0.1:{port}",
            listener,
            counts=lambda: (listener.stats.completed_local, listener.stats.completed_edge),
        )
        task = asyncio.create_task(follower.run())
        await follower.wait_synced()
        await asyncio.sleep(seconds)
        listener.stats.completed_local = 2
        await asyncio.sleep(seconds)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return got


def test_counts_go_only_to_a_controller_that_takes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "COUNTS_INTERVAL_S", 0.05)
    assert run(follow(TableSnapshot(nodes=[]), Listener(), 0.3)) == []
    got = run(follow(TableSnapshot(nodes=[], counts=True), Listener(), 0.3))
    # The first report at once (the controller's baseline), then one per change only.
    assert got == [ClientCounts(local=0, edge=7), ClientCounts(local=2, edge=7)]
