"""Running tasks on the client itself: inline, in a local process pool, or on its one thread."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..execution import TaskPool, run_inline
from ..protocol.codec import Codec
from ..tasks import TaskSpec

#: Called once per run with (ok, value or (exc_type, message), run seconds).
RunDone = Callable[[bool, Any, float], None]


class LocalRunner:
    """Runs tasks here for the client.

    An inline task runs at once, on the loop (it takes microseconds). Another runs in
    the local process pool when ``workers > 0`` and its module can be imported by a
    worker (not ``__main__``), else on the runner's one thread, one run at a time in
    the order started: what the decision engine's backlog (one slot without workers)
    and the simulator assume, and what a device's one core does best with a burst (in
    order, the first runs end in time; on a thread pool they share the CPU and all end
    late together). The pool and the thread are made on first use; the pool is made
    again to add a task module it lacks.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: TaskPool | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._running: set[asyncio.Future[Any]] = set()

    def start(self, spec: TaskSpec, args: list[Any], done: RunDone) -> None:
        """Run the task (its arguments already checked); ``done`` is called once,
        possibly before this returns (an inline task), never after :meth:`close`."""
        if spec.inline:
            done(*run_inline(spec, args))
            return
        fut = asyncio.ensure_future(self._run(spec, args))
        self._running.add(fut)
        fut.add_done_callback(self._running.discard)
        fut.add_done_callback(functools.partial(_finished, done))

    async def _run(self, spec: TaskSpec, args: list[Any]) -> tuple[bool, Any, float]:
        if self.workers > 0 and spec.module != "__main__":
            pool = self._pool
            if pool is None or spec.module not in pool.modules:
                modules = [*(pool.modules if pool else []), spec.module]
                if pool is not None:
                    pool.shutdown(wait=False)
                pool = self._pool = TaskPool(modules, self.workers)
            ((ok, value, run_s),) = await pool.run_chunk([(spec.name, args)])
            return ok, (_value_codec().decode_value(value) if ok else value), run_s
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="edgeoffload-local")
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, run_inline, spec, args
        )

    def close(self) -> None:
        """Cancel the runs still going (their results are not wanted) and stop the pool."""
        for fut in list(self._running):
            fut.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None


def _finished(done: RunDone, fut: asyncio.Future[tuple[bool, Any, float]]) -> None:
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None:
        done(False, (type(exc).__name__, str(exc)), 0.0)
    else:
        done(*fut.result())


@functools.cache
def _value_codec() -> Codec:
    return Codec()


__all__ = ["LocalRunner"]
