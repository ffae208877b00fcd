"""Deregistration in the membership state machine, on a virtual clock: a node that
says goodbye is ``left`` and stays so (never suspected); a silent one is still
suspected, then declared dead (issue 15)."""

from __future__ import annotations

from edgeoffload.controller.membership import Membership
from edgeoffload.protocol.control import EventKind, NodeState
from tests.unit.controller.test_membership import beat_for, events, hello, metrics


def test_a_node_that_leaves_is_left_and_never_suspected() -> None:
    m = Membership(heartbeat_interval_s=1.0, acceptable_pause_s=1.0)
    m.register(hello(), 0.0)
    t = beat_for(m, 10)
    changes = m.leave("n1", t, "stopped by SIGTERM")
    assert events(changes) == [EventKind.LEFT]
    assert changes[0].detail == "stopped by SIGTERM"
    seen = []
    for k in range(1, 600):
        seen += events(m.tick(t + k * 0.1))
    assert seen == []
    view = m.get("n1")
    assert view is not None and view.state is NodeState.LEFT and not view.accepting
    assert m.leave("n1", t + 60) == [] and m.leave("nope", t) == []


def test_a_silent_node_is_still_suspected_then_dead() -> None:
    m = Membership(heartbeat_interval_s=1.0, acceptable_pause_s=1.0)
    m.register(hello("n1"), 0.0)
    m.register(hello("n2"), 0.0)
    t = 0.0
    while t < 10:
        t += 1.0
        for node_id in ("n1", "n2"):
            m.beat(node_id, metrics(), t)
    m.leave("n1", t)  # both fall silent: n1 said goodbye, n2 crashed
    seen = []
    for k in range(1, 600):
        seen += [(c.node.node_id, c.event) for c in m.tick(t + k * 0.1)]
    assert seen == [("n2", EventKind.SUSPECT), ("n2", EventKind.DEAD)]


def test_a_node_that_left_and_comes_back_joins_again() -> None:
    m = Membership()
    m.register(hello(), 0.0)
    m.leave("n1", 5.0)
    assert events(m.register(hello(), 50.0)) == [EventKind.JOINED]
    view = m.get("n1")
    assert view is not None and view.state is NodeState.ALIVE


def test_a_restored_node_that_had_left_stays_left() -> None:
    m = Membership()
    m.register(hello(), 0.0)
    m.leave("n1", 1.0)
    again = Membership()
    again.restore(m.views(), 100.0)
    assert [again.tick(100.0 + k) for k in range(60)] == [[]] * 60


def test_a_client_older_than_the_left_state_is_sent_dead() -> None:
    import asyncio

    import msgspec

    from edgeoffload.controller.service import _fan_out, _Subscriber, as_dead
    from edgeoffload.protocol.control import NodeView, TableUpdate

    view = NodeView(node_id="n1", url="ws://n1", state=NodeState.LEFT)
    assert as_dead(view).state is NodeState.DEAD
    alive = NodeView(node_id="n2", url="ws://n2", state=NodeState.ALIVE)
    assert as_dead(alive) is alive

    async def fan() -> tuple[bytes, bytes]:
        new, old = _Subscriber(), _Subscriber(knows_left=False)
        _fan_out({new, old}, b"left-frame", b"dead-frame")
        return new.queue.get_nowait(), old.queue.get_nowait()

    assert asyncio.run(fan()) == (b"left-frame", b"dead-frame")
    # What an older client decodes: its NodeState had no "left".
    frame = msgspec.json.encode(TableUpdate(event=EventKind.DEAD, node=as_dead(view)))
    assert b'"left"' not in frame


def test_a_node_that_left_also_leaves_the_table_after_the_retention() -> None:
    """Gone on purpose is gone too: the table does not list it forever (events stay)."""
    m = Membership(dead_retention_s=60.0)
    m.register(hello("a"), 0.0)
    assert m.leave("a", 1.0)
    assert not [c for c in m.tick(30.0) if c.event is EventKind.REMOVED]
    changes = m.tick(61.5)
    assert [c.event for c in changes] == [EventKind.REMOVED]
    assert m.get("a") is None
