"""client.sync: the blocking facade: a loop on a daemon thread, each call run there and
waited for; blocking calls outside ``with`` refused; and the facade against a real node."""

from __future__ import annotations

import asyncio
import threading

import pytest

from edgeoffload.client.client import Client
from edgeoffload.client.graph import Graph
from edgeoffload.client.sync import LoopThread
from edgeoffload.errors import InvalidState, TaskFailed
from tests.conftest import NodeProcess


def client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "edgeoffload-client"]


def test_a_loop_thread_runs_coroutines_on_its_own_daemon_thread() -> None:
    lt = LoopThread()
    try:

        async def where() -> tuple[str, bool]:
            await asyncio.sleep(0)
            return threading.current_thread().name, asyncio.get_running_loop() is lt.loop

        assert lt.call(where()) == ("edgeoffload-client", True)
        assert all(t.daemon for t in client_threads())
    finally:
        lt.stop()
    assert lt.loop.is_closed()


def test_an_exception_in_the_coroutine_reaches_the_caller() -> None:
    lt = LoopThread()
    try:

        async def broken() -> None:
            raise LookupError("from the loop")

        with pytest.raises(LookupError, match="from the loop"):
            lt.call(broken())
        assert lt.call(asyncio.sleep(0, "still serving")) == "still serving"
    finally:
        lt.stop()


def test_stop_ends_the_thread() -> None:
    before = len(client_threads())
    lt = LoopThread()
    assert len(client_threads()) == before + 1
    lt.stop()
    assert len(client_threads()) == before


@pytest.mark.parametrize("call", ["run", "run_map", "run_graph"])
def test_blocking_calls_outside_with_are_refused(call: str) -> None:
    client = Client([])
    args = {"run": ("add", 1, 2), "run_map": ("add", [1], [2]), "run_graph": (Graph(),)}[call]
    with pytest.raises(InvalidState, match=r"use `with Client\(...\) as c:` for blocking calls"):
        getattr(client, call)(*args)


def test_the_facade_against_a_real_node(node: NodeProcess) -> None:
    before = len(client_threads())
    with Client([node.url]) as c:
        assert len(client_threads()) == before + 1
        assert c.run("add", 2, 3, where="edge") == 5
        assert c.run_map("add", [1, 2, 3], [10, 20, 30], where="edge") == [11, 22, 33]
        g = Graph()
        a = g.stage("add", 1, 2, where="edge")
        b = g.stage("add", a, 10, where="edge")
        assert c.run_graph(g) == {b: 13}  # the sinks only
        with pytest.raises(TaskFailed, match="no way"):
            c.run("fail", "no way", where="edge")
        assert c.statistics().completed_edge >= 6
    assert len(client_threads()) == before  # the loop thread is gone
    with pytest.raises(InvalidState):
        c.run("add", 1, 1)
