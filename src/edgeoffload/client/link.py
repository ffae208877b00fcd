"""One client's link to one node: connect, hello, send batched submits, read answers,
heartbeat, and reconnect with backoff when the connection drops.

The link knows nothing of ownership: it reports to its :class:`LinkListener` (the
client) when it is up, what answers arrive, and when it goes down; the client decides
what happens to the tasks. Submits wait in an outbox, and the first one of an
event-loop turn schedules a flush (a plain callback) that sends everything the outbox
holds, as one ``SubmitBatch`` frame per ``batch_max_items``: what is submitted in one
turn travels together, adding no delay (or one frame per task with batching off). The
flush writes straight to the socket when its buffer has room
(:func:`~edgeoffload.transport.write_nowait`); a writer task takes over only when the
buffer is full, and waits for it to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from typing import Any, Protocol, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import Event

from ..config import ClientConfig
from ..decision.estimators import RttEstimator
from ..errors import FrameTooLarge, RemoteProtocolError
from ..identity import check_welcome, new_nonce
from ..liveness import PhiAccrual
from ..protocol.codes import ErrorCode
from ..protocol.connection import Connection, Role, State
from ..protocol.control import NodeState, NodeView
from ..protocol.messages import (
    PROTOCOL_VERSION,
    Cancel,
    Draining,
    Error,
    Heartbeat,
    Hello,
    Message,
    Result,
    ResultBatch,
    Resume,
    Status,
    Submit,
    SubmitBatch,
    Welcome,
)
from ..tls import context_for
from ..transport import CONNECTION_ERRORS, OnMessage, dispatch, reconnect_forever, write_nowait

log = logging.getLogger("edgeoffload.client")

#: How long closing a connection may take: the closing handshake (the websocket's own
#: close_timeout, 1 s) after its write buffer drained; past it the socket is aborted.
CLOSE_TIMEOUT_S = 2.0


class _LinkConnection(ClientConnection):
    """Hands each message to :attr:`on_message` as it is parsed (see transport.py)."""

    on_message: OnMessage | None = None

    def process_event(self, event: Event) -> None:
        if not dispatch(self, self.on_message, event):
            super().process_event(event)


class LinkListener(Protocol):
    """What a link tells its client."""

    def link_up(self, link: NodeLink) -> None: ...
    def link_down(self, link: NodeLink, reason: str) -> None: ...
    def on_result(self, link: NodeLink, result: Result) -> None: ...
    def on_results(self, link: NodeLink, items: list[Result | Error]) -> None: ...
    def on_error(self, link: NodeLink, error: Error) -> None: ...
    def on_unsendable(self, link: NodeLink, submit: Submit, exc: Exception) -> None: ...
    def on_draining(self, link: NodeLink) -> None: ...
    def on_resumed(self, link: NodeLink) -> None: ...
    def on_status(self, link: NodeLink) -> None: ...
    def link_failed(self, link: NodeLink, reason: str, unauthorized: bool) -> None: ...


class NodeLink:
    """A supervised connection to one node (see the module docstring).

    Attributes:
        url: the node's WebSocket URL; also the link's id until the node names itself.
        node_id: the node's name from its Welcome.
        tasks: the task names the node serves (from its Welcome).
        rtt_s: smoothed heartbeat round-trip time.
        queued, running, workers: the node's load from its last Status.
    """

    def __init__(
        self, url: str, config: ClientConfig, listener: LinkListener, client_id: str
    ) -> None:
        self.url = url
        self.config = config
        self.listener = listener
        self.client_id = client_id
        #: The TLS context for a wss:// node (None for ws://), built once: every
        #: reconnect uses it, rather than reading the CA bundle again.
        self._ssl = context_for(url, config.tls_ca_file, config.tls_cert_file, config.tls_key_file)
        self.node_id = url
        self.tasks: frozenset[str] = frozenset()
        self.labels: dict[str, str] = {}
        #: The node's data-locality cache budget, from its welcome (0: none).
        self.cache_bytes = 0
        self.rtt_s = 0.0
        self._rtt = RttEstimator()
        self.queued = self.running = self.workers = 0
        self.connected = False
        self.accepting = False
        self.last_error = ""
        #: The controller's row for this node, when the client follows a controller.
        self.view: NodeView | None = None
        #: Why the connection was last aborted on the controller's word, if ever.
        self.last_fence = ""
        self._conn: Connection | None = None
        self._ws: ClientConnection | None = None
        self._outbox: list[Submit | Cancel | Heartbeat] = []
        self._flush_scheduled = False
        self._backlog: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._up = asyncio.Event()
        #: Set once the first attempt has ended, up or failed: what ``start`` waits
        #: for (a node that refuses connections must not cost connect_timeout_s).
        self._tried = asyncio.Event()
        #: Whether the last failed attempt was the node refusing our token.
        self.unauthorized = False
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._hb_seq = 0
        #: The failure detector of the current connection, and how often it fired.
        self.liveness: PhiAccrual | None = None
        self.declared_dead = 0
        #: Submit frames sent and submits in them (their ratio is the mean batch size).
        self.submit_frames = 0
        self.submits_sent = 0

    # -- public -----------------------------------------------------------------------------

    def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name=f"link {self.url}")

    async def close(self) -> None:
        """Stop reconnecting and close the connection."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            # websockets' close drains the write buffer first, without a bound (its
            # close_timeout starts after): frames stuck behind a link at zero capacity
            # or a node that reads nothing held the close until the failure detector
            # gave up on the node (issue 13)
            try:
                await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT_S)
            except TimeoutError:
                ws.transport.abort()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor

    async def wait_up(self) -> None:
        await self._up.wait()

    async def wait_tried(self) -> None:
        """Until the first connection attempt has ended (up, or failed with a reason)."""
        await self._tried.wait()

    @property
    def tried(self) -> bool:
        return self._tried.is_set()

    @property
    def placeable(self) -> bool:
        """New tasks may go here: connected, not draining, and (if a controller is
        followed) alive and not draining in its table."""
        view = self.view
        return self.accepting and (
            view is None or (view.state is NodeState.ALIVE and not view.draining)
        )

    def has_labels(self, required: dict[str, str]) -> bool:
        """The node carries every required label (from its hello or the controller)."""
        labels = self.view.labels if self.view is not None else self.labels
        return all(labels.get(k) == v for k, v in required.items())

    def fence(self, reason: str) -> None:
        """Treat the node as lost now (the controller declared it dead): abort the
        connection, so its tasks are placed again and nothing more is read from it."""
        if self._ws is not None:
            self.last_fence = reason
            self.declared_dead += 1
            self._ws.transport.abort()

    def send(self, submit: Submit) -> None:
        """Queue a submit for the next frame (the link must be accepting)."""
        self._queue(submit)

    def send_many(self, submits: list[Submit]) -> None:
        """Queue many submits at once (a batch record's items), for the next frames."""
        if submits:
            self._queue(submits[0])
            self._outbox.extend(submits[1:])

    def cancel(self, ids: list[int]) -> None:
        if self.connected and ids:
            self._queue(Cancel(ids))

    def _queue(self, message: Submit | Cancel | Heartbeat) -> None:
        """Add to the outbox; the first message of a turn schedules the flush."""
        self._outbox.append(message)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            delay = self.config.batch_max_delay_s
            loop = asyncio.get_running_loop()
            if delay > 0:
                loop.call_later(delay, self._flush)
            else:
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Encode what this turn queued and write it: at once when the socket takes it,
        else through the writer task, which waits for the buffer to drain."""
        self._flush_scheduled = False
        conn, ws = self._conn, self._ws
        if conn is None or ws is None or not self._outbox:
            return
        outbox, self._outbox = self._outbox, []
        self._encode(outbox, conn)
        frames = conn.data_to_send()
        if self._backlog or not write_nowait(ws, frames):
            self._backlog.extend(frames)
            self._wake.set()

    # -- supervision --------------------------------------------------------------------------

    async def _supervise(self) -> None:
        def failed(exc: BaseException) -> None:
            self.last_error = (
                str(exc) if isinstance(exc, RemoteProtocolError) else f"{type(exc).__name__}: {exc}"
            )
            self.unauthorized = (
                isinstance(exc, RemoteProtocolError) and exc.code is ErrorCode.UNAUTHORIZED
            )
            self._tried.set()
            self.listener.link_failed(self, self.last_error, self.unauthorized)

        await reconnect_forever(
            self._session,
            on_error=failed,
            on_down=lambda: self._went_down(self.last_error or "connection closed"),
            min_delay_s=self.config.reconnect_min_s,
            max_delay_s=self.config.reconnect_max_s,
            errors=(*CONNECTION_ERRORS, RemoteProtocolError),
            stop=lambda: self._closing,
        )

    def _went_down(self, reason: str) -> None:
        was_up = self.connected
        self.connected = self.accepting = False
        self._up.clear()
        self._outbox.clear()
        self._backlog.clear()
        self._ws = self._conn = None
        if was_up:
            self.listener.link_down(self, reason)

    async def _session(self) -> None:
        cfg = self.config
        self.last_error = ""
        loop = asyncio.get_running_loop()
        async with connect(
            self.url,
            max_size=cfg.max_frame_bytes,
            compression=None,
            open_timeout=cfg.connect_timeout_s,
            ping_interval=None,
            close_timeout=1.0,
            create_connection=_LinkConnection,
            ssl=self._ssl,
        ) as plain_ws:
            ws = cast(_LinkConnection, plain_ws)
            conn = Connection(Role.CLIENT, cfg.max_frame_bytes)
            handshake: asyncio.Future[Welcome | None] = loop.create_future()
            ended = asyncio.Event()
            ws.on_message = functools.partial(self._receive, conn, handshake, ended)
            # The key the controller vouches for, read at every attempt: a node that
            # restarted with a new key is checked against its new row.
            view = self.view
            key = view.public_key if view is not None else None
            key = key or cfg.node_keys.get(self.url)
            nonce = new_nonce() if key else None
            conn.send(Hello(PROTOCOL_VERSION, self.client_id, cfg.token, cfg.batching, nonce))
            for frame in conn.data_to_send():
                await ws.send(frame)
            welcome = await asyncio.wait_for(handshake, cfg.connect_timeout_s)
            if welcome is None:  # the node is shutting down
                return
            if key and nonce is not None:
                self._check_identity(welcome, key, view, nonce)
            self.node_id = welcome.node_id
            self.tasks = frozenset(welcome.tasks)
            self.workers = welcome.workers
            self.labels = dict(welcome.labels)
            self.cache_bytes = welcome.cache_bytes
            self._conn, self._ws = conn, ws
            self.connected = self.accepting = True
            self.unauthorized = False
            self._up.set()
            self._tried.set()
            self.listener.link_up(self)
            tasks = [
                asyncio.create_task(self._writer(ws)),
                asyncio.create_task(self._heartbeat(ws)),
                asyncio.create_task(ws.wait_closed()),
                asyncio.create_task(ended.wait()),
            ]
            try:
                await asyncio.wait(tasks[2:], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            if conn.close_code is not None:
                await ws.close(conn.close_code, conn.close_reason)
                self.last_error = self.last_error or conn.close_reason
            else:
                self.last_error = (
                    self.last_error or f"connection closed ({ws.close_code} {ws.close_reason})"
                )

    def _check_identity(
        self, welcome: Welcome, key: str, view: NodeView | None, nonce: bytes
    ) -> None:
        """Refuse a node that does not prove it holds the key its controller row gives,
        or the key pinned for its URL (:mod:`edgeoffload.identity`), before any task
        is sent to it.

        Raises:
            RemoteProtocolError: ``unauthorized``, naming the node, its URL and why
                (the client fails its tasks with :class:`~edgeoffload.errors.Unauthorized`
                when no node is left, as for a refused token).
        """
        node_id = view.node_id if view is not None else welcome.node_id
        reason: str | None = f"it calls itself {welcome.node_id!r}"
        if welcome.node_id == node_id:
            reason = check_welcome(key, welcome.signature, nonce, node_id, self.client_id)
        if reason is not None:
            from_table = view is not None and view.public_key == key
            whose = "the controller registered" if from_table else "whose key is pinned"
            message = f"node {node_id} at {self.url} is not the node {whose}: {reason}"
            raise RemoteProtocolError(ErrorCode.UNAUTHORIZED, message)

    def _receive(
        self,
        conn: Connection,
        handshake: asyncio.Future[Welcome | None],
        ended: asyncio.Event,
        data: bytes,
    ) -> None:
        """Handle one message from the node (called as it is parsed, see transport.py)."""
        conn.receive_data(data)
        for event in conn.events_received():
            if not handshake.done():
                if isinstance(event, Welcome | Draining):
                    handshake.set_result(event if isinstance(event, Welcome) else None)
                elif isinstance(event, Error):
                    handshake.set_exception(RemoteProtocolError(event.code, event.message))
                elif isinstance(event, RemoteProtocolError):
                    handshake.set_exception(event)
                continue
            self._on_event(event, self.listener)
        if conn.state is State.CLOSED:
            ended.set()

    def _on_event(self, event: Message | RemoteProtocolError, listener: LinkListener) -> None:
        if isinstance(event, ResultBatch):
            listener.on_results(self, event.items)
        elif isinstance(event, Result):
            listener.on_result(self, event)
        elif isinstance(event, Error):
            if event.id is None:
                log.warning(
                    "node %s: %s: %s",
                    self.node_id,
                    event.code,
                    event.message,
                    extra={"node_id": self.node_id},
                )
            else:
                listener.on_error(self, event)
        elif isinstance(event, Status):
            now = asyncio.get_running_loop().time()
            if self.liveness is not None:
                self.liveness.heartbeat(now)
            self._rtt.observe(now - event.sent_at)
            self.rtt_s = self._rtt.predict()
            self.queued, self.running, self.workers = event.queued, event.running, event.workers
            listener.on_status(self)
        elif isinstance(event, Draining):
            self.accepting = False
            listener.on_draining(self)
        elif isinstance(event, Resume):
            self.accepting = True
            listener.on_resumed(self)
        elif isinstance(event, RemoteProtocolError):
            self.last_error = str(event)
            log.warning(
                "node %s sent a bad frame: %s", self.node_id, event, extra={"node_id": self.node_id}
            )

    async def _heartbeat(self, ws: ClientConnection) -> None:
        """Send a heartbeat every interval and declare the node dead when its silence
        makes phi reach ``dead_phi``: the connection is aborted, so its tasks are placed
        again at once (a hung or cut-off node keeps its socket open, so no close
        would ever tell us)."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        interval = cfg.heartbeat_interval_s
        detector = self.liveness = PhiAccrual(interval, acceptable_pause_s=cfg.acceptable_pause_s)
        detector.heartbeat(loop.time())
        last_tick = loop.time()
        while True:
            now = loop.time()
            # If our own loop stalled (user code blocking it), the node's silence is
            # ours: give it a fresh start instead of a verdict.
            if now - last_tick > interval + cfg.acceptable_pause_s:
                detector.heartbeat(now)
            last_tick = now
            phi = detector.phi(now)
            if phi >= cfg.dead_phi:
                silence = now - (detector.last_heartbeat or now)
                self.last_error = f"no heartbeat answer for {silence:.2f} s (phi {phi:.1f})"
                log.warning(
                    "node %s declared dead: %s",
                    self.node_id,
                    self.last_error,
                    extra={"node_id": self.node_id},
                )
                self.declared_dead += 1
                ws.transport.abort()
                return
            self._hb_seq += 1
            self._queue(Heartbeat(self._hb_seq, now))
            await asyncio.sleep(interval)

    async def _writer(self, ws: ClientConnection) -> None:
        """Send the frames the socket could not take at once, waiting for it to drain."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._backlog:
                await ws.send(self._backlog.popleft())

    def _encode(self, outbox: list[Any], conn: Connection) -> None:
        """Turn queued messages into frames: control messages alone, submits batched."""
        submits: list[Submit] = []
        for message in outbox:
            if isinstance(message, Submit):
                submits.append(message)
            elif conn.state in (State.OPEN, State.DRAINING):
                conn.send(message)
        if not submits:
            return
        if conn.state is not State.OPEN:
            for s in submits:
                self.listener.on_error(
                    self, Error(s.id, ErrorCode.DRAINING, "node is draining; not sent")
                )
            return
        step = self.config.batch_max_items if self.config.batching else 1
        for i in range(0, len(submits), step):
            self._send_submits(submits[i : i + step], conn)

    def _send_submits(self, submits: list[Submit], conn: Connection) -> None:
        try:
            conn.send(submits[0] if len(submits) == 1 else SubmitBatch(submits))
            self.submit_frames += 1
            self.submits_sent += len(submits)
        except (FrameTooLarge, TypeError) as exc:
            if len(submits) == 1:
                self.listener.on_unsendable(self, submits[0], exc)
                return
            mid = len(submits) // 2
            self._send_submits(submits[:mid], conn)
            self._send_submits(submits[mid:], conn)
