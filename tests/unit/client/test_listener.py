"""client.listener: what links and the controller's table report, turned into exactly
one owner event each (asserted as event lists), the link index kept, rows of unknown
nodes dialled, dead nodes fenced, and an everywhere-refused token recognised."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from edgeoffload.client import ownership as own
from edgeoffload.client.listener import LinkEvents
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.control import EventKind, NodeState, NodeView
from edgeoffload.protocol.messages import Error, Result, Submit


class FakeLink(SimpleNamespace):
    def fence(self, reason: str) -> None:
        self.fenced.append(reason)


def link(url: str = "ws://a/offload", node_id: str = "a", **kw: Any) -> Any:
    base: dict[str, Any] = dict(
        url=url, node_id=node_id, tasks=frozenset({"t"}), labels={"gpu": "x"}, workers=3,
        rtt_s=0.02, queued=4, running=2, connected=False, tried=True, unauthorized=False,
        view=None, fenced=[], cache_bytes=0,
    )  # fmt: skip
    return FakeLink(**{**base, **kw})


class Harness:
    def __init__(self, *links: Any) -> None:
        self.events: list[own.Event] = []
        self.by_node: dict[str, Any] = {}
        self.links = {lk.url: lk for lk in links}
        self.added: list[str] = []
        self.listener = LinkEvents(self.events.append, self.by_node, self.links, self.add)

    def add(self, url: str) -> Any:
        self.added.append(url)
        new = self.links[url] = link(url, node_id="?")
        return new


def test_link_up_indexes_the_link_by_node_and_says_what_it_serves() -> None:
    a = link()
    h = Harness(a)
    h.listener.link_up(a)
    assert h.by_node == {"a": a}
    assert h.events == [own.NodeUp("a", frozenset({"t"}), {"gpu": "x"}, 3, "ws://a/offload")]


def test_each_link_report_is_one_event() -> None:
    a = link()
    h = Harness(a)
    result = Result(1, "v")
    error = Error(2, ErrorCode.OVERLOADED, "full", retry_after_s=0.5)
    exc = ValueError("too big")
    h.listener.link_down(a, "closed 1006")
    h.listener.on_result(a, result)
    h.listener.on_results(a, [result, error])
    h.listener.on_error(a, error)
    h.listener.on_unsendable(a, Submit(7, "t", []), exc)
    h.listener.on_draining(a)
    h.listener.on_resumed(a)
    h.listener.on_status(a)
    assert h.events == [
        own.NodeDown("a", "closed 1006"),
        own.ResultReceived("a", result),
        own.ResultsReceived("a", [result, error]),
        own.ErrorReceived("a", error),
        own.Unsendable("a", 7, exc),
        own.NodeDraining("a"),
        own.NodeResumed("a"),
        own.NodeLoad("a", 0.02, 4, 2, 3),
    ]


def test_a_refusal_is_everywhere_only_when_every_link_was_tried_and_refused() -> None:
    a = link("ws://a", unauthorized=True)
    b = link("ws://b", unauthorized=True)
    h = Harness(a, b)
    h.listener.link_failed(a, "token refused", unauthorized=True)
    assert h.events[-1] == own.NodeUnreachable("ws://a", "token refused", True)
    b.tried = False  # b has not answered yet: waiting may still help
    h.listener.link_failed(a, "token refused", unauthorized=True)
    assert h.events[-1].everywhere is False  # type: ignore[attr-defined]
    b.tried, b.connected = True, True  # b is up
    h.listener.link_failed(a, "token refused", unauthorized=True)
    assert h.events[-1].everywhere is False  # type: ignore[attr-defined]
    h.listener.link_failed(a, "connection refused", unauthorized=False)
    assert h.events[-1] == own.NodeUnreachable("ws://a", "connection refused", False)


def view(url: str, state: NodeState = NodeState.ALIVE, **kw: Any) -> NodeView:
    return NodeView(node_id="n1", url=url, state=state, **kw)


def test_a_table_row_of_a_known_node_updates_its_link() -> None:
    a = link("ws://a")
    h = Harness(a)
    row = view("ws://a", draining=True, labels={"z": "1"}, speed_hz=2e9)
    h.listener.table_node(row, EventKind.DRAINED)
    assert a.view is row and h.added == []
    assert h.events == [own.NodeListed("n1", True, True, {"z": "1"}, 2e9, False)]


def test_a_table_row_of_an_unknown_node_dials_it() -> None:
    h = Harness()
    h.listener.table_node(view("ws://new"), EventKind.JOINED)
    assert h.added == ["ws://new"]
    assert h.links["ws://new"].view.url == "ws://new"
    assert h.events == [own.NodeListed("n1", True, False, {}, 0.0, False)]


@pytest.mark.parametrize(
    ("event", "back"),
    [
        (EventKind.RECOVERED, True),
        (EventKind.RESUMED, True),
        (EventKind.LOAD, False),
        (None, False),
    ],
)
def test_recovered_and_resumed_mean_the_node_can_take_work_again(
    event: EventKind | None, back: bool
) -> None:
    h = Harness(link("ws://a"))
    h.listener.table_node(view("ws://a"), event)
    assert h.events[0].back is back  # type: ignore[attr-defined]


def test_a_dead_node_is_fenced_and_an_unknown_dead_one_ignored() -> None:
    a = link("ws://a")
    h = Harness(a)
    h.listener.table_node(view("ws://a", NodeState.DEAD), EventKind.DEAD)
    assert a.fenced == ["declared dead by the controller"]
    assert h.events == [own.NodeListed("n1", False, False, {}, 0.0, False)]
    h.listener.table_node(view("ws://gone", NodeState.DEAD), EventKind.DEAD)
    assert h.added == [] and len(h.events) == 1  # nothing dialled, nothing fed


def test_a_suspect_node_is_listed_not_alive_and_not_fenced() -> None:
    a = link("ws://a")
    h = Harness(a)
    h.listener.table_node(view("ws://a", NodeState.SUSPECT), EventKind.SUSPECT)
    assert h.events == [own.NodeListed("n1", False, False, {}, 0.0, False)]
    assert a.fenced == []
