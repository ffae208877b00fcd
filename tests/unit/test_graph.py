"""Task graphs: building, validation and the run's ordering, against a fake client."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import edgeoffload.examples.tasks as ex
from edgeoffload import DeadlineExceeded, Graph, NoNodeAvailable, TaskFailed
from edgeoffload.client.graph import run_graph
from edgeoffload.client.ownership import Done, Where
from edgeoffload.errors import task_error
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.tasks import TaskSpec, spec_of
from tests.conftest import run


@dataclass(eq=False)
class Pending:
    """What the fake client keeps of a submitted task (the real one returns a handle)."""

    id: int
    task: str
    args: list[Any]
    priority: int
    deadline: float | None
    where: Where
    spec: TaskSpec
    on_done: Done


class FakeClient:
    """Runs each task locally one loop turn after it is submitted (at once for the
    tasks named in ``synchronous``), logging submissions, completions and cancellations."""

    def __init__(self, synchronous: tuple[str, ...] = (), delay_s: float = 0.0) -> None:
        self.synchronous = synchronous
        self.delay_s = delay_s
        self.log: list[tuple[str, str]] = []
        self.calls: list[tuple[str, list[Any], Where, int, float | None]] = []
        self.pending: dict[int, Pending] = {}
        self._ids = itertools.count(1)

    def submit_nowait(
        self,
        fn: Callable[..., Any] | str,
        args: list[Any],
        on_done: Done,
        *,
        priority: int = 0,
        deadline: float | None = None,
        where: Where = "auto",
    ) -> Pending:
        spec = spec_of(fn)
        assert spec is not None
        p = Pending(next(self._ids), spec.name, args, priority, deadline, where, spec, on_done)
        self.calls.append((spec.name, args, where, priority, deadline))
        self.log.append(("submit", spec.name))
        self.pending[p.id] = p
        if spec.name in self.synchronous:
            self._finish(p)
        else:
            asyncio.get_running_loop().call_later(self.delay_s, self._finish, p)
        return p

    def _finish(self, p: Pending) -> None:
        if self.pending.pop(p.id, None) is None:
            return
        assert p.spec is not None
        try:
            value = p.spec.fn(*p.args)
        except Exception as exc:
            self.log.append(("fail", p.task))
            p.on_done(None, task_error(ErrorCode.TASK_FAILED, p.id, str(exc), exc_type="E"))
            return
        self.log.append(("done", p.task))
        p.on_done(value, None)

    def cancel(self, task_id: int) -> bool:
        p = self.pending.pop(task_id, None)
        if p is None:
            return False
        self.log.append(("cancel", p.task))
        p.on_done(None, task_error(ErrorCode.CANCELLED, p.id, "cancelled"))
        return True


def diamond() -> tuple[Graph, Any, Any, Any, Any]:
    g = Graph()
    a = g.stage(ex.add, 1, 2)
    b = g.stage(ex.add, a, 10, name="b")
    c = g.stage(ex.add, a, 100, name="c")
    d = g.stage(ex.add, b, c, name="d")
    return g, a, b, c, d


# -- building -------------------------------------------------------------------------------


def test_stages_know_what_they_read_and_who_reads_them() -> None:
    g, a, b, c, d = diamond()
    assert len(g) == 4
    assert g.stages == (a, b, c, d)
    assert g.sinks == (d,)
    assert g.needs(d) == (b, c)
    assert g.dependants(a) == (b, c)
    assert g.needs(a) == ()
    assert (a.name, a.task) == ("add", "add")


def test_default_names_are_unique_and_explicit_ones_must_be() -> None:
    g = Graph()
    first = g.stage(ex.echo, 1)
    second = g.stage("echo", first)
    assert (first.name, second.name) == ("echo", "echo#1")
    with pytest.raises(ValueError, match="already named 'echo'"):
        g.stage(ex.echo, 1, name="echo")


def test_handles_inside_containers_and_after_are_dependencies() -> None:
    g = Graph()
    a = g.stage(ex.echo, 1)
    b = g.stage(ex.echo, 2)
    c = g.stage(ex.echo, {"xs": [a, (b, 3)]}, after=a)
    gate = g.stage(ex.echo, "go", after=[c])
    assert g.needs(c) == (a, b)
    assert g.needs(gate) == (c,)
    assert g.bind(c, {0: "A", 1: "B"}) == [{"xs": ["A", ("B", 3)]}]
    assert g.sinks == (gate,)


def test_invalid_stages_are_refused_when_built() -> None:
    g, other = Graph(), Graph()
    foreign = other.stage(ex.echo, 1)
    with pytest.raises(ValueError, match="stage of another graph"):
        g.stage(ex.echo, foreign)
    with pytest.raises(ValueError, match="stage of another graph"):
        g.stage(ex.echo, 1, after=foreign)
    with pytest.raises(ValueError, match="not a registered task"):
        g.stage(print, 1)
    with pytest.raises(ValueError, match="where must be"):
        g.stage(ex.echo, 1, where="cloud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes Stage handles"):
        g.stage(ex.echo, 1, after=["a"])  # type: ignore[list-item]
    assert len(g) == 0  # nothing was added by the refused calls


def test_an_empty_graph_is_refused_when_run() -> None:
    with pytest.raises(ValueError, match="no stage"):
        run(run_graph(FakeClient(), Graph()))


# -- running --------------------------------------------------------------------------------


def test_a_chain_runs_in_order_with_results_passed_on() -> None:
    g = Graph()
    a = g.stage(ex.add, 1, 2)
    b = g.stage(ex.add, a, 10, where="local", priority=3)
    c = g.stage(ex.add, b, 100, where="edge")
    client = FakeClient()
    assert run(run_graph(client, g)) == {c: 113}
    assert client.log == [
        ("submit", "add"),
        ("done", "add"),
        ("submit", "add"),
        ("done", "add"),
        ("submit", "add"),
        ("done", "add"),
    ]
    assert [(args, where, prio) for _, args, where, prio, _ in client.calls] == [
        ([1, 2], "auto", 0),
        ([3, 10], "local", 3),
        ([13, 100], "edge", 0),
    ]


def test_independent_stages_run_concurrently_in_a_diamond() -> None:
    g, _a, b, c, d = diamond()
    client = FakeClient()
    assert run(run_graph(client, g)) == {d: 13 + 103}
    # b and c are both submitted before either is done; d only after both
    assert [event for event, _ in client.log] == [
        "submit",
        "done",
        "submit",
        "submit",
        "done",
        "done",
        "submit",
        "done",
    ]
    assert client.calls[1][1] == [3, 10] and client.calls[2][1] == [3, 100]
    assert client.calls[3][1] == [13, 103]
    assert b not in g.sinks and c not in g.sinks


def test_every_sink_is_returned_and_synchronous_completions_work() -> None:
    g = Graph()
    a = g.stage(ex.add, 1, 1)
    b = g.stage(ex.echo, a)
    c = g.stage(ex.add, a, 2)
    d = g.stage(ex.echo, 7)
    client = FakeClient(synchronous=("add",))  # an inline local run ends inside submit
    assert run(run_graph(client, g)) == {b: 2, c: 4, d: 7}
    assert [name for name, *_ in client.calls] == ["add", "echo", "add", "echo"]
    assert not client.pending


def test_a_failing_stage_fails_the_graph_naming_it_and_stops_the_rest() -> None:
    g = Graph()
    a = g.stage(ex.echo, "boom")
    bad = g.stage(ex.fail, a, name="detect")
    g.stage(ex.echo, bad)  # depends on the failure: never submitted
    slow = g.stage(ex.sleep, 0.0)  # independent, still in flight: cancelled
    g.stage(ex.echo, slow)
    client = FakeClient()

    async def main() -> None:
        with pytest.raises(TaskFailed, match=r"stage 'detect' \(task 'fail'\): boom") as info:
            await run_graph(client, g)
        assert isinstance(info.value.__cause__, TaskFailed)

    # make `sleep` slow enough to be in flight when `fail` fails
    original = client._finish

    def finish(p: Pending) -> None:
        if p.task == "sleep":
            asyncio.get_running_loop().call_later(0.2, original, p)
        else:
            original(p)

    client._finish = finish  # type: ignore[method-assign]
    run(main())
    submitted = [name for name, *_ in client.calls]
    assert submitted == ["echo", "sleep", "fail"]
    assert ("cancel", "sleep") in client.log
    assert not client.pending


def test_the_deadline_covers_the_whole_graph() -> None:
    g = Graph()
    a = g.stage(ex.sleep, 0.05)
    b = g.stage(ex.sleep, 0.05, after=a)
    g.stage(ex.echo, 1, after=b, name="late")
    client = FakeClient()

    async def main() -> None:
        with pytest.raises(DeadlineExceeded, match=r"stage 'late'.*deadline passed"):
            await run_graph(client, g, deadline=0.08)

    run(main())
    deadlines = [deadline for *_, deadline in client.calls]
    assert len(deadlines) == 2  # 'late' was never submitted
    assert deadlines[0] is not None and deadlines[1] is not None
    assert deadlines[0] <= 0.08 and deadlines[1] < deadlines[0] - 0.04


def test_errors_other_than_task_errors_name_the_stage_too() -> None:
    class Refusing(FakeClient):
        def submit_nowait(self, fn: Any, args: list[Any], on_done: Done, **kw: Any) -> Pending:
            raise NoNodeAvailable("no node serves it")

    g = Graph()
    g.stage("echo", 1, where="edge")
    with pytest.raises(NoNodeAvailable, match=r"stage 'echo' \(task 'echo'\): no node"):
        run(run_graph(Refusing(), g))


def test_cancelling_the_caller_cancels_the_running_stages() -> None:
    g = Graph()
    a = g.stage(ex.sleep, 0.0)
    g.stage(ex.echo, a)
    client = FakeClient(delay_s=10.0)

    async def main() -> None:
        running = asyncio.create_task(run_graph(client, g))
        await asyncio.sleep(0.01)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    run(main())
    assert client.log == [("submit", "sleep"), ("cancel", "sleep")]
