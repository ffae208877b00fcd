"""``Client.map``: one task per tuple of items, at most ``window`` in flight, in order.

Kept apart from the client because it is a scheduling loop of its own, like
:mod:`.graph`: it only submits and collects. Its tasks go one by one, or, when the
client can own them as batch records, a frame's worth at a time, split so that every
node that can take them gets a batch (one placement per batch: a short map spread over
one batch would run on one node).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from .ownership import Done

#: Called once per batch with every task's value and error, in order.
BatchDone = Callable[[list[Any], list[BaseException | None]], None]


async def run_map(
    calls: Iterable[tuple[Any, ...]],
    window: int,
    submit: Callable[[list[Any], Done], None],
    submit_batch: Callable[[list[list[Any]], BatchDone], None] | None = None,
    batch_max: int = 1,
    nodes: Callable[[], int] = lambda: 1,
) -> list[Any]:
    """Submit each call's arguments, keep ``window`` in flight, return values in order.

    Args:
        submit: submits one task, its outcome to the callback.
        submit_batch: submits many as one batch record (None: never batch).
        batch_max: the most tasks a batch holds (a frame's worth).
        nodes: how many nodes can take the tasks now (batches per window, at least).

    Raises:
        the first task error, after every task has ended (none is left running).
    """
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pending = iter(calls)
    results: list[Any] = []
    first_error: list[BaseException] = []
    state = {"in_flight": 0, "exhausted": False}

    def launch() -> None:
        while state["in_flight"] < window:
            if submit_batch is not None and batch_max > 1:
                room = window - state["in_flight"]
                chunk = [list(c) for c in itertools.islice(pending, room)]
                if not chunk:
                    state["exhausted"] = True
                    break
                parts = max(nodes(), -(-len(chunk) // batch_max))
                size = -(-len(chunk) // parts)
                for i in range(0, len(chunk), size):
                    part = chunk[i : i + size]
                    start = len(results)
                    results.extend([None] * len(part))
                    state["in_flight"] += len(part)
                    submit_batch(part, functools.partial(batch_ended, start))
                continue
            call = next(pending, None)
            if call is None:
                state["exhausted"] = True
                break
            results.append(None)
            state["in_flight"] += 1
            submit(list(call), functools.partial(ended, len(results) - 1))
        if state["exhausted"] and state["in_flight"] == 0 and not finished.done():
            finished.set_result(None)

    def batch_ended(start: int, values: list[Any], errors: list[BaseException | None]) -> None:
        state["in_flight"] -= len(values)
        results[start : start + len(values)] = values
        if not first_error:
            error = next((e for e in errors if e is not None), None)
            if error is not None:
                first_error.append(error)
        launch()

    def ended(index: int, value: Any, exc: BaseException | None) -> None:
        state["in_flight"] -= 1
        if exc is None:
            results[index] = value
        elif not first_error:
            first_error.append(exc)
        launch()

    launch()
    await finished
    if first_error:
        raise first_error[0]
    return results


__all__ = ["BatchDone", "run_map"]
