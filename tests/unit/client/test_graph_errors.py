"""How a graph names the failing stage in each kind of error (client/graph.py
_in_stage), how handles are replaced inside containers (a tuple stays a tuple), a
client that refuses a submit, and that a stage's result is let go once every reader
has it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edgeoffload.client.graph import (
    Graph,
    Stage,
    _GraphRun,
    _in_stage,
    _substitute,
    run_graph,
)
from edgeoffload.errors import NoNodeAvailable, Overloaded, TaskFailed
from edgeoffload.protocol.codes import ErrorCode
from tests.conftest import run

STAGE = Stage(index=2, name="crop", task="detect", graph_id=0)


def test_a_task_error_keeps_its_type_and_fields_and_names_the_stage() -> None:
    original = TaskFailed(7, "boom", "ValueError")
    named = _in_stage(original, STAGE)
    assert isinstance(named, TaskFailed) and named is not original
    assert named.message == "stage 'crop' (task 'detect'): boom"
    assert (named.task_id, named.exc_type, named.code) == (7, "ValueError", ErrorCode.TASK_FAILED)
    assert named.__cause__ is original
    busy = _in_stage(Overloaded(3, "full", 0.5), STAGE)
    assert isinstance(busy, Overloaded) and busy.retry_after_s == 0.5


def test_no_node_and_other_errors_name_the_stage_too() -> None:
    named = _in_stage(NoNodeAvailable("no node connected"), STAGE)
    assert isinstance(named, NoNodeAvailable)
    assert str(named) == "stage 'crop' (task 'detect'): no node connected"
    other = RuntimeError("client closed")
    same = _in_stage(other, STAGE)
    assert same is other and same.__notes__ == ["in stage 'crop' (task 'detect')"]


def test_handles_are_replaced_inside_containers_of_their_own_type() -> None:
    a, b = Stage(0, "a", "t", 0), Stage(1, "b", "t", 0)
    results = {0: "A", 1: "B"}
    value = [a, (b, 1), {"k": [a]}, "plain"]
    assert _substitute(value, results) == ["A", ("B", 1), {"k": ["A"]}, "plain"]
    assert isinstance(_substitute((a,), results), tuple)


class Client:
    """A Submitter that ends each submit at once with fn's value, or refuses."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.submitted: list[tuple[Any, list[Any], int, str]] = []
        self.cancelled: list[int] = []
        self.run: Any = None

    def submit_nowait(self, fn: Any, args: list[Any], on_done: Any, **kw: Any) -> Any:
        if fn == self.refuse:
            raise RuntimeError("the client is closed")
        self.submitted.append((fn, args, kw["priority"], kw["where"]))
        asyncio.get_running_loop().call_soon(on_done, f"{fn}{args}", None)
        return type("Handle", (), {"id": len(self.submitted)})()

    def cancel(self, task_id: int) -> bool:
        self.cancelled.append(task_id)
        return True


def test_a_refused_submit_fails_the_graph_naming_the_stage() -> None:
    async def scenario() -> None:
        g = Graph()
        first = g.stage("echo", 1)
        g.stage("broken", first, name="second")
        client = Client(refuse="broken")
        with pytest.raises(RuntimeError, match="the client is closed") as err:
            await run_graph(client, g)  # type: ignore[arg-type]
        assert err.value.__notes__ == ["in stage 'second' (task 'broken')"]
        assert [fn for fn, *_ in client.submitted] == ["echo"]

    run(scenario(), timeout=10)


def test_priority_and_where_reach_the_client_and_results_flow_on() -> None:
    async def scenario() -> None:
        g = Graph()
        a = g.stage("load", 1, priority=4, where="local")
        b = g.stage("use", a, [a], where="edge")
        client = Client()
        results = await run_graph(client, g)  # type: ignore[arg-type]
        assert results == {b: "use['load[1]', ['load[1]']]"}
        assert [(fn, prio, where) for fn, _, prio, where in client.submitted] == [
            ("load", 4, "local"),
            ("use", 0, "edge"),
        ]

    run(scenario(), timeout=10)


def test_a_result_is_let_go_once_its_last_reader_was_submitted() -> None:
    async def scenario() -> None:
        g = Graph()
        a = g.stage("a", 1)
        b = g.stage("b", a)
        c = g.stage("c", a)
        g.stage("d", b, c)
        held: list[dict[int, Any]] = []
        client = Client()
        original = client.submit_nowait

        def spy(fn: Any, args: list[Any], on_done: Any, **kw: Any) -> Any:
            held.append(dict(state.results))  # what the run holds as fn is submitted
            return original(fn, args, on_done, **kw)

        client.submit_nowait = spy  # type: ignore[method-assign]
        state = _GraphRun(client, g, None)  # type: ignore[arg-type]
        state.start()
        await state.done
        # a's result is kept while c, its second reader, is still to be submitted, and
        # let go as c's arguments are bound; b's and c's once d's are.
        assert held == [{}, {0: "a[1]"}, {}, {}]
        assert [args for _, args, *_ in client.submitted] == [
            [1],
            ["a[1]"],
            ["a[1]"],
            ["b['a[1]']", "c['a[1]']"],
        ]
        assert list(state.results) == [3]  # only the sink's

    run(scenario(), timeout=10)
