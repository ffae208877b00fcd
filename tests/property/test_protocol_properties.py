"""Hypothesis: every message round-trips; arbitrary bytes yield only protocol errors."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgeoffload.errors import RemoteProtocolError
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.connection import Connection, Role, State
from edgeoffload.protocol.messages import (
    MAX_ARGS,
    MESSAGE_TYPES,
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

ids = st.integers(0, 2**63 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
u32 = st.integers(0, 2**32)
names = st.text(min_size=1, max_size=40)
floats = st.floats(allow_nan=False)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    floats,
    st.text(max_size=20),
    st.binary(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
submits = st.builds(
    Submit,
    ids,
    names,
    st.lists(values, max_size=MAX_ARGS // 8),
    st.integers(-1000, 1000),
    st.none() | st.floats(0, 1e9),
)
errors = st.builds(
    Error,
    st.none() | ids,
    st.sampled_from(list(ErrorCode)),
    st.text(max_size=40),
    st.none() | st.text(max_size=20),
    st.none() | st.floats(0, 1e6),
)
results = st.builds(Result, ids, values, st.floats(0, 1e6))

MESSAGES: dict[type, st.SearchStrategy[Any]] = {
    Hello: st.builds(Hello, i64, st.text(max_size=50), st.none() | st.text(max_size=50)),
    Welcome: st.builds(Welcome, i64, st.text(), st.lists(names), u32, u32, u32),
    Submit: submits,
    SubmitBatch: st.builds(SubmitBatch, st.lists(submits, min_size=1, max_size=5)),
    Result: results,
    Error: errors,
    ResultBatch: st.builds(ResultBatch, st.lists(results | errors, min_size=1, max_size=5)),
    Cancel: st.builds(Cancel, st.lists(ids, max_size=10)),
    Heartbeat: st.builds(Heartbeat, i64, floats),
    Status: st.builds(Status, i64, floats, u32, u32, u32, st.booleans()),
    Draining: st.builds(Draining, st.text(max_size=40), st.floats(0, 1e6)),
    Resume: st.builds(Resume, st.text(max_size=40)),
}


def test_every_message_type_has_a_strategy() -> None:
    assert set(MESSAGES) == set(MESSAGE_TYPES)


@given(st.one_of(*MESSAGES.values()))
@settings(max_examples=400)
def test_every_message_round_trips(message: Message) -> None:
    codec = Codec()
    assert codec.decode(codec.encode(message)) == message


@given(hnp.arrays(hnp.scalar_dtypes(), hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
@settings(max_examples=200)
def test_numpy_arrays_round_trip(arr: np.ndarray) -> None:
    codec = Codec()
    got = codec.decode(codec.encode(Result(1, arr))).value  # type: ignore[union-attr]
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


@given(st.binary(max_size=512))
@settings(max_examples=1000)
def test_arbitrary_bytes_give_a_message_or_a_protocol_error(data: bytes) -> None:
    error: RemoteProtocolError | None = None
    try:
        Codec().decode(data)
    except RemoteProtocolError as exc:
        error = exc
    assert error is None or error.code in (ErrorCode.BAD_FRAME, ErrorCode.TOO_LARGE)


@given(st.lists(st.binary(max_size=64), max_size=6))
@settings(max_examples=300)
def test_a_node_connection_never_raises_on_arbitrary_frames(frames: list[bytes]) -> None:
    conn = Connection(Role.NODE, max_frame_bytes=48)
    for frame in frames:
        conn.receive_data(frame)  # must not raise
        for event in conn.events_received():
            assert isinstance(event, RemoteProtocolError | Hello)
    if conn.state is State.CLOSED:
        assert conn.close_code is not None


@given(st.lists(st.one_of(*MESSAGES.values()), max_size=6))
@settings(max_examples=200)
def test_mutated_valid_frames_never_escape_as_other_exceptions(messages: list[Message]) -> None:
    codec = Codec()
    for message in messages:
        frame = bytearray(codec.encode(message))
        for i in range(0, len(frame), 3):
            frame[i] ^= 0x5A
        with contextlib.suppress(RemoteProtocolError):
            codec.decode(bytes(frame))
