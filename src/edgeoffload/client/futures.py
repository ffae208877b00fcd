"""Waiting on many tasks: ``wait``, ``as_completed`` and ``gather``, for both kinds of handle.

``Client.submit`` returns a :class:`~.handle.TaskHandle` (an asyncio future) in a coroutine
and a :class:`~.sync.BlockingTaskHandle` (a ``concurrent.futures.Future``) from a blocking
client. Each is already taken by its own standard library (``asyncio.wait``,
``concurrent.futures.wait``...); these functions give both one spelling, as Dask's
``distributed.wait`` and ``as_completed`` do, and follow the semantics where asyncio,
``concurrent.futures``, Dask and Ray agree:

- ``wait(fs, timeout=None, return_when=ALL_COMPLETED)`` returns ``(done, not_done)``
  sets; a timeout is not an error (it returns what is done); nothing is cancelled.
  Awaited for task handles, called for blocking ones.
- ``as_completed(fs, timeout=None)`` yields each future as it ends (``async for`` over
  task handles, ``for`` over blocking ones); past the timeout it raises ``TimeoutError``.
- ``gather(fs)`` gives the values in order and raises the first error (Dask's
  ``client.gather``, asyncio's ``gather``), or returns errors in their place with
  ``return_exceptions=True``.

The kind is read from the futures, not guessed from the thread; mixing kinds, or
passing something else, is a ``TypeError`` naming both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from typing import Any, overload

from .handle import TaskHandle
from .sync import BlockingTaskHandle

FIRST_COMPLETED = concurrent.futures.FIRST_COMPLETED
FIRST_EXCEPTION = concurrent.futures.FIRST_EXCEPTION
ALL_COMPLETED = concurrent.futures.ALL_COMPLETED
_RETURN_WHEN = (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED)

#: What the blocking ``wait`` returns (the standard library's named pair).
DoneAndNotDone = concurrent.futures._base.DoneAndNotDoneFutures


def _kind(fs: list[Any], what: str) -> type | None:
    """TaskHandle, BlockingTaskHandle, or None for no futures at all."""
    kinds = {type(f) for f in fs}
    if kinds <= {TaskHandle}:
        return TaskHandle if fs else None
    if kinds <= {BlockingTaskHandle}:
        return BlockingTaskHandle
    names = ", ".join(sorted(k.__name__ for k in kinds))
    raise TypeError(
        f"{what} takes the TaskHandles of a client (async) or its BlockingTaskHandles "
        f"(blocking), all of one kind; got {names}"
    )


def _check(timeout: float | None, return_when: str = ALL_COMPLETED) -> None:
    if return_when not in _RETURN_WHEN:
        raise ValueError(
            f"return_when must be one of {', '.join(_RETURN_WHEN)}, not {return_when!r}"
        )
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds or None, not {timeout!r}")


@overload
def wait(
    fs: Iterable[BlockingTaskHandle],
    timeout: float | None = None,
    return_when: str = ALL_COMPLETED,
) -> DoneAndNotDone: ...


@overload
def wait(
    fs: Iterable[TaskHandle],
    timeout: float | None = None,
    return_when: str = ALL_COMPLETED,
) -> Awaitable[tuple[set[TaskHandle], set[TaskHandle]]]: ...


def wait(fs: Iterable[Any], timeout: float | None = None, return_when: str = ALL_COMPLETED) -> Any:
    """Wait until the futures are done (``return_when``: the first done, the first
    failed, or all), at most ``timeout`` seconds; return ``(done, not_done)``.

    Awaited for :class:`~.handle.TaskHandle` s (``await wait(fs)``), called for
    :class:`~.sync.BlockingTaskHandle` s; an empty list gives two empty sets either way.

    Raises:
        ValueError: an unknown ``return_when`` or a negative timeout.
        TypeError: something other than one kind of handle.
    """
    futures = list(fs)
    _check(timeout, return_when)
    kind = _kind(futures, "wait")
    if kind is BlockingTaskHandle:
        return concurrent.futures.wait(futures, timeout, return_when)
    return _wait_async(futures, timeout, return_when)


async def _wait_async(
    fs: list[TaskHandle], timeout_s: float | None, return_when: str
) -> tuple[set[TaskHandle], set[TaskHandle]]:
    if not fs:  # asyncio refuses an empty set; the other libraries return two
        return set(), set()
    return await asyncio.wait(fs, timeout=timeout_s, return_when=return_when)


@overload
def as_completed(
    fs: Iterable[BlockingTaskHandle], timeout: float | None = None
) -> Iterator[BlockingTaskHandle]: ...


@overload
def as_completed(
    fs: Iterable[TaskHandle], timeout: float | None = None
) -> AsyncIterator[TaskHandle]: ...


def as_completed(fs: Iterable[Any], timeout: float | None = None) -> Any:
    """Each future as it ends: ``async for f in as_completed(handles)``, or ``for`` over
    blocking handles. Unlike ``asyncio.as_completed`` (before 3.13) it yields the
    futures themselves, so ``f.id`` and ``f.info()`` say which task ended.

    Raises:
        TimeoutError: while iterating, once ``timeout`` seconds have passed with
            futures not done (the message says how many); they go on running.
        TypeError: something other than one kind of handle.
    """
    futures = list(dict.fromkeys(fs))  # each once, in the order given
    _check(timeout)
    if _kind(futures, "as_completed") is BlockingTaskHandle:
        return concurrent.futures.as_completed(futures, timeout)
    return _as_completed_async(futures, timeout)


async def _as_completed_async(
    fs: list[TaskHandle], timeout_s: float | None
) -> AsyncIterator[TaskHandle]:
    loop = asyncio.get_running_loop()
    end = None if timeout_s is None else loop.time() + timeout_s
    pending = set(fs)
    while pending:
        left = None if end is None else max(0.0, end - loop.time())
        done, pending = await asyncio.wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        if not done:
            raise TimeoutError(f"{len(pending)} of {len(fs)} futures not done within {timeout_s} s")
        for f in fs:  # those done together, in the order given
            if f in done:
                yield f


@overload
def gather(fs: Iterable[BlockingTaskHandle], return_exceptions: bool = False) -> list[Any]: ...


@overload
def gather(fs: Iterable[TaskHandle], return_exceptions: bool = False) -> Awaitable[list[Any]]: ...


def gather(fs: Iterable[Any], return_exceptions: bool = False) -> Any:
    """The futures' values in order: awaited for task handles, called for blocking
    ones. The first error is raised (the others go on running), or with
    ``return_exceptions`` each error takes its future's place."""
    futures = list(fs)
    if _kind(futures, "gather") is BlockingTaskHandle:
        values: list[Any] = []
        for f in futures:
            if not return_exceptions:
                values.append(f.result())
                continue
            try:
                values.append(f.result())
            except (Exception, concurrent.futures.CancelledError) as exc:
                values.append(exc)
        return values
    return _gather_async(futures, return_exceptions)


async def _gather_async(fs: list[TaskHandle], return_exceptions: bool) -> list[Any]:
    return list(await asyncio.gather(*fs, return_exceptions=return_exceptions))


__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "as_completed",
    "gather",
    "wait",
]
