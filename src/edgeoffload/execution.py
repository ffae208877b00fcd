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
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .protocol.codec import Codec
from .tasks import TaskSpec, load_modules

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

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

_TABLE: dict[str, TaskSpec] = {}
_CODEC: Codec | None = None


def _init_worker(modules: Sequence[str]) -> None:
    """Worker start: load the task table. Workers ignore SIGINT and SIGTERM: the node
    decides when they stop (after draining), by shutting the pool down."""
    global _TABLE, _CODEC
    from ._die_with_parent import die_with_forkserver

    die_with_forkserver()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _TABLE = load_modules(modules)
    _CODEC = Codec()


def _run_chunk(items: list[tuple[str, list[Any]]]) -> list[Outcome]:
    """Run a chunk in a worker; successful values come back msgpack-encoded."""
    assert _CODEC is not None
    encode = _CODEC.encode_value
    out: list[Outcome] = []
    for name, args in items:
        ok, value, run_s = run_inline(_TABLE[name], args)
        if ok:
            try:
                value = encode(value)
            except TypeError as exc:
                ok, value = False, ("TypeError", f"result cannot be sent: {exc}")
        out.append((ok, value, run_s))
    return out


def _noop() -> int:
    return os.getpid()


# -- parent side ------------------------------------------------------------------------

_STARTER: ThreadPoolExecutor | None = None


def _starter() -> ThreadPoolExecutor:
    """The one thread that starts pools, alive as long as the process.

    The forkserver arms ``PR_SET_PDEATHSIG``, and Linux sends it when the *thread* that
    forked the process exits, not the process. Started from ``asyncio.to_thread``, the
    forkserver (and every worker with it) was killed when its event loop's default
    executor shut down, at the end of ``asyncio.run``: a pool used on a later loop failed
    every chunk, and the next pool in the process once with ``ConnectionRefusedError``.
    """
    global _STARTER
    if _STARTER is None:
        from concurrent.futures import ThreadPoolExecutor

        _STARTER = ThreadPoolExecutor(1, thread_name_prefix="edgeoffload-pool-start")
    return _STARTER


class TaskPool:
    """A process pool that runs chunks of registered tasks.

    Starting workers blocks (the forkserver must start and import the task modules
    before it forks), so it happens on a helper thread (:func:`_starter`, one per
    process, for the reason it gives): the event loop keeps serving,
    and a chunk that arrives meanwhile waits for the workers instead of stalling it.

    Args:
        modules: task modules each worker imports (the same the node serves).
        workers: number of processes.
    """

    def __init__(self, modules: Sequence[str], workers: int) -> None:
        self.modules = list(modules)
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._starting: asyncio.Future[ProcessPoolExecutor] | None = None
        self.restarts = 0

    def _start(self) -> ProcessPoolExecutor:
        """Create the executor and start every worker (blocking: runs on a thread)."""
        # multiprocessing is imported here, not at module import: it costs ~35 ms of a
        # node's start-up, and workers start in the background after the node listens.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        os.environ[POOL_PARENT_ENV] = str(os.getpid())  # read by the forkserver's preload
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(
            ["edgeoffload._die_with_parent", "edgeoffload.execution", *self.modules]
        )
        ex = ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self.modules,)
        )
        for f in [ex.submit(_noop) for _ in range(self.workers)]:
            f.result()
        return ex

    async def _ready(self) -> ProcessPoolExecutor:
        if self._executor is not None:
            return self._executor
        if self._starting is None:
            loop = asyncio.get_running_loop()
            self._starting = asyncio.ensure_future(loop.run_in_executor(_starter(), self._start))
        starting = self._starting
        try:
            ex = await asyncio.shield(starting)
        finally:
            if self._starting is starting and starting.done():
                self._starting = None
        self._executor = ex
        return ex

    async def warm(self) -> None:
        """Start every worker now rather than at the first task."""
        await self._ready()

    async def run_chunk(self, items: list[tuple[str, list[Any]]]) -> list[Outcome]:
        """Run a chunk on one worker. Values of successful outcomes are msgpack bytes
        (wrap them in :class:`msgspec.Raw` to embed them in a frame).

        Never raises (but for cancellation): if the worker dies (a crash inside native
        code, ``os._exit``) or the pool cannot start, every task of the chunk fails with
        the reason, and the pool is restarted for the next chunk.
        """
        from concurrent.futures.process import BrokenProcessPool

        loop = asyncio.get_running_loop()
        ex = None
        try:
            ex = await self._ready()
            return await loop.run_in_executor(ex, _run_chunk, items)
        except BrokenProcessPool:
            reason = ("WorkerDied", "the worker process died while running this chunk")
        except Exception as exc:  # pool start-up failure, pickling error, ...
            log.exception("process pool failed")
            reason = (type(exc).__name__, f"process pool failed: {exc}")
        if ex is not None and self._executor is ex:
            self._executor = None
            self.restarts += 1
            ex.shutdown(wait=False, cancel_futures=True)
        return [(False, reason, 0.0)] * len(items)

    async def close(self) -> None:
        """Stop the workers, waiting for a start-up in progress to finish first (else
        workers would be forked against a pool that no longer exists)."""
        if self._starting is not None:
            with contextlib.suppress(Exception):
                self._executor = await asyncio.shield(self._starting)
            self._starting = None
        await asyncio.to_thread(self.shutdown, True)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the workers now (queued chunks are cancelled)."""
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None


def raw(value: bytes) -> msgspec.Raw:
    """Embed already-encoded msgpack bytes in a message without re-encoding."""
    return msgspec.Raw(value)
