"""Hash-first inputs in the owner (the data-locality cache): exact instruction lists on
virtual time. A node with a cache gets a large argument's bytes once, then only its
digest; ``need_input`` sends the task again whole to the same node, without a new
placement, and the task is still delivered exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from edgeoffload.client.ownership import (
    ArmTimer,
    CancelTimer,
    Deliver,
    ErrorReceived,
    NodeDown,
    NodeDraining,
    NodeUp,
    Ownership,
    Resubmitting,
    ResultReceived,
    SendToNode,
    Submitted,
    Timer,
    TimerKind,
)
from edgeoffload.client.placement import LeastInFlight
from edgeoffload.errors import NodeError
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.content import large_inputs, value_digest
from edgeoffload.protocol.messages import Error, Result, Submit

ENCODE = Codec().encode_value
BIG = b"x" * 100  # above the threshold of 10 bytes used here
OTHER = b"y" * 100
D_BIG = value_digest(BIG, ENCODE)[0]
D_OTHER = value_digest(OTHER, ENCODE)[0]
SIZE = len(BIG)


def owner(threshold: int = 10) -> Ownership:
    return Ownership(
        LeastInFlight(),
        wait_for_node_s=10.0,
        input_refs=lambda args: large_inputs(args, threshold, ENCODE),
    )


def up(o: Ownership, node: str = "n1", cache_bytes: int = 1 << 20) -> None:
    event = NodeUp(node, frozenset({"t"}), cache_bytes=cache_bytes)
    assert o.handle(event, 0.0) == []


def submit(o: Ownership, args: list[Any], now: float = 0.0, **kw: Any) -> list[Any]:
    return o.handle(Submitted(o.next_id(), "t", args, where="edge", **kw), now)


def sent(node: str, task_id: int, args: list[Any], refs: Any, **kw: Any) -> SendToNode:
    hedge = kw.pop("hedge", False)
    return SendToNode(node, Submit(task_id, "t", args, refs=refs, **kw), hedge)


def done(task_id: int, value: Any, node: str = "n1", latency: float = 0.0) -> Deliver:
    return Deliver(task_id, value, None, node, 0.002, pytest.approx(latency))


def answer(o: Ownership, task_id: int, value: Any, now: float, node: str = "n1", **kw: Any) -> Any:
    return o.handle(ResultReceived(node, Result(task_id, value, 2.0, **kw)), now)


def need_input(o: Ownership, task_id: int, now: float, node: str = "n1") -> list[Any]:
    error = Error(task_id, ErrorCode.NEED_INPUT, "arguments 0 are not in this node's cache")
    return o.handle(ErrorReceived(node, error), now)


def test_the_bytes_go_once_then_only_the_digest() -> None:
    o = owner()
    up(o)
    assert submit(o, [BIG, 1]) == [sent("n1", 1, [BIG, 1], {0: D_BIG})]
    assert answer(o, 1, "a", 0.1) == [done(1, "a", latency=0.1)]
    assert submit(o, [BIG, 2], 0.2) == [sent("n1", 2, [None, 2], {0: D_BIG})]
    assert answer(o, 2, "b", 0.3) == [done(2, "b", latency=0.1)]
    s = o.statistics()
    assert (s.input_bytes_saved, s.inputs_hashed, s.inputs_held) == (SIZE, 2, 1)


def test_small_arguments_and_nodes_without_a_cache_get_everything_whole() -> None:
    o = owner()
    up(o, "n1", cache_bytes=0)
    assert submit(o, [b"tiny", 1]) == [sent("n1", 1, [b"tiny", 1], None)]
    assert submit(o, [BIG]) == [sent("n1", 2, [BIG], None)]
    assert submit(o, [BIG]) == [sent("n1", 3, [BIG], None)]
    plain = Ownership(LeastInFlight())  # input_ref_bytes 0: no hashing at all
    up(plain)
    assert submit(plain, [BIG]) == [SendToNode("n1", Submit(1, "t", [BIG]))]


def test_need_input_sends_the_task_again_whole_to_the_same_node_and_delivers_once() -> None:
    # The node lost the input (restarted with an empty cache, or evicted it): it
    # answers need_input, ran nothing; the owner sends the bytes, no new placement.
    o = owner()
    up(o)
    submit(o, [BIG], 0.0)
    answer(o, 1, "a", 0.1)
    assert submit(o, [BIG], 1.0, deadline_s=5.0) == [
        ArmTimer(Timer(TimerKind.DEADLINE, 2), 6.0),
        sent("n1", 2, [None], {0: D_BIG}, deadline_ms=5000.0),
    ]
    assert need_input(o, 2, 1.5) == [sent("n1", 2, [BIG], {0: D_BIG}, deadline_ms=4500.0)]
    t = o.get(2)
    assert t is not None and t.attempts == 1 and t.inline_inputs
    assert answer(o, 2, "v", 2.0) == [
        CancelTimer(Timer(TimerKind.DEADLINE, 2)),
        done(2, "v", latency=1.0),
    ]
    # A late duplicate of either answer finds nothing: exactly once.
    assert answer(o, 2, "v", 2.1) == []
    assert need_input(o, 2, 2.1) == []
    s = o.statistics()
    assert (s.inputs_resent, s.input_bytes_saved, s.duplicates_dropped) == (1, 0, 1)
    # Task 1 sent its bytes; task 2 was held, then sent again whole: 3 sends, none held.
    assert (s.inputs_hashed, s.inputs_held) == (3, 0)
    # The bytes went again: the next task refers to them.
    assert submit(o, [BIG], 3.0) == [sent("n1", 3, [None], {0: D_BIG})]


def test_a_second_need_input_for_a_task_sent_whole_fails_it() -> None:
    o = owner()
    up(o)
    submit(o, [BIG])
    answer(o, 1, "a", 0.1)
    submit(o, [BIG], 1.0)
    need_input(o, 2, 1.1)
    out = need_input(o, 2, 1.2)
    assert len(out) == 1 and isinstance(out[0], Deliver)
    assert isinstance(out[0].error, NodeError) and out[0].error.code is ErrorCode.NEED_INPUT


def test_need_input_from_a_node_now_draining_places_the_task_again() -> None:
    o = owner()
    up(o, "n1")
    up(o, "n2")
    submit(o, [BIG])  # n1 (least in flight, first)
    answer(o, 1, "a", 0.1)
    assert submit(o, [BIG], 1.0) == [sent("n1", 2, [None], {0: D_BIG})]
    assert o.handle(NodeDraining("n1"), 1.1) == []
    # n2 never got the bytes: they go whole (with their digest, for next time).
    assert need_input(o, 2, 1.2) == [sent("n2", 2, [BIG], {0: D_BIG}, attempt=1)]
    assert answer(o, 2, "v", 1.3, node="n2") == [done(2, "v", node="n2", latency=0.1)]


def test_the_owner_forgets_what_the_nodes_cache_cannot_hold() -> None:
    # Budget for one input: sending a second evicts the first, as the node's LRU does,
    # so the first goes whole again rather than costing a need_input round trip.
    o = owner()
    up(o, cache_bytes=SIZE + 10)
    submit(o, [BIG])
    submit(o, [OTHER])
    assert submit(o, [BIG]) == [sent("n1", 3, [BIG], {0: D_BIG})]
    assert submit(o, [BIG]) == [sent("n1", 4, [None], {0: D_BIG})]


def test_each_node_has_its_own_record_and_a_lost_node_gets_the_bytes_elsewhere() -> None:
    o = owner()
    up(o, "n1")
    submit(o, [BIG])
    answer(o, 1, "a", 0.1)
    up(o, "n2")
    submit(o, [BIG], 1.0)  # n2: fewer in flight? both 0: n1 first
    o.handle(NodeDown("n1", "closed"), 1.1)
    t = o.get(2)
    assert t is not None and t.node == "n2"
    out = submit(o, [OTHER], 1.2)
    assert out == [sent("n2", 3, [OTHER], {0: D_OTHER})]


def test_a_restart_keeps_the_record_and_need_input_repairs_it() -> None:
    # A reconnect is most often the same process (its cache is intact); a restarted
    # one answers need_input once per lost input.
    o = owner()
    up(o)
    submit(o, [BIG])
    answer(o, 1, "a", 0.1)
    assert o.handle(NodeDown("n1", "closed"), 0.2) == []
    up(o)
    assert submit(o, [BIG], 0.3) == [sent("n1", 2, [None], {0: D_BIG})]
    assert need_input(o, 2, 0.4) == [sent("n1", 2, [BIG], {0: D_BIG})]
    assert answer(o, 2, "b", 0.5) == [done(2, "b", latency=0.2)]


def test_a_cached_result_is_delivered_once_and_marked() -> None:
    o = owner()
    up(o)
    submit(o, [1])
    out = answer(o, 1, "v", 0.1, cached=True)
    assert out == [done(1, "v", latency=0.1)]
    assert out[0].record is not None and out[0].record.cached
    assert answer(o, 1, "v", 0.2, cached=True) == []


def test_a_node_lost_mid_resend_places_the_task_again_with_its_bytes() -> None:
    o = owner()
    up(o, "n1")
    up(o, "n2")
    submit(o, [BIG])
    answer(o, 1, "a", 0.1)
    submit(o, [BIG], 1.0)
    assert need_input(o, 2, 1.1) == [sent("n1", 2, [BIG], {0: D_BIG})]
    assert o.handle(NodeDown("n1", "closed"), 1.2) == [
        Resubmitting("n1", "closed", 1),
        sent("n2", 2, [BIG], {0: D_BIG}, attempt=1),
    ]
    assert answer(o, 2, "v", 1.3, node="n1") == []  # fenced: n1 is no longer its node
    assert answer(o, 2, "v", 1.4, node="n2") == [done(2, "v", node="n2", latency=0.2)]


@pytest.mark.parametrize("seed", range(20))
def test_every_task_is_delivered_exactly_once_whatever_the_cache_answers(seed: int) -> None:
    # Random interleavings of values (some cached), need_input, duplicates and
    # nodes lost and back: each task gets exactly one Deliver, and every send goes to a
    # node that is up at that moment.
    import random

    from edgeoffload.client.ownership import Closing

    rng = random.Random(seed)
    o = owner()
    up_nodes = {"n1", "n2"}
    for node in sorted(up_nodes):
        up(o, node)
    delivered: dict[int, int] = {}
    sends: list[SendToNode] = []
    answered: list[tuple[str, int]] = []
    now = 0.0

    def carry(out: list[Any]) -> None:
        for ins in out:
            if isinstance(ins, SendToNode):
                assert ins.node_id in up_nodes
                sends.append(ins)
            elif isinstance(ins, Deliver):
                delivered[ins.task_id] = delivered.get(ins.task_id, 0) + 1

    inputs = [BIG, OTHER, b"z" * 100]
    for _ in range(40):
        carry(submit(o, [rng.choice(inputs), rng.randrange(3)], now))
    for _ in range(300):
        now += 0.01
        roll = rng.random()
        if sends and roll < 0.45:
            s = sends.pop(rng.randrange(len(sends)))
            carry(answer(o, s.submit.id, "v", now, node=s.node_id, cached=rng.random() < 0.3))
            answered.append((s.node_id, s.submit.id))
        elif sends and roll < 0.7:
            s = sends.pop(rng.randrange(len(sends)))
            carry(need_input(o, s.submit.id, now, node=s.node_id))
        elif answered and roll < 0.8:
            node, task_id = rng.choice(answered)
            carry(answer(o, task_id, "late", now, node=node))
        elif roll < 0.9:
            node = rng.choice(["n1", "n2"])
            if node in up_nodes and len(up_nodes) > 1:
                up_nodes.discard(node)
                sends = [s for s in sends if s.node_id != node]
                carry(o.handle(NodeDown(node, "lost"), now))
            elif node not in up_nodes:
                up_nodes.add(node)
                carry(o.handle(NodeUp(node, frozenset({"t"}), cache_bytes=1 << 20), now))
        else:
            carry(submit(o, [rng.choice(inputs)], now))
    carry(o.handle(Closing(), now))
    assert len(o) == 0
    assert set(delivered.values()) == {1}
    assert sorted(delivered) == list(range(1, len(delivered) + 1))
