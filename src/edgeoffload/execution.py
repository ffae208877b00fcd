"""Running task functions: in this process, or in a pool of worker processes.

Both the node and the client's local execution use this module, so a task runs the
same way wherever the decision sends it.

The pool is fed a *chunk* of tasks per call, not one task per call: measured on this
machine, a process pool fed one task per call tops out near 2,500 tasks/s, fed a list
per call near 97,000. Worker processes encode each result to msgpack themselves, so a
value that cannot travel fails that task alone (``task_failed``), and the node's event
loop forwards the bytes without decoding or re-encoding them.

Workers start from a forkserver that has imported the task modules already, so a new
worker costs a fork, not an interpreter start; and no worker inherits the parent's
event loop, sockets or threads, as a plain fork would. The forkserver and the workers
die with their parent (:mod:`._die_with_parent`), so a node killed with SIGKILL leaves
no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from .protocol.codec import Codec
from .tasks import TaskSpec, load_modules

log = logging.getLogger("edgeoffload.execution")

#: (ok, value, run seconds). When ok is False, value is (exception type name, message).
Outcome = tuple[bool, Any, float]


def run_inline(spec: TaskSpec, args: list[Any]) -> Outcome:
    """Run a task in this process and time it; an exception becomes a failed outcome."""
    t0 = time.perf_counter()
    try:
        value = spec.fn(*args)
    except Exception as exc:
        return False, (type(exc).__name__, str(exc)), time.perf_counter() - t0
    return True, value, time.perf_counter() - t0


# -- worker process side ------------------------------------------------------------------

#: ``_die_with_parent.PARENT_ENV`` (not imported here: importing that module arms the
#: parent-death signal in the importing process).
POOL_PARENT_ENV = "EDGEOFFLOAD_POOL_PARENT"

#: The exception type name of the outcomes of a chunk whose worker was stopped
#: (:meth:`TaskPool.stop`): none of its tasks' results is known.
STOPPED = "WorkerStopped"

_TABLE: dict[str, TaskSpec] = {}
_CODEC: Codec | None = None


def _init_worker(modules: Sequence[str]) -> None:
    """Worker start: load the task table. Workers ignore SIGINT and SIGTERM: the node
    decides when they stop (after draining, or by killing one that runs too long)."""
    global _TABLE, _CODEC
    from ._die_with_parent import die_with_forkserver

    die_with_forkserver()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _TABLE = load_modules(modules)
    _CODEC = Codec()


def _run_chunk(items: list[tuple[str, list[Any]]], progress: Any = None) -> list[Outcome]:
    """Run a chunk in a worker; successful values come back msgpack-encoded.

    ``progress`` (shared memory, two doubles) tells the parent which item runs and
    since when, so that it can stop one task without a message per task.
    """
    assert _CODEC is not None
    encode = _CODEC.encode_value
    out: list[Outcome] = []
    for i, (name, args) in enumerate(items):
        if progress is not None:
            progress[1] = time.monotonic()
            progress[0] = i
        ok, value, run_s = run_inline(_TABLE[name], args)
        if ok:
            try:
                value = encode(value)
            except TypeError as exc:
                ok, value = False, ("TypeError", f"result cannot be sent: {exc}")
        out.append((ok, value, run_s))
    return out


def _worker_main(sock: socket.socket, progress: Any, modules: Sequence[str]) -> None:
    """A worker's life: say ready, then run each chunk received until told to stop (None)
    or its parent's end of the socket closes."""
    import pickle
    from multiprocessing.connection import Connection as Pipe

    _init_worker(modules)
    conn = Pipe(sock.detach())
    conn.send_bytes(b"")  # ready
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        items = pickle.loads(data)
        if items is None:
            return
        conn.send_bytes(pickle.dumps(_run_chunk(items, progress), pickle.HIGHEST_PROTOCOL))


# -- parent side ------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Call:
    """One chunk handed to the pool: its items, who asked, and its answer."""

    items: list[tuple[str, list[Any]]]
    key: Hashable
    future: asyncio.Future[list[Outcome]]
    sent_at: float = 0.0


@dataclass(eq=False, slots=True)
class _Worker:
    """One worker process and the parent's end of its socket."""

    proc: Any  # multiprocessing.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    progress: Any  # RawArray('d', 2): item index running, its start (monotonic)
    call: _Call | None = None
    task: asyncio.Task[None] | None = None


def _frame(data: bytes) -> bytes:
    """multiprocessing.connection's framing: a 4-byte length, or -1 and 8 bytes."""
    n = len(data)
    head = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)
    return head + data


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (n,) = struct.unpack("!i", await reader.readexactly(4))
    if n == -1:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    return await reader.readexactly(n)


class TaskPool:
    """A pool of worker processes that runs chunks of registered tasks, and can stop
    one worker (a task cancelled, past its deadline or its time limit) and replace it.

    Each worker is a process forked by a forkserver that imported the task modules
    already, connected to the parent by its own socket; a chunk goes to one idle
    worker (chunks wait in the pool's queue while every worker is busy). Why not
    ``concurrent.futures.ProcessPoolExecutor``: it cannot kill one worker; a task that
    never returns held its worker, and the node's capacity, forever.

    Starting the forkserver blocks (it imports the task modules before it forks), so it
    happens on a helper thread: the event loop keeps serving, and a chunk that arrives
    meanwhile waits for the workers instead of stalling it.

    Args:
        modules: task modules each worker imports (the same the node serves).
        workers: number of processes.
    """

    def __init__(self, modules: Sequence[str], workers: int) -> None:
        self.modules = list(modules)
        self.workers = workers
        self._ctx: Any = None
        self._queue: deque[_Call] = deque()
        self._idle: list[_Worker] = []
        self._busy: dict[Hashable, _Worker] = {}
        self._all: set[_Worker] = set()
        self._starting: asyncio.Future[None] | None = None
        self._closed = False
        self._started = False
        self._spawning = 0
        self._reaping: set[asyncio.Future[Any]] = set()
        #: Workers replaced (died or stopped).
        self.restarts = 0
        self._last_free = time.monotonic()

    # -- start-up ---------------------------------------------------------------------------

    def _context(self) -> Any:
        """The forkserver context, started (blocking: runs on a thread the first time)."""
        # multiprocessing is imported here, not at module import: it costs ~35 ms of a
        # node's start-up, and workers start in the background after the node listens.
        import multiprocessing

        if self._ctx is None:
            os.environ[POOL_PARENT_ENV] = str(os.getpid())  # read by the forkserver's preload
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(
                ["edgeoffload._die_with_parent", "edgeoffload.execution", *self.modules]
            )
            from multiprocessing import forkserver

            forkserver.ensure_running()
            self._ctx = ctx
        return self._ctx

    def _spawn_process(self) -> tuple[Any, socket.socket, Any]:
        """Fork one worker from the forkserver (blocking, a few milliseconds).

        The forkserver is one per process, shared by every pool in it, and dies with the
        thread that started it (``PR_SET_PDEATHSIG`` follows the parent *thread*): an
        event loop that ends joins its helper threads, and a pool of the next loop may
        meet a forkserver killed but not yet reaped, which then closes the connection
        (EOFError). Waiting for it to be gone and asking again starts a new one.
        """
        for attempt in range(5):
            try:
                return self._spawn_once()
            except (EOFError, ConnectionError):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _spawn_once(self) -> tuple[Any, socket.socket, Any]:
        ctx = self._context()
        parent, child = socket.socketpair()
        progress = ctx.RawArray("d", 2)
        proc = ctx.Process(target=_worker_main, args=(child, progress, self.modules), daemon=True)
        try:
            proc.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        return proc, parent, progress

    async def _spawn(self) -> None:
        """Start one worker and put it to work once it says it is ready."""
        self._spawning += 1
        try:
            proc, sock, progress = await asyncio.to_thread(self._spawn_process)
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
            try:
                await _read_frame(reader)  # ready
            except BaseException:
                writer.close()
                with contextlib.suppress(OSError, ValueError):
                    proc.kill()
                raise
        finally:
            self._spawning -= 1
        worker = _Worker(proc, reader, writer, progress)
        if self._closed:
            self._end(worker)
            return
        self._all.add(worker)
        self._idle.append(worker)
        self._feed()

    async def _ready(self) -> None:
        if self._started or self._closed:
            return
        if self._starting is None:

            async def start() -> None:
                await asyncio.gather(*(self._spawn() for _ in range(self.workers)))
                self._started = True

            self._starting = asyncio.ensure_future(start())
        starting = self._starting
        try:
            await asyncio.shield(starting)
        finally:
            if self._starting is starting and starting.done():
                self._starting = None

    async def warm(self) -> None:
        """Start every worker now rather than at the first task."""
        await self._ready()

    @property
    def started(self) -> bool:
        """Every worker has started and imported the task modules (what ``/readyz``
        waits for)."""
        return self._started

    # -- running ---------------------------------------------------------------------------

    async def run_chunk(
        self, items: list[tuple[str, list[Any]]], key: Hashable | None = None
    ) -> list[Outcome]:
        """Run a chunk on one worker. Values of successful outcomes are msgpack bytes
        (wrap them in :class:`msgspec.Raw` to embed them in a frame).

        Args:
            key: names the chunk for :meth:`running` and :meth:`stop` (unique among the
                chunks in flight).

        Never raises (but for cancellation): if the worker dies (a crash inside native
        code, ``os._exit``) or the pool cannot start, every task of the chunk fails with
        the reason, and the worker is replaced; if it is stopped (:meth:`stop`), every
        task fails with :data:`STOPPED` and the reason given.
        """
        try:
            await self._ready()
        except Exception as exc:  # pool start-up failure
            log.exception("process pool failed")
            return [(False, (type(exc).__name__, f"process pool failed: {exc}"), 0.0)] * len(items)
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(items, key if key is not None else object(), future))
        self._feed()
        return await future

    def _feed(self) -> None:
        """Hand queued chunks to idle workers."""
        # pickle here and below, not at module import: only a started pool needs it (it
        # is loaded with multiprocessing then), and a node's start-up CPU is its cold
        # start at 0.1 CPU, ten times over (docs/deployment.md).
        import pickle

        while self._queue and self._idle:
            call = self._queue.popleft()
            if call.future.done():  # its caller was cancelled
                continue
            worker = self._idle.pop()
            worker.call = call
            call.sent_at = time.monotonic()
            worker.progress[0] = -1.0
            worker.progress[1] = call.sent_at
            self._busy[call.key] = worker
            try:
                data = pickle.dumps(call.items, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                failed: Outcome = (False, (type(exc).__name__, str(exc)), 0.0)
                self._finish(worker, [failed] * len(call.items))
                continue
            worker.writer.write(_frame(data))
            worker.task = asyncio.ensure_future(self._answer(worker))
        if self._idle:
            self._last_free = time.monotonic()

    async def _answer(self, worker: _Worker) -> None:
        """Wait for the worker's outcomes (or its death) and hand them back."""
        import pickle

        call = worker.call
        assert call is not None
        try:
            outcomes = pickle.loads(await _read_frame(worker.reader))
        except (asyncio.IncompleteReadError, OSError, EOFError):
            reason = ("WorkerDied", "the worker process died while running this chunk")
            self._replace(worker, [(False, reason, 0.0)] * len(call.items))
            return
        self._finish(worker, outcomes)

    def _finish(self, worker: _Worker, outcomes: list[Outcome]) -> None:
        call = worker.call
        assert call is not None
        worker.call = None
        worker.task = None
        self._busy.pop(call.key, None)
        if not call.future.done():
            call.future.set_result(outcomes)
        if self._closed:
            self._end(worker)
            return
        self._idle.append(worker)
        self._feed()

    def running(self) -> list[tuple[Hashable, int, float]]:
        """Each chunk on a worker: (its key, the index of the item running or -1 before
        the first starts, since when (``time.monotonic()``))."""
        return [(k, int(w.progress[0]), float(w.progress[1])) for k, w in self._busy.items()]

    def stop(self, key: Hashable, reason: str) -> bool:
        """Kill the worker running chunk ``key`` and start another in its place; the
        chunk's :meth:`run_chunk` returns at once, every outcome failed with
        :data:`STOPPED` and ``reason``. False if no worker runs that chunk."""
        worker = self._busy.get(key)
        if worker is None or worker.call is None:
            return False
        self._replace(worker, [(False, (STOPPED, reason), 0.0)] * len(worker.call.items))
        return True

    def _replace(self, worker: _Worker, outcomes: list[Outcome]) -> None:
        """Answer the worker's chunk, end it, start its successor."""
        call = worker.call
        assert call is not None
        if worker.task is not None and worker.task is not asyncio.current_task():
            worker.task.cancel()
        worker.call = None
        self._busy.pop(call.key, None)
        self._all.discard(worker)
        self._end(worker)
        if not call.future.done():
            call.future.set_result(outcomes)
        if not self._closed:
            self.restarts += 1
            task = asyncio.ensure_future(self._spawn())
            self._reaping.add(task)
            task.add_done_callback(self._reaping.discard)
            task.add_done_callback(_log_failure)

    def _end(self, worker: _Worker) -> None:
        """Kill a worker and reap it off the event loop."""
        worker.writer.close()
        with contextlib.suppress(OSError, ValueError):
            worker.proc.kill()
        reap = asyncio.ensure_future(asyncio.to_thread(worker.proc.join, 5))
        self._reaping.add(reap)
        reap.add_done_callback(self._reaping.discard)

    # -- observation -----------------------------------------------------------------------

    @property
    def free(self) -> int:
        """Workers idle now."""
        return len(self._idle)

    def stalled_s(self, now: float) -> float:
        """How long no worker has been free (0 while one is idle, or none started yet):
        every worker pinned by long tasks, or lost, shows here."""
        if self._idle or not (self._all or self._spawning):
            return 0.0
        starts = [w.call.sent_at for w in self._all if w.call is not None]
        last = max([self._last_free, *starts])
        return max(0.0, now - last)

    # -- stop ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the workers (idle ones are told to exit, busy ones are killed: the node
        closes the pool once drained, so what still runs was abandoned), waiting for
        a start-up in progress to finish first (else workers would be forked against a
        pool that no longer exists)."""
        import pickle

        if self._starting is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._starting)
            self._starting = None
        self._closed = True
        await asyncio.gather(*self._reaping, return_exceptions=True)  # replacements
        workers = list(self._all)
        self._all.clear()
        self._idle.clear()
        for worker in workers:
            if worker.call is not None:  # work abandoned at a drain timeout: stop it now
                with contextlib.suppress(OSError, ValueError):
                    worker.proc.kill()
                continue
            with contextlib.suppress(Exception):
                worker.writer.write(_frame(pickle.dumps(None)))
                await worker.writer.drain()
        await asyncio.to_thread(_join_all, [w.proc for w in workers])
        for worker in workers:
            worker.writer.close()

    def shutdown(self, wait: bool = True) -> None:
        """Stop the workers now (queued chunks are dropped)."""
        self._closed = True
        workers = list(self._all)
        self._all.clear()
        self._idle.clear()
        self._queue.clear()
        for worker in workers:
            with contextlib.suppress(OSError, ValueError):
                worker.proc.kill()
            with contextlib.suppress(Exception):
                worker.writer.close()
        if wait:
            _join_all([w.proc for w in workers])


def _join_all(procs: list[Any], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("could not start a worker", exc_info=task.exception())


def raw(value: bytes) -> msgspec.Raw:
    """Embed already-encoded msgpack bytes in a message without re-encoding."""
    return msgspec.Raw(value)
