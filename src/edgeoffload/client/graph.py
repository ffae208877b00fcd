"""Task graphs: small DAGs of registered tasks (partial offloading).

A :class:`Graph` is built stage by stage; each :meth:`Graph.stage` call returns a
:class:`Stage` handle that later stages take as an argument (its result is put in its
place when that stage runs) or wait for with ``after=``::

    g = Graph()
    frame = g.stage(decode_frame, raw, 160)
    crop = g.stage(detect_objects, frame)
    label = g.stage(classify_crop, crop)
    results = await client.submit_graph(g, deadline=0.5)   # {label: ...}: the sinks

A stage can only read stages made before it, so a graph cannot have a cycle. Running
one (:func:`run_graph`, behind ``Client.submit_graph`` / ``Client.run_graph``) submits
each stage through the client's normal path as soon as every stage it reads or waits
for has finished; independent stages run concurrently. With ``where="auto"`` the
decision engine decides each stage on its actual inputs (hints, input bytes), like any
task; exactly-once delivery and resubmission on node loss come from that path too.

In the real client a stage's output comes back to the device, which sends it on to the
next stage: there is no node-to-node transfer (in the simulator, ``sim/dag.py``, the
output stays on the node that produced it).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import DeadlineExceeded, NoNodeAvailable, TaskError, task_error
from ..tasks import spec_of
from .handle import TaskHandle
from .ownership import Done, Where

_graph_ids = itertools.count()


@dataclass(frozen=True, slots=True)
class Stage:
    """A handle on one stage of a graph: pass it as an argument to a later stage, or
    use it to look up that stage's result."""

    index: int
    name: str
    task: str
    graph_id: int = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a stage runs, and which earlier stages it needs (indices)."""

    fn: Callable[..., Any] | str
    args: tuple[Any, ...]
    needs: tuple[int, ...]
    priority: int
    where: Where


class Graph:
    """A DAG of task stages, valid by construction (module docstring)."""

    def __init__(self) -> None:
        self._id = next(_graph_ids)
        self._stages: list[Stage] = []
        self._specs: list[_Spec] = []
        self._dependants: list[list[int]] = []

    def stage(
        self,
        fn: Callable[..., Any] | str,
        *args: Any,
        after: Stage | Iterable[Stage] = (),
        priority: int = 0,
        where: Where = "auto",
        name: str | None = None,
    ) -> Stage:
        """Add a stage running task ``fn`` (an @task function or a task name).

        Args:
            args: the task's arguments; a :class:`Stage` handle, also inside a list,
                tuple or dict, is replaced by that stage's result.
            after: stages to wait for without reading their results.
            priority, where: as for ``Client.submit``.
            name: how errors and results name the stage (default: the task name, with
                ``#index`` when that name is taken).

        Raises:
            ValueError: ``fn`` is not registered, ``where`` is invalid, a handle belongs
                to another graph, or the name is taken.
        """
        spec = spec_of(fn)
        if spec is None and not isinstance(fn, str):
            raise ValueError(f"{fn!r} is not a registered task (decorate it with @task)")
        if where not in ("auto", "local", "edge"):
            raise ValueError(f"where must be 'auto', 'local' or 'edge', not {where!r}")
        task = spec.name if spec is not None else str(fn)
        taken = {s.name for s in self._stages}
        if name is None:
            name = task if task not in taken else f"{task}#{len(self._stages)}"
        elif name in taken:
            raise ValueError(f"a stage is already named {name!r}")
        waits = [after] if isinstance(after, Stage) else list(after)
        needs: list[int] = []
        for handle in [*_handles_in(args), *waits]:
            if not isinstance(handle, Stage):
                raise ValueError(f"after= takes Stage handles, not {handle!r}")
            self._check_handle(handle, name)
            if handle.index not in needs:
                needs.append(handle.index)
        index = len(self._stages)
        handle = Stage(index, name, task, self._id)
        self._stages.append(handle)
        self._specs.append(_Spec(fn, args, tuple(needs), priority, where))
        self._dependants.append([])
        for i in needs:
            self._dependants[i].append(index)
        return handle

    def _check_handle(self, handle: Stage, user: str) -> None:
        if handle.graph_id != self._id or handle.index >= len(self._stages):
            raise ValueError(f"stage {user!r}: {handle.name!r} is a stage of another graph")

    def __len__(self) -> int:
        return len(self._stages)

    @property
    def stages(self) -> tuple[Stage, ...]:
        """Every stage, in the order added (an order in which they can run)."""
        return tuple(self._stages)

    @property
    def sinks(self) -> tuple[Stage, ...]:
        """The stages no other stage reads or waits for: the graph's results."""
        return tuple(s for s in self._stages if not self._dependants[s.index])

    def needs(self, stage: Stage) -> tuple[Stage, ...]:
        """The stages ``stage`` reads or waits for."""
        self._check_handle(stage, stage.name)
        return tuple(self._stages[i] for i in self._specs[stage.index].needs)

    def dependants(self, stage: Stage) -> tuple[Stage, ...]:
        """The stages that read or wait for ``stage``."""
        self._check_handle(stage, stage.name)
        return tuple(self._stages[i] for i in self._dependants[stage.index])

    def bind(self, stage: Stage, results: dict[int, Any]) -> list[Any]:
        """The arguments of ``stage``, each handle replaced by ``results[index]``."""
        return [_substitute(a, results) for a in self._specs[stage.index].args]


class Submitter(Protocol):
    """The part of the client a graph run uses (``Client`` is one)."""

    def submit_nowait(
        self,
        fn: Callable[..., Any] | str,
        args: list[Any],
        on_done: Done,
        *,
        priority: int = 0,
        deadline: float | None = None,
        where: Where = "auto",
    ) -> TaskHandle: ...

    def cancel(self, task_id: int) -> bool: ...


async def run_graph(
    client: Submitter, graph: Graph, deadline: float | None = None
) -> dict[Stage, Any]:
    """Run every stage of ``graph`` through ``client``; return the sinks' results by handle.

    ``deadline`` (seconds from now) bounds the whole graph: each stage is submitted
    with the time left. On the first failure the stages still running are cancelled,
    those waiting are never submitted, and the error is raised with the stage named.

    Raises:
        ValueError: the graph is empty.
        TaskError, NoNodeAvailable, ...: a stage failed (the same type as
            ``Client.submit`` raises; the message starts with ``stage 'NAME'``).
    """
    if not len(graph):
        raise ValueError("the graph has no stage")
    run = _GraphRun(client, graph, deadline)
    run.start()
    try:
        return await run.done
    except asyncio.CancelledError:
        run.done.cancel()  # the stages cancelled next end quietly
        run.cancel_running()
        raise


class _GraphRun:
    """One execution of a graph: counts unfinished inputs, submits ready stages."""

    def __init__(self, client: Submitter, graph: Graph, deadline: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.client = client
        self.graph = graph
        self.deadline_at = None if deadline is None else self.loop.time() + deadline
        self.waiting = [len(graph.needs(s)) for s in graph.stages]
        self.readers = [len(graph.dependants(s)) for s in graph.stages]
        self.results: dict[int, Any] = {}
        self.running: dict[int, TaskHandle] = {}
        self.ended = [False] * len(graph)
        self.finished = 0
        self.done: asyncio.Future[dict[Stage, Any]] = self.loop.create_future()

    def start(self) -> None:
        roots = [s for s in self.graph.stages if not self.waiting[s.index]]
        for stage in roots:  # (a root ending at once submits its dependants itself)
            self._submit(stage)

    def _submit(self, stage: Stage) -> None:
        if self.done.done():
            return
        spec = self.graph._specs[stage.index]
        remaining = None
        if self.deadline_at is not None:
            remaining = self.deadline_at - self.loop.time()
            if remaining <= 0:
                self._fail(stage, DeadlineExceeded(None, "the graph's deadline passed first"))
                return
        args = self.graph.bind(stage, self.results)
        for i in spec.needs:  # drop results no stage still needs
            self.readers[i] -= 1
            if not self.readers[i]:
                self.results.pop(i, None)
        try:
            p = self.client.submit_nowait(
                spec.fn,
                args,
                lambda value, exc: self._ended(stage, value, exc),
                priority=spec.priority,
                deadline=remaining,
                where=spec.where,
            )
        except Exception as exc:  # e.g. the client is closed
            self._fail(stage, exc)
            return
        if not self.ended[stage.index] and not self.done.done():
            self.running[stage.index] = p  # unless it already ended (an inline local run)

    def _ended(self, stage: Stage, value: Any, exc: BaseException | None) -> None:
        self.ended[stage.index] = True
        self.running.pop(stage.index, None)
        if self.done.done():
            return
        if exc is not None:
            self._fail(stage, exc)
            return
        self.results[stage.index] = value
        self.finished += 1
        if self.finished == len(self.graph):
            self.done.set_result({s: self.results[s.index] for s in self.graph.sinks})
            return
        for i in self.graph._dependants[stage.index]:
            self.waiting[i] -= 1
            if not self.waiting[i]:
                self._submit(self.graph.stages[i])

    def _fail(self, stage: Stage, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(_in_stage(exc, stage))
        self.cancel_running()

    def cancel_running(self) -> None:
        running, self.running = self.running, {}
        for p in running.values():
            self.client.cancel(p.id)


def _in_stage(exc: BaseException, stage: Stage) -> BaseException:
    """The same error, its message naming the stage (the original as its cause)."""
    where = f"stage {stage.name!r} (task {stage.task!r}): "
    named: BaseException
    if isinstance(exc, TaskError):
        named = task_error(
            exc.code,
            exc.task_id,
            where + exc.message,
            exc_type=getattr(exc, "exc_type", None),
            retry_after_s=getattr(exc, "retry_after_s", None),
        )
    elif isinstance(exc, NoNodeAvailable):
        named = NoNodeAvailable(where + str(exc))
    else:
        exc.add_note(f"in {where[:-2]}")
        return exc
    named.__cause__ = exc
    return named


def _handles_in(value: Any) -> list[Stage]:
    """The Stage handles in an argument (also inside lists, tuples and dicts)."""
    if isinstance(value, Stage):
        return [value]
    if isinstance(value, list | tuple):
        return [h for v in value for h in _handles_in(v)]
    if isinstance(value, dict):
        return [h for v in value.values() for h in _handles_in(v)]
    return []


def _substitute(value: Any, results: dict[int, Any]) -> Any:
    if isinstance(value, Stage):
        return results[value.index]
    if isinstance(value, list | tuple):
        items = [_substitute(v, results) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    return value


__all__ = ["Graph", "Stage", "Submitter", "run_graph"]
