"""The connection state machine, driven by a fake wire (every frame is parsed by the peer)."""

from __future__ import annotations

import pytest

from edgeoffload.errors import LocalProtocolError, RemoteProtocolError
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.connection import (
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    TRANSITIONS,
    Connection,
    Role,
    State,
)
from edgeoffload.protocol.messages import (
    PROTOCOL_VERSION,
    Cancel,
    Draining,
    Error,
    Heartbeat,
    Hello,
    Message,
    Result,
    ResultBatch,
    Status,
    Submit,
    SubmitBatch,
    Welcome,
)


class Pair:
    """A client and a node Connection joined by a fake wire."""

    def __init__(self) -> None:
        self.client = Connection(Role.CLIENT)
        self.node = Connection(Role.NODE)

    def to_node(self) -> list[Message | RemoteProtocolError]:
        for frame in self.client.data_to_send():
            self.node.receive_data(frame)
        return self.node.events_received()

    def to_client(self) -> list[Message | RemoteProtocolError]:
        for frame in self.node.data_to_send():
            self.client.receive_data(frame)
        return self.client.events_received()

    def handshake(self) -> None:
        self.client.send(Hello(PROTOCOL_VERSION, "c1"))
        assert self.to_node() == [Hello(PROTOCOL_VERSION, "c1")]
        self.node.send(Welcome(PROTOCOL_VERSION, "n1", ["echo"], 1 << 20, 4096, 2))
        assert isinstance(self.to_client()[0], Welcome)
        assert self.client.state is self.node.state is State.OPEN


def test_handshake_then_submits_and_results_flow() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.send(SubmitBatch([Submit(1, "echo", [1]), Submit(2, "echo", [2], priority=5)]))
    (batch,) = pair.to_node()
    assert isinstance(batch, SubmitBatch) and [s.id for s in batch.items] == [1, 2]
    pair.node.send(ResultBatch([Result(1, 1), Error(2, ErrorCode.CANCELLED, "x")]))
    (answers,) = pair.to_client()
    assert answers == ResultBatch([Result(1, 1), Error(2, ErrorCode.CANCELLED, "x")])


def test_submit_before_hello_is_fatal() -> None:
    node = Connection(Role.NODE)
    client = Connection(Role.CLIENT)
    client.state = State.OPEN  # a broken client that skips its hello
    client.send(Submit(1, "echo", []))
    node.receive_data(client.data_to_send()[0])
    (event,) = node.events_received()
    assert isinstance(event, RemoteProtocolError) and event.code is ErrorCode.BAD_FRAME
    assert "Submit not allowed for a node in state await_hello" in event.message
    assert node.state is State.CLOSED and node.close_code == CLOSE_PROTOCOL_ERROR
    # and the client is told why
    (frame,) = node.data_to_send()
    assert node.codec.decode(frame) == Error(None, ErrorCode.BAD_FRAME, event.message)


def test_version_mismatch_is_refused_and_closes() -> None:
    node = Connection(Role.NODE)
    node.receive_data(node.codec.encode(Hello(PROTOCOL_VERSION + 1, "future")))
    (event,) = node.events_received()
    assert isinstance(event, RemoteProtocolError) and event.code is ErrorCode.VERSION_MISMATCH
    assert node.state is State.CLOSED
    assert node.codec.decode(node.data_to_send()[0]).code is ErrorCode.VERSION_MISMATCH  # type: ignore[union-attr]


def test_garbage_after_handshake_is_answered_and_the_connection_stays_open() -> None:
    pair = Pair()
    pair.handshake()
    pair.node.receive_data(b"\xc1\xc1garbage")
    (event,) = pair.node.events_received()
    assert isinstance(event, RemoteProtocolError) and event.code is ErrorCode.BAD_FRAME
    assert pair.node.state is State.OPEN
    pair.client.send(Submit(7, "echo", [7]))
    assert pair.to_node() == [Submit(7, "echo", [7])]


def test_oversized_frame_closes_with_1009() -> None:
    node = Connection(Role.NODE, max_frame_bytes=64)
    node.receive_data(b"\x00" * 65)
    (event,) = node.events_received()
    assert isinstance(event, RemoteProtocolError) and event.code is ErrorCode.TOO_LARGE
    assert node.close_code == CLOSE_TOO_BIG


def test_unauthorized_hello_is_rejected() -> None:
    pair = Pair()
    pair.client.send(Hello(PROTOCOL_VERSION, "c1", "bad-token"))
    pair.to_node()
    pair.node.reject(ErrorCode.UNAUTHORIZED, "token expired")
    assert pair.node.state is State.CLOSED
    (error,) = pair.to_client()
    assert error == Error(None, ErrorCode.UNAUTHORIZED, "token expired")
    assert pair.client.state is State.CLOSED


def test_draining_stops_client_submits_but_results_still_flow() -> None:
    pair = Pair()
    pair.handshake()
    pair.node.send(Draining("shutdown", 5.0))
    pair.to_client()
    assert pair.client.state is State.DRAINING and not pair.client.can_submit
    with pytest.raises(LocalProtocolError, match="cannot send Submit"):
        pair.client.send(Submit(1, "echo", []))
    pair.client.send(Cancel([1]))
    pair.client.send(Heartbeat(1, 0.0))
    assert len(pair.to_node()) == 2
    pair.node.send(Result(1, None))
    pair.node.send(Status(1, 0.0, 0, 0, 2, True))
    assert len(pair.to_client()) == 2


def test_client_closes_on_a_bad_frame_from_the_node() -> None:
    pair = Pair()
    pair.handshake()
    pair.client.receive_data(b"\xc1")
    (event,) = pair.client.events_received()
    assert isinstance(event, RemoteProtocolError)
    assert pair.client.state is State.CLOSED
    assert pair.client.data_to_send() == []  # a client does not answer a node's garbage


def test_sending_out_of_state_raises_local_protocol_error() -> None:
    with pytest.raises(
        LocalProtocolError, match="cannot send Result as a client in state connecting"
    ):
        Connection(Role.CLIENT).send(Result(1, 1))
    with pytest.raises(LocalProtocolError):
        Connection(Role.NODE).send(Welcome(PROTOCOL_VERSION, "n", [], 1, 1, 1))


def test_closed_connection_ignores_input() -> None:
    node = Connection(Role.NODE)
    node.close()
    node.receive_data(b"\xc1")
    assert node.events_received() == [] and node.data_to_send() == []


def test_every_state_is_reachable_in_the_table() -> None:
    targets = {state for state in TRANSITIONS.values()}
    sources = {key[1] for key in TRANSITIONS}
    assert targets | sources == set(State)


def test_a_batch_with_bad_items_keeps_its_valid_submits_and_names_each_bad_one() -> None:
    # Issue 12, 6: one invalid item (priority 5000) refused the whole batch, answered
    # Error(None, bad_frame): the sender lost every task of the frame without their ids.
    import msgspec

    from edgeoffload.errors import BadItem

    pair = Pair()
    pair.handshake()
    frame = msgspec.msgpack.encode(
        [4, [[3, 1, "echo", [1]], [3, 2, "echo", [2], 5000], [3, 3, "echo", [3]], [3, "x"], 7]]
    )
    pair.node.receive_data(frame)
    batch, *bad = pair.node.events_received()
    assert batch == SubmitBatch([Submit(1, "echo", [1]), Submit(3, "echo", [3])])
    assert [(type(e), e.task_id, e.code, e.message) for e in bad if isinstance(e, BadItem)] == [
        (BadItem, 2, ErrorCode.BAD_FRAME, "batch item 1: Expected `int` <= 1000 - at `$[4]`"),
        (
            BadItem,
            None,
            ErrorCode.BAD_FRAME,
            "batch item 3: Expected `array` of at least length 4, got 2",
        ),
        (BadItem, None, ErrorCode.BAD_FRAME, "batch item 4: Expected `array`, got `int`"),
    ]
    assert len(bad) == 3
    assert pair.node.data_to_send() == []  # the node answers them (see admission.bad_item)
    assert pair.node.state is State.OPEN
    # a frame that is not a batch of submits is still refused whole
    pair.node.receive_data(msgspec.msgpack.encode([8, ["not an id"]]))
    (event,) = pair.node.events_received()
    assert type(event) is RemoteProtocolError
    assert pair.node.codec.decode(pair.node.data_to_send()[0]).id is None  # type: ignore[union-attr]
