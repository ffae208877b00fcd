"""The blocking facade: ``with Client(urls) as c: c.run(...)`` for code without a loop.

The client's event loop then runs on a daemon thread; each blocking call submits a
coroutine to it and waits for its result. ``c.submit(...)`` from any other thread returns
a :class:`BlockingTaskHandle`, a :class:`concurrent.futures.Future` (what an executor's
``submit`` returns), so ``concurrent.futures.wait`` and ``as_completed`` take it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar

from ..errors import InvalidState
from .graph import Graph, Stage
from .handle import TaskHandle, TaskInfo, task_info
from .ownership import TaskState

T = TypeVar("T")


class LoopThread:
    """An event loop on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="edgeoffload-client", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    @property
    def here(self) -> bool:
        """The caller runs on this loop's thread (where a blocking call would deadlock)."""
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class BlockingTaskHandle(concurrent.futures.Future[Any]):
    """One task, as a blocking caller sees it: a :class:`concurrent.futures.Future`.

    ``result(timeout)``, ``exception(timeout)``, ``done()``, ``add_done_callback()``
    are the standard library's (callbacks run on the client's loop thread, as an
    executor's run on its worker); :meth:`cancel` cancels the task on its node too.
    It follows a :class:`~.handle.TaskHandle` on the client's loop, whose record it
    reads (``id``, ``state``, ``node``, :meth:`info`).
    """

    def __init__(self, handle: TaskHandle, thread: LoopThread) -> None:
        super().__init__()
        self._handle = handle
        self._thread = thread
        handle.add_done_callback(self._follow)  # on the loop's thread: see blocking_submit

    @property
    def id(self) -> int:
        """The task's id, unique in this client (it names the task in every log line)."""
        return self._handle.id

    @property
    def task(self) -> str:
        return self._handle.task

    @property
    def state(self) -> TaskState:
        return self._handle.state

    @property
    def node(self) -> str | None:
        return self._handle.node

    @property
    def attempts(self) -> int:
        return self._handle.attempts

    def info(self) -> TaskInfo:
        """Where and how the task ran so far (:class:`~.handle.TaskInfo`)."""
        return task_info(self._handle._record)

    def cancel(self) -> bool:
        """Cancel the task (on its node too); False if it had ended. The future is
        cancelled when this returns, as the standard library's is."""
        if self.done():
            return False

        async def on_loop() -> bool:
            return self._handle.cancel()

        asked = self._handle.cancel() if self._thread.here else self._thread.call(on_loop())
        if asked:
            super().cancel()
        return asked

    def set_result(self, result: Any) -> None:
        raise InvalidState("a task's outcome comes only from its owner, the client")

    def set_exception(self, exception: BaseException | None) -> None:
        raise InvalidState("a task's outcome comes only from its owner, the client")

    def __repr__(self) -> str:
        return f"<BlockingTaskHandle {self._handle!r}>"

    def _follow(self, handle: asyncio.Future[Any]) -> None:
        """The loop's future ended: end this one the same way (unless a cancel from
        this side got there first)."""
        if self.done():
            return
        if handle.cancelled():
            super().cancel()
        elif (exc := handle.exception()) is not None:
            super().set_exception(exc)
        else:
            super().set_result(handle.result())


def blocking_submit(thread: LoopThread, make: Callable[[], TaskHandle]) -> BlockingTaskHandle:
    """Submit on the loop's thread (the owner is not thread-safe, by design: one loop
    owns it) and return the blocking twin of the handle made there."""
    if thread.here:
        return BlockingTaskHandle(make(), thread)

    async def on_loop() -> BlockingTaskHandle:
        return BlockingTaskHandle(make(), thread)

    return thread.call(on_loop())


class _AsyncClient(Protocol):
    """What the facade needs of its class: the async API it makes blocking."""

    _thread: LoopThread | None

    async def start(self, wait: bool = True) -> Any: ...
    async def close(self) -> None: ...
    def submit(self, fn: Callable[..., Any] | str, /, *args: Any, **options: Any) -> Any: ...
    async def map(
        self, fn: Callable[..., Any] | str, /, *iterables: Iterable[Any], **options: Any
    ) -> list[Any]: ...
    async def submit_graph(self, graph: Graph, /, **options: Any) -> dict[Stage, Any]: ...


class BlockingFacade:
    """Blocking twins of the async API, mixed into ``Client``."""

    _thread: LoopThread | None = None

    def __enter__(self: _AsyncClient) -> Any:
        self._thread = LoopThread()
        self._thread.call(self.start())
        return self

    def __exit__(self: _AsyncClient, *exc: object) -> None:
        if self._thread is not None:
            self._thread.call(self.close())
            self._thread.stop()
            self._thread = None

    def run(self: _AsyncClient, fn: Callable[..., Any] | str, *args: Any, **options: Any) -> Any:
        """Blocking :meth:`submit`, for code without an event loop (``with Client(...)``)."""
        _sync(self)
        return self.submit(fn, *args, **options).result()

    def run_map(
        self: _AsyncClient, fn: Callable[..., Any] | str, *iterables: Iterable[Any], **options: Any
    ) -> list[Any]:
        """Blocking :meth:`map`."""
        return _sync(self).call(self.map(fn, *iterables, **options))

    def run_graph(self: _AsyncClient, graph: Graph, **options: Any) -> dict[Stage, Any]:
        """Blocking :meth:`submit_graph`."""
        return _sync(self).call(self.submit_graph(graph, **options))


def _sync(client: _AsyncClient) -> LoopThread:
    if client._thread is None:
        raise InvalidState("use `with Client(...) as c:` for blocking calls")
    return client._thread


__all__ = ["BlockingFacade", "BlockingTaskHandle", "LoopThread", "blocking_submit"]
