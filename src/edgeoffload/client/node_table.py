"""The client's copy of the controller's node table, followed over WebSocket.

One snapshot, then one update per change. The client never asks the controller per
task: it adds the nodes the table lists, stops placing on suspect or draining ones,
and treats a node declared dead as lost (its tasks are placed again at once, and a
late answer from it is dropped). While the controller is unreachable the client keeps
the nodes it has and retries with backoff.

Back on the same link the client reports its resubmissions (for the event log) and,
about once a second while they change, how many of its tasks ran locally and on the
edge (the dashboard's offload share), when the controller's snapshot says it takes
those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..config import ClientConfig
from ..protocol.control import (
    ClientCounts,
    ClientReport,
    ControllerToClient,
    EventKind,
    NodeView,
    TableSnapshot,
)
from ..tls import context_for
from ..transport import Unreachable, reconnect_forever

log = logging.getLogger("edgeoffload.client")

#: Seconds between two reports of the client's counts (only sent when they changed):
#: the dashboard's charts have one point a second.
COUNTS_INTERVAL_S = 1.0


class TableListener(Protocol):
    def table_node(self, view: NodeView, event: EventKind | None) -> None: ...

    def table_unreachable(self, url: str, reason: str | None) -> None:
        """Why the controller at ``url`` cannot be reached (None: it answers again)."""


class TableFollower:
    """Follows one controller's table for one client."""

    def __init__(
        self,
        controller_url: str,
        listener: TableListener,
        config: ClientConfig | None = None,
        counts: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        # "states=left": this client decodes the left state (an older one is sent dead).
        self.base_url = controller_url.rstrip("/")
        self.url = self.base_url + "/ws/subscribe?states=left"
        self._unreachable = Unreachable(log, "controller", self.base_url)
        #: Where the client's tasks ran so far, (local, edge), reported to a controller
        #: that takes them (its dashboard's offload share); None: not reported.
        self._counts = counts
        cfg = config or ClientConfig()
        #: The client's token (role client) for a controller with a secret.
        self._headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
        #: For a wss:// controller: verified with the client's CA bundle, its own
        #: certificate shown for mutual TLS.
        self._ssl = context_for(self.url, cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file)
        self.listener = listener
        self.nodes: dict[str, NodeView] = {}
        self.connected = False
        self.snapshots = 0
        self._ws: ClientConnection | None = None
        self._up = asyncio.Event()
        self._reports: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        await reconnect_forever(self._session, on_error=self._failed, on_down=self._down)

    def _failed(self, exc: BaseException) -> None:
        self.listener.table_unreachable(self.base_url, self._unreachable(exc))

    def _down(self) -> None:
        self.connected = False
        self._ws = None
        self._up.clear()

    async def wait_synced(self) -> None:
        """Wait for the first snapshot."""
        await self._up.wait()

    async def _session(self) -> None:
        decoder = msgspec.json.Decoder(ControllerToClient)
        async with connect(
            self.url,
            open_timeout=5,
            close_timeout=1,
            additional_headers=self._headers,
            ssl=self._ssl,
        ) as ws:
            self._ws = ws
            counting: asyncio.Task[None] | None = None
            try:
                async for raw in ws:
                    message = decoder.decode(raw)
                    if isinstance(message, TableSnapshot):
                        self.snapshots += 1
                        self.nodes = {v.node_id: v for v in message.nodes}
                        self.connected = True
                        self._unreachable.reached()
                        self.listener.table_unreachable(self.base_url, None)
                        for view in message.nodes:
                            self.listener.table_node(view, None)
                        self._up.set()
                        if self._counts is not None and message.counts:
                            counting = counting or asyncio.create_task(
                                self._send_counts(ws, self._counts)
                            )
                    else:
                        self.nodes[message.node.node_id] = message.node
                        self.listener.table_node(message.node, message.event)
            finally:
                if counting is not None:
                    counting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await counting

    async def _send_counts(self, ws: ClientConnection, read: Callable[[], tuple[int, int]]) -> None:
        """Report the client's counts every :data:`COUNTS_INTERVAL_S` while they change
        (the first report sets the controller's baseline)."""
        sent: tuple[int, int] | None = None
        while True:
            counts = read()
            if counts != sent:
                frame = ClientCounts(local=counts[0], edge=counts[1])
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(msgspec.json.encode(frame).decode())
                sent = counts
            await asyncio.sleep(COUNTS_INTERVAL_S)

    def report(self, event: EventKind, node_id: str, count: int) -> None:
        """Tell the controller what the client did (best effort; for its event log)."""
        ws = self._ws
        if ws is not None and count:
            frame = msgspec.json.encode(ClientReport(event=event, node_id=node_id, count=count))
            task = asyncio.create_task(_send_quietly(ws, frame.decode()))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)


async def _send_quietly(ws: ClientConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.send(text)
