"""The edge node's asyncio adapter: WebSocket frames in, tasks run, results out.

Per connection, a :class:`_Session` feeds received frames to its
:class:`~edgeoffload.protocol.connection.Connection`, hands the messages to the node,
and a writer task sends what accumulates (results are batched per event-loop turn into
one ``ResultBatch`` frame). The node hands each message to its
:class:`~.admission.Admission` (handshake, which submits to take, drain) and carries
out what it decides: send a frame, close a refused handshake, run an ``inline`` task
in the loop, answer an error; queued work waits in the :class:`~.scheduler.Scheduler`,
from which idle pool slots take chunks. All decisions are in those two pure modules and
the connection; this module only moves bytes, keeps time and awaits.

Shutdown (:meth:`EdgeNode.shutdown`, on SIGTERM): stop accepting (new connections get
HTTP 503); tell every client ``Draining`` so that owners place new work elsewhere; let
admitted work finish within ``drain_timeout_s``; answer what is left with ``draining``
errors (owners resubmit it); close connections with 1001, whether or not the clients
are still there; stop the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame
from websockets.http11 import Request, Response
from websockets.protocol import Event

from ..config import NodeConfig, keys_of
from ..errors import BadItem, FrameTooLarge, RemoteProtocolError
from ..execution import STOPPED, TaskPool, run_inline
from ..identity import NodeIdentity
from ..metrics import NodeMetrics
from ..protocol.codec import Codec
from ..protocol.codes import ErrorCode
from ..protocol.connection import (
    CLOSE_BACKLOG_FULL,
    CLOSE_GOING_AWAY,
    CLOSE_HELLO_TIMEOUT,
    Connection,
    Role,
    State,
)
from ..protocol.messages import (
    Cancel,
    Error,
    Heartbeat,
    Hello,
    Message,
    Result,
    ResultBatch,
    Submit,
    SubmitBatch,
)
from ..tasks import TaskSpec, load_modules
from ..tls import server_context_of
from ..transport import dispatch, write_nowait
from .admission import (
    SHUTTING_DOWN,
    Admission,
    Broadcast,
    Instruction,
    NodeOffer,
    Send,
)
from .cache import NodeCache
from .sampler import MetricsSampler, RunTimes, prometheus_text
from .scheduler import Job, Scheduler, expired_error, pushed_out_error

log = logging.getLogger("edgeoffload.node")

PATH = "/offload"
Answer = Result | Error

#: How often running pool tasks are checked against their deadline and time limit
#: (a cancel or a client leaving is checked at once). With the worker's replacement
#: forked from the forkserver in a few milliseconds, a stopped task's slot is free
#: again within this plus that.
WATCH_INTERVAL_S = 0.1
#: A running task that is no longer wanted (cancelled, its client gone) is stopped only
#: once it has run this long: killing a worker to save microseconds costs more.
MIN_RUN_BEFORE_STOP_S = 0.05
#: /metrics serves one sample for this long: a scraper (or an attacker) asking faster
#: costs the node nothing, and the controller's heartbeats sample on their own clock.
METRICS_CACHE_S = 1.0
#: How long a connection being closed for a limit gets for the close handshake before
#: its socket is dropped (a peer that does not read would never complete it).
CLOSE_GRACE_S = 1.0


class _NodeConnection(ServerConnection):
    """Hands each message to its session as it is parsed (see transport.py); a
    subclass per node sets :attr:`node`."""

    node: EdgeNode

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and dispatch(self, self.node._session_of(self).receive, event):
            return
        super().process_event(event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.node._connection_made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.node._connection_lost(self)


class _Session:
    """One client connection: its protocol state, its pending answers and its writer.

    Frames arrive through :meth:`receive`, called by the connection as each message is
    parsed (:class:`~edgeoffload.transport.DirectServerConnection`): the answers it
    produces (inline tasks, refusals) are written before the event loop moves on.
    Answers produced later (pool results, drain) are flushed once per loop turn.
    """

    def __init__(self, node: EdgeNode, ws: ServerConnection, sid: int) -> None:
        self.node = node
        self.ws = ws
        self.sid = sid
        self.state = node.admission.open(sid)  # the pure side: client id, batching, ...
        self.conn = Connection(Role.NODE, node.config.max_frame_bytes)
        self._answers: list[Answer] = []
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._paused_at: float | None = None  # reading stopped: backlog full
        self._limit_timer: asyncio.TimerHandle | None = None
        self._discard = False  # closed for a full backlog: answers are dropped
        self._wake = asyncio.Event()  # the writer has backlog to send
        self._ended = asyncio.Event()  # the protocol closed the connection
        self._flush_scheduled = False
        self._reading = False
        self._done = False
        self.frame_bytes = 0
        #: Why reading this connection is paused ("backlog": its answers are unread;
        #: "inline": its deferred inline tasks are running). Reading resumes only when
        #: no reason is left, so neither rule undoes the other's pause.
        self._paused_for: set[str] = set()
        #: Task id -> the result-cache key its value is kept under once answered
        #: (cacheable tasks in flight on this connection; see node/cache.py).
        self.result_keys: dict[int, bytes] = {}

    def ids(self) -> dict[str, object]:
        """The ids every log record about this connection carries (edgeoffload.logs)."""
        return {"conn_id": self.sid, "client_id": self.state.client_id}

    def hold_reading(self, reason: str) -> None:
        """Stop reading this connection for ``reason`` (TCP then pushes back on the
        sender), until :meth:`release_reading` with the same reason and no other."""
        if not self._paused_for and not self.ws.transport.is_closing():
            self.ws.transport.pause_reading()
        self._paused_for.add(reason)

    def release_reading(self, reason: str) -> None:
        """Drop ``reason`` for the pause; read again once no reason is left."""
        self._paused_for.discard(reason)
        if not self._paused_for and not self.ws.transport.is_closing():
            self.ws.transport.resume_reading()

    def receive(self, data: bytes) -> None:
        """Handle one received message (called from the connection's data callback)."""
        held = self.node._held.get(self.sid)
        if held is not None and not self.node._replaying:
            held.append(data)  # read with others while its inline backlog runs: later
            return
        self._reading = True
        self.frame_bytes = len(data)  # for the argument-bytes quota
        try:
            self.conn.receive_data(data)
            for event in self.conn.events_received():
                self.node._on_event(self, event)
        finally:
            self._reading = False
        self.flush()
        if self.conn.state is State.CLOSED:
            self._ended.set()

    def push(self, answer: Answer) -> None:
        """Queue a result or task error; it leaves with the others of this turn."""
        if self.result_keys and answer.id is not None:
            key = self.result_keys.pop(answer.id, None)
            if key is not None and isinstance(answer, Result):
                self.node.cache.keep_result(key, answer.value, answer.run_ms)
        self._answers.append(answer)
        if not self._reading:  # receive() flushes what it produced itself
            self.wake()

    def send(self, message: Message) -> None:
        """Send a control message (welcome, drain notice, refusal of the hello, ...) with
        this turn's frames."""
        self.conn.send(message)
        if not self._reading:
            self.wake()

    def wake(self) -> None:
        """Flush at the end of this loop turn (once, however many answers come)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Encode the queued answers and write every pending frame, at once when the
        socket takes it, else through the writer task (which waits for it to drain)."""
        self._flush_scheduled = False
        if self._answers:
            self.node._warm_go.set()  # the first answer goes out: the workers may start
            answers, self._answers = self._answers, []
            self._send_answers(answers)
        frames = self.conn.data_to_send()
        if self._discard:
            return
        if frames and (self._backlog or not write_nowait(self.ws, frames)):
            self._backlog.extend(frames)
            self._backlog_bytes += sum(map(len, frames))
            self._wake.set()
            limit = self.node.config.max_backlog_bytes
            if self._paused_at is None and self._unsent() > limit:
                self._pause()
            elif self._unsent() > 2 * limit:
                self._overflow("result backlog over twice its bound: the client does not read")

    # -- bounded backlog ------------------------------------------------------------------
    # Answers the client does not read wait here and in the socket's write buffer. Past
    # max_backlog_bytes the node stops reading the connection: no new submits are parsed,
    # so none produce answers, and the client's own sends block once the socket buffers
    # fill (backpressure end to end). A connection that stays full for
    # backlog_timeout_s is closed with CLOSE_BACKLOG_FULL and its backlog dropped; so is
    # one whose backlog passes twice the bound meanwhile (answers of work admitted before
    # the pause still arrive), so that a connection never costs more than that.

    def _unsent(self) -> int:
        return self._backlog_bytes + self.ws.transport.get_write_buffer_size()

    def _pause(self) -> None:
        loop = asyncio.get_running_loop()
        self._paused_at = loop.time()
        self.hold_reading("backlog")
        self._limit_timer = loop.call_later(
            self.node.config.backlog_timeout_s, self._backlog_timed_out
        )
        log.info(
            "client %s: %d bytes unread; reading paused",
            self.state.client_id,
            self._unsent(),
            extra=self.ids(),
        )

    def _maybe_resume(self) -> None:
        low = self.node.config.max_backlog_bytes // 2
        if self._paused_at is not None and self._unsent() <= low:
            self._paused_at = None
            if self._limit_timer is not None:
                self._limit_timer.cancel()
                self._limit_timer = None
            self.release_reading("backlog")

    def _backlog_timed_out(self) -> None:
        log.warning(
            "client %s: answers unread for %.0f s; closing with %d",
            self.state.client_id,
            self.node.config.backlog_timeout_s,
            CLOSE_BACKLOG_FULL,
            extra=self.ids(),
        )
        self._overflow("result backlog full: the client does not read")

    def _overflow(self, reason: str) -> None:
        """Drop the backlog and every later answer, and close with CLOSE_BACKLOG_FULL."""
        self._discard = True
        self._backlog.clear()
        self._backlog_bytes = 0
        if self._limit_timer is not None:
            self._limit_timer.cancel()
            self._limit_timer = None
        self.close_now(CLOSE_BACKLOG_FULL, reason)

    def close_now(self, code: int, reason: str) -> None:
        """Close with ``code`` for a limit: the close frame is queued, and the socket is
        dropped if the peer does not complete the closing handshake within
        :data:`CLOSE_GRACE_S` (one that never reads never would)."""
        ws = self.ws
        if ws.transport.is_closing():
            return
        with contextlib.suppress(Exception):
            ws.protocol.send_close(code, reason)
            ws.send_data()
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, ws.transport.abort)

    def _hello_timed_out(self) -> None:
        self._limit_timer = None
        if self.conn.state is State.AWAIT_HELLO:
            timeout = self.node.config.hello_timeout_s
            self.close_now(CLOSE_HELLO_TIMEOUT, f"no hello within {timeout:g} s")

    async def run(self) -> None:
        """Serve until the connection closes or the protocol ends it, then clean up."""
        writer = asyncio.create_task(self._writer())
        if self.conn.state is State.AWAIT_HELLO:
            self._limit_timer = asyncio.get_running_loop().call_later(
                self.node.config.hello_timeout_s, self._hello_timed_out
            )
        closed = asyncio.create_task(self.ws.wait_closed())
        ended = asyncio.create_task(self._ended.wait())
        try:
            await asyncio.wait({closed, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            ended.cancel()
            if self._limit_timer is not None:
                self._limit_timer.cancel()
            self.flush()
            self._done = True
            self._wake.set()
            try:
                await writer
            finally:
                self.node._session_closed(self)
                if self.conn.close_code is not None:
                    await self.ws.close(self.conn.close_code, self.conn.close_reason)

    async def _writer(self) -> None:
        """Send the frames the socket could not take at once, until the session ends."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._backlog:
                    frame = self._backlog.popleft()
                    self._backlog_bytes -= len(frame)
                    await self.ws.send(frame)
                    self._maybe_resume()
                if self._done:
                    return
        except ConnectionClosed:
            return

    def _send_answers(self, answers: list[Answer]) -> None:
        """Queue answers as frames, splitting batches that exceed the frame limit and
        turning a value that cannot be encoded into that task's own error."""
        limit = self.node.max_batch if self.state.batch_results else 1
        for i in range(0, len(answers), limit):
            part = answers[i : i + limit]
            self._send_part(part)

    def _send_part(self, part: list[Answer]) -> None:
        if self.conn.state not in (State.OPEN, State.DRAINING):
            return
        message = part[0] if len(part) == 1 else ResultBatch(part)
        try:
            self.conn.send(message)
            return
        except FrameTooLarge as exc:
            if len(part) == 1:
                item = part[0]
                self.conn.send(Error(item.id, ErrorCode.TOO_LARGE, f"result: {exc.message}"))
                return
        except TypeError as exc:
            if len(part) == 1:
                item = part[0]
                self.conn.send(
                    Error(
                        item.id, ErrorCode.TASK_FAILED, f"result cannot be sent: {exc}", "TypeError"
                    )
                )
                return
        mid = len(part) // 2
        self._send_part(part[:mid])
        self._send_part(part[mid:])


class EdgeNode:
    """An edge node serving registered tasks over WebSocket at ``/offload``.

    Args:
        config: the node's settings.
        tasks: the task table; by default the tasks of ``config.tasks`` modules.

    Use ``await node.start()`` (returns once listening; ``node.url`` is known), then
    ``await node.shutdown()`` to drain and stop, or ``await node.wait_closed()``.
    """

    def __init__(self, config: NodeConfig, tasks: dict[str, TaskSpec] | None = None) -> None:
        self.config = config
        self.tasks = tasks if tasks is not None else load_modules(config.tasks)
        self.workers = config.workers or os.cpu_count() or 1
        self.max_batch = 4096
        self.scheduler = Scheduler(
            config.max_pending,
            self.workers,
            max_per_share=config.max_pending_per_client,
            max_bytes=config.max_pending_bytes,
        )
        #: The key pair that signs welcomes (edgeoffload.identity): kept in its file
        #: if one is configured, else fresh for this process.
        self.identity = (
            NodeIdentity.load_or_create(config.identity_key_file)
            if config.identity_key_file
            else NodeIdentity.generate()
        )
        self.admission = Admission(
            NodeOffer(
                node_id=config.node_id or "",
                tasks=self.tasks,
                labels=dict(config.labels),
                max_frame_bytes=config.max_frame_bytes,
                max_batch=self.max_batch,
                workers=self.workers,
                keys=keys_of(config),
                inline_per_turn=config.inline_per_turn,
                cache_bytes=config.cache_bytes,
                identity=self.identity,
            ),
            self.scheduler,
        )
        codec = Codec(config.max_frame_bytes)
        self.cache = NodeCache(config.cache_bytes, codec.encode_value, codec.decode_value)
        # Tasks whose results the cache keeps (offered, cacheable=True, cache on).
        self._offered = frozenset(self.admission.offered)
        self._cacheable = frozenset(
            name for name in self._offered if self.tasks[name].cacheable and self.cache.enabled
        )
        self.pool = TaskPool(config.tasks, self.workers)
        # Two chunks per worker in flight: one running, one waiting in the pool's call
        # queue, so a worker never idles for the round trip to the event loop.
        self._free_slots = 2 * self.workers
        self._sessions: dict[int, _Session] = {}
        self._sids = itertools.count(1)
        self._chunks: set[asyncio.Task[None]] = set()
        self._deferring: set[int] = set()  # connections with inline tasks for later turns
        # Their frames read meanwhile (one read's worth: reading is paused), and whether
        # one of those is being handled now.
        self._held: dict[int, deque[bytes]] = {}
        self._replaying = False
        self._server: Server | None = None
        self._closed = asyncio.Event()
        self._idle = asyncio.Event()
        self.node_id = config.node_id or ""
        self.started_at = time.monotonic()
        self.run_times = RunTimes()
        self._sampler: MetricsSampler | None = None
        self._metrics_cache: tuple[float, bytes] | None = None
        self._metrics_sampler: MetricsSampler | None = None
        # Open connections (from TCP accept to close, handshakes included), in all and
        # per source address: the caps of _process_request.
        self._connections = 0
        self._per_address: dict[str, int] = {}
        self._watch: asyncio.Task[None] | None = None
        #: Set when the workers may start (see _warm_up).
        self._warm_go = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; returns when the port is bound (``self.url`` is then valid)."""
        connection = type("NodeConnection", (_NodeConnection,), {"node": self})
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            create_connection=connection,
            max_size=self.config.max_frame_bytes,
            compression=None,
            ping_interval=self.config.ping_interval_s,
            process_request=self._process_request,
            server_header=None,
            ssl=server_context_of(
                self.config.tls_cert_file, self.config.tls_key_file, self.config.tls_client_ca_file
            ),
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        self.node_id = self.node_id or f"{self.config.host}:{self.port}"
        self.admission.offer = msgspec.structs.replace(self.admission.offer, node_id=self.node_id)
        # Workers start in the background, after the first answer (see _warm_up): the
        # node serves inline tasks meanwhile, and pool tasks simply wait for the first
        # worker. The metrics sampler (psutil) and prometheus_client are imported off
        # the event loop too.
        self._warm = asyncio.create_task(self._warm_up())
        self._watch = asyncio.create_task(self._watch_running())

    async def _warm_up(self) -> None:
        """The workers first (readiness waits for them), then the metrics' imports.

        The workers start once the first task is answered (an inline one needs none),
        ``/readyz`` is asked (an orchestrator wants the node warm), or at the latest
        ``pool_start_delay_s`` after listening: under a CPU quota (0.1 CPU: 10 ms per
        100 ms) their start, a forkserver and a resource tracker that are interpreters
        of their own, and the task modules' imports, took the quota from the first
        handshakes and answers. A pool task does not wait for this: it starts the pool
        itself (``TaskPool.run_chunk``).

        The metrics' imports come after the workers, not beside them: they hold the GIL
        on their thread, and took CPU from the first answers and from the pool's start,
        while nothing needs them before the first heartbeat or ``/metrics`` (either
        builds the sampler itself if it comes first, as it does if the pool fails to
        start).
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._warm_go.wait(), self.config.pool_start_delay_s)
        await self.pool.warm()
        await asyncio.to_thread(self._load_metrics)

    def _load_metrics(self) -> None:
        import prometheus_client  # noqa: F401  (imported here so that /metrics never waits)

        self._sampler = MetricsSampler()

    def metrics(self) -> NodeMetrics:
        """A health sample now (the 15 metrics)."""
        if self._sampler is None:
            self._sampler = MetricsSampler()
        return self._sample(self._sampler)

    def _sample(self, sampler: MetricsSampler) -> NodeMetrics:
        s = self.scheduler.statistics()
        return sampler.sample(
            queued=s.queued,
            running=s.running,
            completed=s.completed,
            failed=s.failed,
            p95_ms=self.run_times.p95_ms(),
            connections=len(self._sessions),
            cache=self.cache.statistics(),
        )

    # -- drain without shutdown (admin or degraded health) -------------------------------------

    @property
    def drain_reason(self) -> str | None:
        """Why the node is drained without shutting down (admin or health), if it is."""
        return self.admission.drain_reason

    @property
    def offered(self) -> list[str]:
        """The tasks this node runs (loaded, and its labels meet their ``requires``)."""
        return self.admission.offered

    def drain(self, reason: str) -> None:
        """Take no new work (clients are told and place it elsewhere); admitted work
        still runs. Undone by :meth:`resume`."""
        self._carry_out(self.admission.drain(reason))

    def resume(self, reason: str = "resumed") -> None:
        """Take new work again after :meth:`drain` (not after a shutdown)."""
        self._carry_out(self.admission.resume(reason))

    def _carry_out(self, instructions: list[Instruction]) -> None:
        """Do what admission decided: send, broadcast, or close a refused handshake."""
        for ins in instructions:
            if isinstance(ins, Broadcast):
                for session in list(self._sessions.values()):
                    if session.conn.state is ins.state:
                        session.send(ins.message)
            elif isinstance(ins, Send):
                self._sessions[ins.sid].send(ins.message)
            else:  # Reject: the connection state machine closes after it
                self._sessions[ins.sid].send(Error(None, ins.code, ins.message))

    @property
    def url(self) -> str:
        scheme = "wss" if self.config.tls else "ws"
        return f"{scheme}://{self.config.host}:{self.port}{PATH}"

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def shutdown(self, reason: str = SHUTTING_DOWN) -> None:
        """Drain and stop (idempotent; see the module docstring)."""
        if self.admission.closing:
            await self._closed.wait()
            return
        instructions = self.admission.shut_down(reason, self.config.drain_timeout_s)
        assert self._server is not None
        # New connections are refused from here on (HTTP 503, see _process_request),
        # but the listener stays open until the drain ends: websockets' Server.close()
        # acts only on its first call, so closing it now without its connections would
        # turn the 1001 close below into a no-op and wait for every client to leave.
        self._carry_out(instructions)
        if not self.scheduler.idle:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), self.config.drain_timeout_s)
            except TimeoutError:
                log.warning("drain timeout: %d tasks did not finish", self._abandon_all())
        for session in list(self._sessions.values()):
            session.wake()
        await asyncio.sleep(0)  # let writers flush the last answers
        self._server.close(close_connections=True, code=CLOSE_GOING_AWAY, reason=reason)
        await self._server.wait_closed()
        for task in list(self._chunks):
            task.cancel()
        self._warm.cancel()
        if self._watch is not None:
            self._watch.cancel()
        # Drained, so the workers are idle: wait for them, or the pool's exit hook
        # writes to pipes that are already closed when the interpreter stops.
        await self.pool.close()
        self._closed.set()

    def abort(self) -> None:
        """Stop now (a second signal): answer admitted work ``draining``, stop the pool."""
        self._abandon_all()
        for session in list(self._sessions.values()):
            session.wake()
        if self._server is not None:
            self._server.close(close_connections=True, code=CLOSE_GOING_AWAY, reason="aborted")
        if self._watch is not None:
            self._watch.cancel()
        self.pool.shutdown(wait=False)
        self._closed.set()

    def _abandon_all(self) -> int:
        """Answer every admitted task with ``draining`` so that its owner resubmits it."""
        jobs = self.scheduler.abandon_all()
        for job in jobs:
            self._push(
                job, Error(job.id, ErrorCode.DRAINING, "node stopped before the task finished")
            )
        return len(jobs)

    # -- HTTP side door ---------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if request.method != "GET":
            response = _text(405, f"{request.method} not allowed; every path here takes GET\n")
            response.headers["Allow"] = "GET"
            return response
        if path == PATH:
            if self.admission.closing:
                return _text(503, "draining\n")
            return self._over_capacity(conn)
        if path == "/healthz":
            return _text(200, "ok\n")
        if path == "/readyz":
            self._warm_go.set()
            if self.admission.closing or self.drain_reason is not None:
                return _text(503, f"draining: {self.drain_reason or 'shutting down'}\n")
            if not self.pool.started:
                # Ready means warm: the node listens (and serves inline tasks) at once,
                # but an orchestrator should send work only once every worker has
                # started and imported the task modules.
                return _text(503, "starting: workers are not ready yet\n")
            stalled = self.pool.stalled_s(time.monotonic())
            if stalled > self.config.pool_stall_s:
                return _text(503, f"no free worker for {stalled:.1f} s\n")
            return _text(200, "ready\n")
        if path == "/metrics":
            return _response(200, self._metrics_text(), PROMETHEUS_TYPE)
        return _text(404, f"no such path: {path}; the offload endpoint is {PATH}\n")

    def _metrics_text(self) -> bytes:
        """The Prometheus text, sampled at most once per :data:`METRICS_CACHE_S`, from a
        sampler of its own: the one the controller's heartbeats read keeps its window
        (its rates are over the time since its previous sample)."""
        now = time.monotonic()
        cached = self._metrics_cache
        if cached is not None and now - cached[0] < METRICS_CACHE_S:
            return cached[1]
        if self._metrics_sampler is None:
            self._metrics_sampler = MetricsSampler()
        text = prometheus_text(self.node_id, self._sample(self._metrics_sampler))
        self._metrics_cache = (now, text)
        return text

    def _over_capacity(self, conn: ServerConnection) -> Response | None:
        """Refuse a connection beyond max_connections (HTTP 503) or beyond
        max_connections_per_address from its source (HTTP 429); both counts include it."""
        cfg = self.config
        if self._connections > cfg.max_connections:
            return _retry(503, f"too many connections (limit {cfg.max_connections})\n")
        per = self._per_address.get(_address(conn), 0)
        if per > cfg.max_connections_per_address:
            limit = cfg.max_connections_per_address
            return _retry(429, f"too many connections from your address (limit {limit})\n")
        return None

    def _connection_made(self, conn: ServerConnection) -> None:
        self._connections += 1
        address = _address(conn)
        self._per_address[address] = self._per_address.get(address, 0) + 1

    def _connection_lost(self, conn: ServerConnection) -> None:
        self._connections -= 1
        address = _address(conn)
        left = self._per_address.get(address, 1) - 1
        if left > 0:
            self._per_address[address] = left
        else:
            self._per_address.pop(address, None)

    # -- connections ------------------------------------------------------------------------

    def _session_of(self, ws: ServerConnection) -> _Session:
        """The session of a connection, made at its first message or its handler."""
        session: _Session | None = getattr(ws, "session", None)
        if session is None:
            session = _Session(self, ws, next(self._sids))
            ws.session = session  # type: ignore[attr-defined]
            self._sessions[session.sid] = session
        return session

    async def _handle(self, ws: ServerConnection) -> None:
        await self._session_of(ws).run()

    def _session_closed(self, session: _Session) -> None:
        self._sessions.pop(session.sid, None)
        dropped = self.admission.close(session.sid)
        if dropped:
            log.info(
                "client %s left with %d tasks pending; dropped",
                session.state.client_id,
                dropped,
                extra=session.ids(),
            )
            self._stop_unwanted()
        self._check_idle()

    # -- messages ---------------------------------------------------------------------------

    def _on_event(self, session: _Session, event: Any) -> None:
        if isinstance(event, SubmitBatch):
            self._on_submits(session, event.items)
        elif isinstance(event, Submit):
            self._on_submits(session, (event,))
        elif isinstance(event, Heartbeat):
            session.conn.send(self.admission.heartbeat(session.sid, event).message)
        elif isinstance(event, Cancel):
            for answer in self.admission.cancel(session.sid, event.ids):
                session.push(answer)
            self._stop_unwanted()
            self._check_idle()
        elif isinstance(event, Hello):
            self._carry_out(self.admission.hello(session.sid, event, time.time()))
        elif isinstance(event, BadItem):  # one bad submit of a batch: answer it alone
            session.push(self.admission.bad_item(session.sid, event))
        elif isinstance(event, RemoteProtocolError):
            log.info("client %s: %s", session.state.client_id or "?", event, extra=session.ids())

    def _on_submits(self, session: _Session, submits: Sequence[Submit]) -> None:
        """Carry out admission's decisions on one frame's submits, then hand queued work
        to free pool slots."""
        now = asyncio.get_running_loop().time()
        item_bytes = session.frame_bytes // len(submits)
        cacheable = self._cacheable
        if any(s.refs is not None or s.task in cacheable for s in submits):
            submits = self._through_cache(session, submits)
        for decision in self.admission.submit_all(session.sid, submits, now, item_bytes):
            if isinstance(decision, Error):
                session.push(decision)
            else:  # RunInline
                task_id, spec, args = decision
                ok, value, run_s = run_inline(spec, args)
                session.push(_answer(task_id, ok, value, run_s))
        for job in self.scheduler.take_pushed_out():  # made room for this client's share
            self._push(job, pushed_out_error(job, self.scheduler.retry_after_s()))
        if session.state.deferred and session.sid not in self._deferring:
            self._deferring.add(session.sid)
            self._held[session.sid] = deque()
            # Read no more of this connection until its backlog is run: the frames it
            # sends meanwhile wait in its socket (TCP pushes back on the sender).
            session.hold_reading("inline")
            asyncio.get_running_loop().call_soon(self._run_deferred, session)
        self._dispatch()

    def _through_cache(self, session: _Session, submits: Sequence[Submit]) -> list[Submit]:
        """The data-locality cache's pass over a frame's submits (node/cache.py):
        references replaced by the inputs they name, cached results answered at once,
        ``need_input`` for inputs the node lacks; what is left goes to admission. A
        submit reusing an id in flight, or of a task not offered, goes to admission
        untouched (which refuses it), so a cache answer is never a second one."""
        cache = self.cache
        cacheable = self._cacheable
        offered = self._offered
        in_flight = self.scheduler.in_flight
        sid = session.sid
        keys = session.result_keys
        keep: list[Submit] = []
        for submit in submits:
            task_id = submit.id
            if (
                (submit.refs is None and submit.task not in cacheable)
                or submit.task not in offered
                or task_id in keys
                or in_flight(sid, task_id)
            ):
                keep.append(submit)
                continue
            ready, answer, key = cache.prepare(submit, submit.task in cacheable)
            if answer is not None:
                session.push(answer)
            if ready is not None:
                if key is not None:
                    keys[task_id] = key
                keep.append(ready)
        return keep

    def _run_deferred(self, session: _Session) -> None:
        """Run this turn's share of a connection's deferred inline tasks (admission rule
        3), then, once they have run, one frame read meanwhile per turn; come back next
        turn while some are left, and read the connection again when none is."""
        sid = session.sid
        for task_id, spec, args in self.admission.take_inline(sid):
            ok, value, run_s = run_inline(spec, args)
            session.push(_answer(task_id, ok, value, run_s))
        held = self._held.get(sid)
        if sid in self._sessions and held is not None:
            if held and not session.state.deferred:
                self._replaying = True
                try:
                    session.receive(held.popleft())
                finally:
                    self._replaying = False
            if held or session.state.deferred:
                asyncio.get_running_loop().call_soon(self._run_deferred, session)
                return
        self._held.pop(sid, None)
        self._deferring.discard(sid)
        session.release_reading("inline")

    # -- the pool ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Hand chunks of queued work to free pool slots."""
        cfg = self.config
        now = asyncio.get_running_loop().time()
        while self._free_slots > 0:
            size = self.scheduler.chunk_size(self._free_slots, cfg.max_chunk, cfg.chunk_budget_s)
            if size == 0:
                break
            jobs, expired = self.scheduler.next_chunk(now, size, cfg.chunk_budget_s)
            for job in expired:
                self._push(job, expired_error(job))
            if jobs:
                self._free_slots -= 1
                task = asyncio.create_task(self._run_chunk(_Chunk(jobs)))
                self._chunks.add(task)
                task.add_done_callback(self._chunks.discard)
        self._check_idle()

    async def _run_chunk(self, chunk: _Chunk) -> None:
        jobs = chunk.jobs
        try:
            outcomes = await self.pool.run_chunk([(j.spec.name, j.args) for j in jobs], chunk)
        finally:
            self._free_slots += 1
        now = asyncio.get_running_loop().time()
        for i, (job, (ok, value, run_s)) in enumerate(zip(jobs, outcomes, strict=True)):
            if not ok and value[0] == STOPPED and chunk.stopped is not None:
                # Its worker was stopped: the task it stopped for is answered (unless it
                # was cancelled, answered already); the others of the chunk run again.
                index, ran_s, error = chunk.stopped
                if i != index:
                    self.scheduler.release(job)
                elif self.scheduler.finished(job, False, ran_s) and error is not None:
                    self._push(job, error)
                continue
            self.run_times.add(run_s)
            if self.scheduler.finished(job, ok, run_s):
                # Its time here not running: the queue, the wait behind the chunk's
                # earlier tasks, the hand-over to the worker and back.
                queue_s = max(0.0, now - job.enqueued_at - run_s)
                value = msgspec.Raw(value) if ok else value
                self._push(job, _answer(job.id, ok, value, run_s, queue_s))
        if not self.admission.closing or not self.scheduler.idle:
            self._dispatch()
        self._check_idle()

    def _check_idle(self) -> None:
        if self.scheduler.idle:
            self._idle.set()

    # -- stopping running work -------------------------------------------------------------

    async def _watch_running(self) -> None:
        """Check running tasks against their deadline and time limit, forever."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            self._stop_unwanted()

    def _stop_unwanted(self) -> None:
        """Stop each worker whose running task is cancelled, orphaned (its client left),
        past its deadline or past its time limit: the pool kills the worker and starts
        another; the chunk's other tasks are queued again (see _run_chunk)."""
        now = time.monotonic()
        for key, index, since in self.pool.running():
            chunk = cast(_Chunk, key)
            if index < 0 or chunk.stopped is not None or index >= len(chunk.jobs):
                continue
            job = chunk.jobs[index]
            ran_s = now - since
            error: Error | None = None
            if job.cancelled:
                if ran_s < MIN_RUN_BEFORE_STOP_S:
                    continue
                why = "cancelled, or its client left"
            elif job.deadline_at <= now:
                why = f"deadline passed while running; stopped after {ran_s:.2f} s"
                error = Error(job.id, ErrorCode.DEADLINE_EXCEEDED, why)
            else:
                limit = self.config.max_task_s
                if job.spec.timeout_s is not None:
                    limit = min(limit, job.spec.timeout_s)
                if ran_s <= limit:
                    continue
                why = f"ran past its time limit of {limit:g} s; stopped"
                error = Error(job.id, ErrorCode.DEADLINE_EXCEEDED, why)
            chunk.stopped = (index, ran_s, error)
            log.info(
                "task %s of client %s: %s",
                job.id,
                job.owner,
                why,
                extra={"task_id": job.id, "conn_id": job.owner},
            )
            self.pool.stop(chunk, why)

    def _push(self, job: Job, answer: Answer) -> None:
        """Answer a job on the connection it came from (its owner is that connection's
        id); a connection that closed has had its jobs dropped, so there is none to
        answer."""
        session = self._sessions.get(cast(int, job.owner))
        if session is not None:
            session.push(answer)


class _Chunk:
    """The jobs handed to one worker at once; names them to the pool. ``stopped``:
    (the index of the job its worker was stopped for, how long that job had run, its
    answer or None when it was answered already)."""

    __slots__ = ("jobs", "stopped")

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.stopped: tuple[int, float, Error | None] | None = None


def _address(conn: ServerConnection) -> str:
    peer = conn.transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def _retry(status: int, body: str) -> Response:
    response = _text(status, body)
    response.headers["Retry-After"] = "1"
    return response


def _answer(task_id: int, ok: bool, value: Any, run_s: float, queue_s: float = 0.0) -> Answer:
    if ok:
        return Result(task_id, value, run_s * 1000.0, queue_s * 1000.0)
    exc_type, message = value
    return Error(task_id, ErrorCode.TASK_FAILED, message, exc_type)


PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _text(status: int, body: str) -> Response:
    return _response(status, body.encode(), "text/plain; charset=utf-8")


def _response(status: int, body: bytes, content_type: str) -> Response:
    from http import HTTPStatus

    headers = Headers([("Content-Type", content_type), ("Connection", "close")])
    headers["Content-Length"] = str(len(body))
    return Response(status, HTTPStatus(status).phrase, headers, body)
