"""The blocking facade: ``with Client(urls) as c: c.run(...)`` for code without a loop.

The client's event loop then runs on a daemon thread; each blocking call submits a
coroutine to it and waits for its result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar

from ..errors import InvalidState
from .graph import Graph, Stage

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

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _AsyncClient(Protocol):
    """What the facade needs of its class: the async API it makes blocking."""

    _thread: LoopThread | None

    async def start(self, wait: bool = True) -> Any: ...
    async def close(self) -> None: ...
    async def submit(self, fn: Callable[..., Any] | str, /, *args: Any, **options: Any) -> Any: ...
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
        return _sync(self).call(self.submit(fn, *args, **options))

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


__all__ = ["BlockingFacade", "LoopThread"]
