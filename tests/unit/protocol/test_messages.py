"""The data-plane messages: every type round-trips through the codec, and every bound
declared on a field is enforced when a frame is decoded (a peer cannot get around it)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from edgeoffload.errors import RemoteProtocolError
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import (
    MAX_ARGS,
    MAX_BATCH_ITEMS,
    MAX_NAME_CHARS,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Cancel,
    Draining,
    Error,
    Heartbeat,
    Hello,
    Message,
    Result,
    ResultBatch,
    Resume,
    Status,
    Submit,
    SubmitBatch,
    Welcome,
)

codec = Codec()

#: One instance of each message type, every field set away from its default.
SAMPLES: list[Message] = [
    Hello(PROTOCOL_VERSION, "client-1", token="tok", batch_results=False),
    Welcome(1, "n1", ["add", "mul"], 1 << 20, 64, 4, labels={"gpu": "a100"}, cache_bytes=1 << 20),
    Submit(
        5,
        "add",
        [1, 2.5, "x", None, [True]],
        priority=-3,
        deadline_ms=12.5,
        attempt=2,
        refs={3: bytes(range(32))},
    ),
    SubmitBatch([Submit(1, "a", []), Submit(2, "b", [b"\x00"], priority=1000)]),
    Result(9, {"k": [1, 2]}, run_ms=3.25, cached=True),
    Error(9, ErrorCode.OVERLOADED, "queue full", exc_type="X", retry_after_s=0.5),
    ResultBatch([Result(1, 1), Error(2, ErrorCode.TASK_FAILED, "boom", "ValueError")]),
    Cancel([1, 2, 2**63 - 1]),
    Heartbeat(3, 1234.5),
    Status(3, 1234.5, queued=7, running=2, workers=4, draining=True),
    Draining("shutdown", drain_timeout_s=30.0),
    Resume("admin"),
]


def frame(*fields: Any) -> bytes:
    """A frame built by hand, as a hostile or buggy peer could send it."""
    return msgspec.msgpack.encode(list(fields))


def refused(data: bytes) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(data)
    assert info.value.code is ErrorCode.BAD_FRAME
    return str(info.value)


def test_tags_are_one_to_twelve_in_declared_order() -> None:
    tags = [t.__struct_config__.tag for t in MESSAGE_TYPES]
    assert tags == list(range(1, 13))
    assert [type(m) for m in SAMPLES] == list(MESSAGE_TYPES)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_and_starts_with_its_tag(message: Message) -> None:
    data = codec.encode(message)
    assert msgspec.msgpack.decode(data)[0] == type(message).__struct_config__.tag
    assert codec.decode(data) == message


def test_the_submit_layout_is_positional_and_compact() -> None:
    # The array layout is the wire format: reordering fields breaks every peer.
    # The last element is ``refs`` (hash-first arguments; None: every one sent whole).
    plain = [3, 1, "t", [], 0, None, 0, None]
    assert msgspec.msgpack.decode(codec.encode(Submit(1, "t", []))) == plain
    assert len(codec.encode(Submit(1, "t", []))) == 10


def test_an_older_peer_ignores_the_cache_fields_and_a_newer_one_defaults_them() -> None:
    # Submit.refs, Result.cached and Welcome.cache_bytes are trailing and defaulted:
    # a frame without them decodes (refs None, cached False, cache_bytes 0).
    assert codec.decode(frame(5, 7, 1.5)) == Result(7, 1.5, 0.0, False)
    assert codec.decode(frame(3, 1, "t", [None], 0, None, 0, {0: b"d" * 32})).refs == {0: b"d" * 32}
    assert "Expected `bytes` of length >= 32" in refused(
        frame(3, 1, "t", [None], 0, None, 0, {0: b"short"})
    )
    assert "Expected `int` <= 63" in refused(frame(3, 1, "t", [None], 0, None, 0, {64: b"d" * 32}))


def test_trailing_defaults_may_be_left_out_by_the_sender() -> None:
    assert codec.decode(frame(3, 1, "t", [])) == Submit(1, "t", [])
    assert codec.decode(frame(1, 1, "c")) == Hello(1, "c", None, True)
    assert codec.decode(frame(11, "bye")) == Draining("bye", 0.0)


def test_messages_are_immutable() -> None:
    with pytest.raises(AttributeError):
        Submit(1, "t", []).id = 2  # type: ignore[misc]


def test_an_unknown_tag_or_a_missing_field_is_a_bad_frame() -> None:
    assert "Invalid value 99" in refused(frame(99, 1))
    assert "Expected `array` of at least length 4" in refused(frame(3, 1, "t"))
    assert "Expected `array`" in refused(msgspec.msgpack.encode({"t": 3}))
    refused(b"\xc1")  # never-used msgpack byte
    refused(b"")


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ((3, -1, "t", []), "$[1]"),  # id below zero
        ((3, 2**63, "t", []), "$[1]"),  # id beyond a signed 64-bit int
        ((3, 1, "", []), "$[2]"),  # empty task name
        ((3, 1, "x" * (MAX_NAME_CHARS + 1), []), "$[2]"),
        ((3, 1, "t", [0] * (MAX_ARGS + 1)), "$[3]"),
        ((3, 1, "t", [], 1001), "$[4]"),  # priority
        ((3, 1, "t", [], -1001), "$[4]"),
        ((3, 1, "t", [], 0, -0.5), "$[5]"),  # a negative budget
        ((3, 1, "t", [], 0, None, 1001), "$[6]"),  # attempt
        ((3, 1, "t", [], 0, None, -1), "$[6]"),
        ((1, 1, "c" * (MAX_NAME_CHARS + 1)), "$[2]"),  # client id
        ((4, []), "$[1]"),  # an empty batch
        ((7, []), "$[1]"),
        ((8, [-1]), "$[1][0]"),
        ((6, 1, "bad_args", 5), "$[3]"),  # message not a string
    ],
)
def test_bounds_are_enforced_at_decoding(fields: tuple[Any, ...], where: str) -> None:
    assert f"at `{where}`" in refused(frame(*fields))


def test_the_largest_allowed_values_pass() -> None:
    top = codec.decode(frame(3, 2**63 - 1, "x" * MAX_NAME_CHARS, [0] * MAX_ARGS, 1000, 0.0, 1000))
    assert isinstance(top, Submit)
    assert (top.id, top.priority, top.attempt, len(top.args)) == (2**63 - 1, 1000, 1000, 64)


def test_batches_are_bounded_at_max_batch_items() -> None:
    one = [3, 1, "t", []]
    full = codec.decode(frame(4, [one] * MAX_BATCH_ITEMS))
    assert isinstance(full, SubmitBatch) and len(full.items) == MAX_BATCH_ITEMS
    assert "length <= 4096" in refused(frame(4, [one] * (MAX_BATCH_ITEMS + 1)))
    assert "length <= 4096" in refused(frame(8, [1] * (MAX_BATCH_ITEMS + 1)))
    assert codec.decode(frame(8, [])) == Cancel([])  # cancelling nothing is allowed


def test_a_batch_holds_only_its_item_types() -> None:
    # A SubmitBatch carrying a Result, or a ResultBatch carrying a Submit, is refused.
    refused(frame(4, [[5, 1, None, 0.0]]))
    refused(frame(7, [[3, 1, "t", []]]))
    nested = codec.decode(frame(7, [[5, 1, "v", 0.0], [6, None, "internal", "m"]]))
    assert nested == ResultBatch([Result(1, "v"), Error(None, ErrorCode.INTERNAL, "m")])
