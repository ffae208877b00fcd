"""The controller's asyncio side: node sessions, client subscriptions, the tick loop,
and the store (on one dedicated thread). The decisions are in :mod:`.membership`.

Wall-clock time (``time.time()``) is used throughout, so that the time series, the
event log and the API agree with the outside world.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from ..auth import Claims
from ..config import ControllerConfig
from ..protocol.control import (
    ClientCounts,
    ClientToController,
    Command,
    EventKind,
    NodeBeat,
    NodeBye,
    NodeHello,
    NodeState,
    NodeToController,
    NodeView,
    TableSnapshot,
    TableUpdate,
)
from .access import check_node_id
from .dashboard import Event, EventFrame, Recent
from .membership import Change, Membership
from .store import EventRecord, Store, open_store

log = logging.getLogger("edgeoffload.controller")
T = TypeVar("T")

#: Updates a slow subscriber may lag behind before it is dropped (it reconnects and
#: gets a fresh snapshot, so nothing is lost but the backlog).
SUBSCRIBER_BACKLOG = 10_000

#: Events a page following ``/api/stream`` is sent when it connects (then every new one).
DASHBOARD_EVENTS = 500

#: Events a client may report (the rest are the controller's own observations).
CLIENT_EVENTS = frozenset({EventKind.RESUBMITTED})

_node_decoder = msgspec.json.Decoder(NodeToController)
_report_decoder = msgspec.json.Decoder(ClientToController)
encode = msgspec.json.encode


class _Subscriber:
    def __init__(self, knows_left: bool = True) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self.overflowed = False
        #: Whether the client decodes the ``left`` state (see :func:`as_dead`).
        self.knows_left = knows_left


def as_dead(view: NodeView) -> NodeView:
    """A node that left, as a client older than the ``left`` state must see it: dead
    (gone, which it is). Such a client fails to decode an unknown state and would lose
    the whole table; newer clients ask for ``left`` (``/ws/subscribe?states=left``)."""
    if view.state is not NodeState.LEFT:
        return view
    return msgspec.structs.replace(view, state=NodeState.DEAD)


def _fan_out(subscribers: set[_Subscriber], frame: bytes, older: bytes | None = None) -> None:
    """Queue a frame for each subscriber (``older`` instead for a client that does not
    know the ``left`` state, when it differs); one too far behind is dropped."""
    for sub in list(subscribers):
        try:
            sub.queue.put_nowait(older if older is not None and not sub.knows_left else frame)
        except asyncio.QueueFull:
            sub.overflowed = True
            subscribers.discard(sub)


@dataclass(frozen=True, slots=True)
class ControllerStats:
    nodes_by_state: dict[str, int]
    draining: int
    subscribers: int
    #: Dashboard pages following /api/stream.
    pages: int
    heartbeats: int
    events: int
    failed_changes: int


class Controller:
    """Membership, health and the node table, persisted and pushed (package docstring)."""

    def __init__(self, config: ControllerConfig, store: Store | None = None) -> None:
        self.config = config
        self.membership = Membership(
            heartbeat_interval_s=config.heartbeat_interval_s,
            suspect_phi=config.suspect_phi,
            dead_phi=config.dead_phi,
            acceptable_pause_s=config.acceptable_pause_s,
            dead_retention_s=config.dead_retention_s,
            thresholds=config.health_thresholds(),
        )
        self._store = store
        self._db = ThreadPoolExecutor(1, thread_name_prefix="edgeoffload-store")
        self._subscribers: set[_Subscriber] = set()
        #: Pages following the dashboard stream, and what they are shown (dashboard.py).
        self._watchers: set[_Subscriber] = set()
        self.recent = Recent()
        self._streams_end = asyncio.Event()
        self._clients = 0
        self._node_senders: dict[str, Callable[[bytes], Awaitable[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.heartbeats = 0
        self.events_logged = 0
        self.failed_changes = 0
        self._started = False

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call on the store's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    @property
    def ready(self) -> bool:
        """The store is open and the tick loop (failure detection) is alive: what
        ``/readyz`` answers, so that an orchestrator restarts a controller whose loop
        has died instead of trusting it."""
        return self._started and bool(self._tasks) and not self._tasks[0].done()

    @property
    def store(self) -> Store:
        assert self._store is not None
        return self._store

    async def start(self) -> None:
        """Open the store, reload the table, and start the tick and retention loops."""
        if self._store is None:
            self._store = await self.db(open_store, self.config.store)
        nodes = await self.db(self.store.nodes)
        self.membership.restore(nodes, time.time())
        self._tasks = [
            asyncio.create_task(self._tick_loop()),
            asyncio.create_task(self._retention_loop()),
        ]
        self._started = True

    async def close(self) -> None:
        self._started = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._store is not None:
            await self.db(self.store.close)
        self._db.shutdown(wait=True)

    # -- loops ------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        interval = self.config.heartbeat_interval_s / 10
        while True:
            await self.apply(self.membership.tick(time.time()))
            await asyncio.sleep(interval)

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("pruning the store failed")
            await asyncio.sleep(min(60.0, self.config.retention_s / 10))

    async def prune(self) -> None:
        """Drop metric samples past ``retention_s`` and events past their count and age
        (the event log was never pruned: 2,000 fake events in 2 s stayed forever)."""
        now = time.time()
        await self.db(self.store.prune_metrics, now - self.config.retention_s)
        await self.db(
            self.store.prune_events, now - self.config.events_retention_s, self.config.events_max
        )

    # -- changes ----------------------------------------------------------------------------

    async def apply(self, changes: list[Change]) -> None:
        """Persist, log, push to subscribers and command nodes, for each change.

        A change that fails (the store refuses it, say) is logged and counted in
        ``failed_changes``, and the others go on: the tick loop runs this, and one
        poisoned change must never stop failure detection for every node.
        """
        now = time.time()
        for change in changes:
            try:
                await self._apply_one(change, now)
            except Exception:
                self.failed_changes += 1
                log.exception(
                    "change %s of node %s failed",
                    change.event,
                    change.node.node_id,
                    extra={"node_id": change.node.node_id},
                )

    async def _apply_one(self, change: Change, now: float) -> None:
        node = change.node
        if change.event is EventKind.REMOVED:
            await self._remove(change, now)
            return
        if change.event is not EventKind.LOAD:
            await self.db(self.store.save_node, node)
            event = change.event.value
            await self._log_event(now, event, node.node_id, change.detail)
            log.info(
                "node %s %s %s",
                node.node_id,
                event,
                change.detail,
                extra={"node_id": node.node_id},
            )
        frame = encode(TableUpdate(event=change.event, node=node))
        older = None
        if node.state is NodeState.LEFT:
            event = EventKind.DEAD if change.event is EventKind.LEFT else change.event
            older = encode(TableUpdate(event=event, node=as_dead(node)))
        self._publish(frame, older)
        self._watch(frame)
        if change.event in (EventKind.DRAINED, EventKind.RESUMED):
            await self._command(node, change)

    async def _remove(self, change: Change, now: float) -> None:
        """A node dead past the retention leaves the store's table; the event is logged
        and shown to the pages, but not pushed to clients (they fenced the node when it
        died, and an older client cannot decode a kind it does not know)."""
        node = change.node
        await self.db(self.store.delete_node, node.node_id)
        await self._log_event(now, change.event.value, node.node_id, change.detail)
        extra = {"node_id": node.node_id}
        log.info("node %s removed: %s", node.node_id, change.detail, extra=extra)
        self._watch(encode(TableUpdate(event=change.event, node=node)))

    async def _command(self, node: NodeView, change: Change) -> None:
        send = self._node_senders.get(node.node_id)
        if send is not None:
            draining = change.event is EventKind.DRAINED
            command = Command(action="drain" if draining else "resume", reason=change.detail)
            with contextlib.suppress(Exception):
                await send(encode(command))

    async def _log_event(self, ts: float, kind: str, node_id: str, detail: str) -> None:
        """Add an event to the store's log, and show it to the pages."""
        event_id = await self.db(self.store.add_event, ts, kind, node_id, detail)
        self.events_logged += 1
        self._watch(EventFrame(event=Event(event_id, ts, kind, node_id, detail)))

    def _publish(self, frame: bytes, older: bytes | None = None) -> None:
        _fan_out(self._subscribers, frame, older)

    def _watch(self, frame: bytes | msgspec.Struct) -> None:
        """Queue a frame for every page (encoded only when a page is open: a frame is
        made for each heartbeat)."""
        if self._watchers:
            _fan_out(self._watchers, frame if isinstance(frame, bytes) else encode(frame))

    # -- node sessions ------------------------------------------------------------------------

    async def node_session(
        self,
        receive: Callable[[], Awaitable[bytes | str]],
        send: Callable[[bytes], Awaitable[None]],
        claims: Claims | None = None,
    ) -> None:
        """One node's control connection: a hello, then heartbeats until it closes.

        With authentication on, ``claims`` are the node token's and the hello's node id
        must be its subject (:func:`.access.check_node_id`), and so must every beat's.

        Raises:
            Unauthorized: the hello names another node id than the token's subject.
        """
        first = _node_decoder.decode(await receive())
        if not isinstance(first, NodeHello):
            raise ValueError("the first message from a node must be its hello")
        check_node_id(claims, first.node_id)
        node_id = first.node_id
        self._node_senders[node_id] = send
        try:
            await self.apply(self.membership.register(first, time.time()))
            view = self.membership.get(node_id)
            if view is not None and view.draining:
                await send(encode(Command(action="drain", reason=view.drain_reason or "")))
            while True:
                message = _node_decoder.decode(await receive())
                if isinstance(message, NodeBeat):
                    if message.node_id != node_id:
                        raise ValueError(f"a beat for {message.node_id!r} on {node_id!r}'s link")
                    now = time.time()
                    self.heartbeats += 1
                    if self.membership.get(node_id) is None:
                        # Removed while its link stayed open (silent past the
                        # retention, then heard again): it joins again.
                        await self.apply(self.membership.register(first, now))
                    await self.db(self.store.add_metrics, node_id, now, message.metrics)
                    self._watch(self.recent.add_sample(node_id, now, message.metrics))
                    await self.apply(self.membership.beat(node_id, message.metrics, now))
                elif isinstance(message, NodeBye):
                    if message.node_id != node_id:
                        raise ValueError(f"a bye for {message.node_id!r} on {node_id!r}'s link")
                    await self.apply(self.membership.leave(node_id, time.time(), message.reason))
                    return
        finally:
            if self._node_senders.get(node_id) is send:
                del self._node_senders[node_id]

    # -- subscriptions ---------------------------------------------------------------------

    async def subscriber_session(
        self,
        receive: Callable[[], Awaitable[bytes | str]],
        send: Callable[[bytes], Awaitable[None]],
        claims: Claims | None = None,
        knows_left: bool = True,
    ) -> None:
        """A client following the table: a snapshot, then every update, in order.

        The client may report what it did (resubmissions, for the event log); with
        authentication on, each report is logged with the token's subject.
        ``knows_left``: the client decodes the ``left`` state; if not, a node that left
        is shown to it as dead (:func:`as_dead`).
        """
        sub = _Subscriber(knows_left)
        self._subscribers.add(sub)
        subject = claims.subject if claims is not None else None
        self._clients += 1
        client = self._clients
        reader = asyncio.create_task(self._client_reports(receive, subject, client))
        try:
            views = self.membership.views()
            if not knows_left:
                views = [as_dead(v) for v in views]
            await send(encode(TableSnapshot(nodes=views, counts=True)))
            while not reader.done():
                getter = asyncio.create_task(sub.queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await send(getter.result())
                if sub.overflowed:
                    break
        finally:
            self._subscribers.discard(sub)
            self.recent.client_gone(client)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _client_reports(
        self, receive: Callable[[], Awaitable[bytes | str]], subject: str | None, client: int
    ) -> None:
        """Log what clients report, and count where their tasks ran. A client reports
        only its own resubmissions: any other kind (``dead``, ``joined``...) is the
        controller's word alone, and a client that claims one is disconnected (2,000
        fake ``dead`` events were once written this way)."""
        while True:
            report = _report_decoder.decode(await receive())
            if isinstance(report, ClientCounts):
                share = self.recent.add_counts(client, report.local, report.edge, time.time())
                if share is not None:
                    self._watch(share)
                continue
            if report.event not in CLIENT_EVENTS:
                raise ValueError(f"clients may not report {report.event.value!r} events")
            by = f" by {subject}" if subject is not None else ""
            await self._log_event(
                time.time(), report.event.value, report.node_id, f"{report.count} tasks{by}"
            )

    # -- the dashboard's stream --------------------------------------------------------------

    async def watch(
        self, can_write: bool, idle_s: float = 15.0, until: float | None = None
    ) -> AsyncIterator[bytes | None]:
        """Frames for one page (dashboard.py): a snapshot, then every table update,
        sample, event and share bucket, in order; ``None`` after ``idle_s`` of quiet (the
        caller sends a keep-alive). Ends when the page falls :data:`SUBSCRIBER_BACKLOG`
        frames behind (it reconnects and starts from a fresh snapshot), at ``until``
        (Unix time: when the page's token expires, so that it must show a valid one to
        go on), or when the server stops (:meth:`end_streams`)."""
        sub = _Subscriber()
        self._watchers.add(sub)
        try:
            rows = await self.events(0, DASHBOARD_EVENTS, None, newest=True)
            events = [Event(r.id, r.ts, r.kind, r.node_id, r.detail) for r in rows]
            now = time.time()
            yield encode(self.recent.snapshot(now, self.membership.views(), events, can_write))
            ended = asyncio.create_task(self._streams_end.wait())
            getter: asyncio.Task[bytes] | None = None
            try:
                while not sub.overflowed:
                    wait = idle_s
                    if until is not None:
                        if (left := until - time.time()) <= 0:
                            return
                        wait = min(wait, left)
                    getter = asyncio.create_task(sub.queue.get())
                    done, _ = await asyncio.wait(
                        {getter, ended}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter in done:
                        yield getter.result()
                        continue
                    getter.cancel()
                    if ended in done:
                        return
                    if wait == idle_s:
                        yield None
            finally:  # also when the page goes away (the response is cancelled)
                ended.cancel()
                if getter is not None:
                    getter.cancel()
        finally:
            self._watchers.discard(sub)

    def end_streams(self) -> None:
        """End every page's stream: the HTTP server waits for open responses before it
        stops, and a stream would never end by itself."""
        self._streams_end.set()

    # -- operator actions (REST) ------------------------------------------------------------

    async def drain(self, node_id: str, reason: str) -> NodeView | None:
        if self.membership.get(node_id) is None:
            return None
        change = self.membership.drain(node_id, reason or "drained by operator")
        if change is not None:
            await self.apply([change])
        return self.membership.get(node_id)

    async def resume(self, node_id: str) -> NodeView | None:
        if self.membership.get(node_id) is None:
            return None
        change = self.membership.resume(node_id)
        if change is not None:
            await self.apply([change])
        return self.membership.get(node_id)

    async def events(
        self, since_id: int, limit: int, node_id: str | None, newest: bool = False
    ) -> list[EventRecord]:
        return await self.db(self.store.events, since_id, limit, node_id, newest)

    def statistics(self) -> ControllerStats:
        by_state: dict[str, int] = {}
        views = self.membership.views()
        for v in views:
            by_state[v.state.value] = by_state.get(v.state.value, 0) + 1
        return ControllerStats(
            nodes_by_state=by_state,
            draining=sum(v.draining for v in views),
            subscribers=len(self._subscribers),
            pages=len(self._watchers),
            heartbeats=self.heartbeats,
            events=self.events_logged,
            failed_changes=self.failed_changes,
        )
