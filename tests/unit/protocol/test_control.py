"""Control-plane messages: JSON round trips through the decoders each party uses, the
bounds that keep out-of-range values away from the membership and the store, and the
one rule they hold (a node accepts work when alive and not draining)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from edgeoffload.metrics import NodeMetrics
from edgeoffload.protocol.control import (
    ClientCounts,
    ClientReport,
    ClientToController,
    Command,
    ControllerToClient,
    EventKind,
    NodeBeat,
    NodeBye,
    NodeHello,
    NodeState,
    NodeToController,
    NodeView,
    TableSnapshot,
    TableUpdate,
)

from_node = msgspec.json.Decoder(NodeToController)
from_client = msgspec.json.Decoder(ClientToController)
to_client = msgspec.json.Decoder(ControllerToClient)
command = msgspec.json.Decoder(Command)


def sample() -> NodeMetrics:
    return NodeMetrics(
        cpu_percent=12.5,
        load_avg_1m=0.5,
        memory_available_bytes=2**33,
        swap_used_bytes=0,
        disk_free_bytes=2**40,
        disk_read_bytes_per_s=1.0,
        disk_write_bytes_per_s=2.0,
        net_recv_bytes_per_s=3.0,
        net_sent_bytes_per_s=4.0,
        queue_length=3,
        running_tasks=2,
        completed_per_s=10.0,
        failed_per_s=0.0,
        p95_task_ms=None,
        open_connections=1,
        process_rss_bytes=2**27,
    )


def view(**kw: Any) -> NodeView:
    return NodeView(**{"node_id": "n1", "url": "ws://h:1", "state": NodeState.ALIVE, **kw})


def test_node_messages_round_trip_with_their_type_tags() -> None:
    hello = NodeHello(
        node_id="h:1", url="ws://h:1", cores=4, speed_hz=2.5e9, labels={"a": "b"}, tasks=["t"]
    )
    beat = NodeBeat(node_id="h:1", seq=7, metrics=sample())
    bye = NodeBye(node_id="h:1", reason="stopped by SIGTERM")
    for message, tag in [(hello, "hello"), (beat, "beat"), (bye, "bye")]:
        data = msgspec.json.encode(message)
        assert msgspec.json.decode(data)["type"] == tag
        assert from_node.decode(data) == message


def test_client_and_controller_messages_round_trip() -> None:
    report = ClientReport(event=EventKind.RESUBMITTED, node_id="n1", count=3)
    counts = ClientCounts(local=5, edge=11)
    for message in (report, counts):
        assert from_client.decode(msgspec.json.encode(message)) == message
    snap = TableSnapshot(nodes=[view(), view(node_id="n2", state=NodeState.SUSPECT)], counts=True)
    update = TableUpdate(event=EventKind.DRAINED, node=view(draining=True, drain_reason="x"))
    for message in (snap, update):
        assert to_client.decode(msgspec.json.encode(message)) == message


def test_an_older_controller_snapshot_without_counts_defaults_to_false() -> None:
    old = b'{"type":"snapshot","nodes":[]}'
    assert to_client.decode(old) == TableSnapshot(nodes=[], counts=False)


def test_enum_values_on_the_wire() -> None:
    assert [s.value for s in NodeState] == ["alive", "suspect", "dead", "left"]
    assert EventKind.RESUBMITTED.value == "tasks_resubmitted"
    assert b'"event":"tasks_resubmitted"' in msgspec.json.encode(
        ClientReport(event=EventKind.RESUBMITTED, node_id="n", count=0)
    )


@pytest.mark.parametrize(
    ("state", "draining", "accepting"),
    [
        (NodeState.ALIVE, False, True),
        (NodeState.ALIVE, True, False),
        (NodeState.SUSPECT, False, False),
        (NodeState.DEAD, False, False),
    ],
)
def test_a_node_accepts_work_only_when_alive_and_not_draining(
    state: NodeState, draining: bool, accepting: bool
) -> None:
    assert view(state=state, draining=draining).accepting is accepting


def hello_json(**changes: Any) -> bytes:
    base: dict[str, Any] = {"type": "hello", "node_id": "h:1", "url": "ws://h:1", "cores": 1}
    base["speed_hz"] = 1e9
    return msgspec.json.encode({**base, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"node_id": ""}, "node_id"),
        ({"node_id": "has space"}, "node_id"),  # printable ASCII without spaces
        ({"node_id": "é"}, "node_id"),
        ({"url": ""}, "url"),
        ({"cores": 0}, "cores"),
        ({"cores": 65_537}, "cores"),
        ({"speed_hz": -1.0}, "speed_hz"),
        ({"speed_hz": 2e13}, "speed_hz"),
        ({"labels": {"k": "v" * 257}}, "labels"),
    ],
)
def test_a_hello_out_of_bounds_is_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        from_node.decode(hello_json(**changes))


def test_a_hello_at_its_bounds_passes() -> None:
    top = from_node.decode(hello_json(node_id="!" * 128, cores=65_536, speed_hz=1e13))
    assert isinstance(top, NodeHello)
    assert (len(top.node_id), top.cores, top.labels, top.tasks) == (128, 65_536, {}, [])


def test_a_beat_sequence_must_fit_64_bits() -> None:
    beat = msgspec.to_builtins(NodeBeat(node_id="n", seq=0, metrics=sample()))
    for seq in (-1, 2**63):
        with pytest.raises(msgspec.ValidationError, match="seq"):
            from_node.decode(msgspec.json.encode({**beat, "seq": seq}))


def test_commands_are_drain_or_resume_with_a_bounded_reason() -> None:
    assert command.decode(b'{"type":"command","action":"drain"}') == Command(action="drain")
    with pytest.raises(msgspec.ValidationError, match="action"):
        command.decode(b'{"type":"command","action":"reboot"}')
    ok = msgspec.json.encode(Command(action="resume", reason="r" * 1024))
    assert command.decode(ok).reason == "r" * 1024
    long = msgspec.json.encode({"type": "command", "action": "drain", "reason": "r" * 1025})
    with pytest.raises(msgspec.ValidationError, match="reason"):
        command.decode(long)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "report", "event": "joined", "node_id": "n", "count": -1},
        {"type": "report", "event": "joined", "node_id": "n", "count": 2**31},
        {"type": "report", "event": "exploded", "node_id": "n", "count": 1},
        {"type": "counts", "local": -1, "edge": 0},
        {"type": "counts", "local": 0, "edge": 2**63},
    ],
)
def test_client_messages_out_of_bounds_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        from_client.decode(msgspec.json.encode(message))


def test_each_party_refuses_the_other_directions_messages() -> None:
    # A client cannot pose as a node, nor a node send a client's report.
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'report'"):
        from_node.decode(
            msgspec.json.encode(ClientReport(event=EventKind.JOINED, node_id="n", count=1))
        )
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'hello'"):
        from_client.decode(hello_json())
