from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.errors import FrameTooLarge, RemoteProtocolError
from edgeoffload.protocol.codec import NDARRAY_EXT, Codec
from edgeoffload.protocol.codes import ErrorCode
from edgeoffload.protocol.messages import Result, Submit, SubmitBatch


def test_numpy_arrays_round_trip_with_dtype_and_shape() -> None:
    codec = Codec()
    arrays = [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.zeros((0, 5), dtype=np.int64),
        np.array(3.5),
        np.frombuffer(b"abcdef", dtype=np.uint8).reshape(2, 3),
        np.arange(6, dtype=">i4").reshape(3, 2),  # big-endian stays big-endian
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),  # sent in C order
    ]
    message = codec.decode(codec.encode(Submit(1, "t", list(arrays))))
    assert isinstance(message, Submit)
    for sent, got in zip(arrays, message.args, strict=True):
        assert got.dtype == sent.dtype
        assert got.shape == sent.shape
        np.testing.assert_array_equal(got, sent)


def test_decoded_array_is_a_read_only_view_of_the_frame() -> None:
    codec = Codec()
    frame = codec.encode(Result(1, np.ones(1000, dtype=np.float64)))
    value = codec.decode(frame).value  # type: ignore[union-attr]
    assert not value.flags.writeable
    assert value.base is not None  # no copy was made


def test_numpy_scalars_become_plain_values() -> None:
    codec = Codec()
    message = codec.decode(codec.encode(Result(1, [np.int64(3), np.float32(0.5), np.bool_(True)])))
    assert message.value == [3, 0.5, True]  # type: ignore[union-attr]


def test_object_arrays_and_unknown_types_are_refused_on_encode() -> None:
    codec = Codec()
    with pytest.raises(TypeError, match="object"):
        codec.encode(Result(1, np.array([object()])))
    with pytest.raises(TypeError, match="cannot send a value of type"):
        codec.encode(Result(1, object()))


def test_oversized_frames_are_refused_both_ways() -> None:
    codec = Codec(max_frame_bytes=100)
    with pytest.raises(FrameTooLarge) as info:
        codec.encode(Result(1, b"x" * 200))
    assert info.value.limit == 100 and info.value.size > 100
    with pytest.raises(RemoteProtocolError) as err:
        codec.decode(b"\x00" * 101)
    assert err.value.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    "payload",
    [
        b"\x01\x03<f4\x01",  # shape truncated
        b"\x01\x03<f4\x01" + (2).to_bytes(8, "little") + b"\x00" * 4,  # 2 floats need 8 bytes
        b"\x01\x02|O\x00",  # object dtype
        b"\x01\x03zzz\x00",  # not a dtype
        b"",
    ],
)
def test_malformed_array_extensions_are_bad_frames(payload: bytes) -> None:
    import msgspec

    frame = msgspec.msgpack.encode([5, 1, msgspec.msgpack.Ext(NDARRAY_EXT, payload[1:]), 0.0])
    with pytest.raises(RemoteProtocolError) as err:
        Codec().decode(frame)
    assert err.value.code is ErrorCode.BAD_FRAME


def test_unknown_extension_type_is_a_bad_frame() -> None:
    import msgspec

    frame = msgspec.msgpack.encode([5, 1, msgspec.msgpack.Ext(7, b"x"), 0.0])
    with pytest.raises(RemoteProtocolError, match="extension type 7"):
        Codec().decode(frame)


def test_batch_limits_are_validated_on_decode() -> None:
    import msgspec

    codec = Codec()
    empty = msgspec.msgpack.encode([4, []])
    with pytest.raises(RemoteProtocolError, match="length"):
        codec.decode(empty)
    big = codec._encoder.encode(SubmitBatch([Submit(i, "t", []) for i in range(5000)]))
    with pytest.raises(RemoteProtocolError, match="length"):
        codec.decode(big)


def test_a_result_from_a_node_without_queue_ms_decodes_with_zero() -> None:
    import msgspec

    codec = Codec()
    older = msgspec.msgpack.encode([5, 7, "v", 1.5])  # tag, id, value, run_ms
    assert codec.decode(older) == Result(7, "v", 1.5, 0.0)
    assert codec.decode(codec.encode(Result(7, "v", 1.5, 2.5))) == Result(7, "v", 1.5, 2.5)
