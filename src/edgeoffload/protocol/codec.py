"""msgpack encoding of protocol messages and of task values, with numpy arrays.

Task arguments and results are plain msgpack values (None, bool, int, float, str,
bytes, lists, maps) plus numpy arrays, which travel as msgpack extension type
:data:`NDARRAY_EXT` holding ``[dtype str, shape, raw bytes]`` described below. No
pickle, no eval, no import by name: a frame can only ever decode into data.

Numpy is imported only when an array is actually met, so a node whose tasks never
see one does not pay numpy's import time at start-up (118 ms measured here).
"""

from __future__ import annotations

import struct
from typing import Annotated, Any

import msgspec

from ..errors import BadItem, FrameTooLarge, RemoteProtocolError
from .codes import ErrorCode
from .messages import MAX_BATCH_ITEMS, Message, Submit, SubmitBatch

#: What a batch frame's items decode to when the whole frame did not: one Raw per item.
_RawBatch = tuple[
    int, Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1, max_length=MAX_BATCH_ITEMS)]
]
_SUBMIT_BATCH_TAG = 4
_MAX_ID = 2**63 - 1
#: What decoding hostile input can raise (msgspec, the ext hook, deep nesting).
_DECODE_ERRORS = (
    msgspec.DecodeError,
    msgspec.ValidationError,
    ValueError,
    TypeError,
    OverflowError,
    RecursionError,
    MemoryError,
)

#: Extension type code of a numpy array. Layout of the extension payload:
#: ``u8 len(dtype) | dtype.str (ascii, e.g. "<f4") | u8 ndim | ndim x u64 shape | data``,
#: data in C order. Decoding wraps the received buffer without copying (the array is
#: read-only; copy it to modify). Encoding copies once (msgspec needs one buffer).
NDARRAY_EXT = 1

#: Default cap on one frame: 16 MiB fits a few uncompressed 1080p camera frames, and
#: bounds what one peer can make a node buffer (websockets' own default is 1 MiB).
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

_U64 = struct.Struct("<Q")
_ALLOWED_KINDS = frozenset("biufcmMSU?")  # plain data only: no object (pickle) or structured dtypes


def _enc_hook(obj: Any) -> Any:
    """Turn numpy arrays and scalars into msgpack; refuse everything else by name."""
    module = type(obj).__module__
    if module == "numpy":
        import numpy as np

        if isinstance(obj, np.ndarray):
            return _encode_ndarray(obj)
        if isinstance(obj, np.generic):
            return obj.item()
    if isinstance(obj, tuple | set | frozenset):  # pragma: no cover - msgspec encodes these
        return list(obj)
    raise TypeError(
        f"cannot send a value of type {type(obj).__qualname__} "
        "(msgpack values and numpy arrays only)"
    )


def _encode_ndarray(arr: Any) -> msgspec.msgpack.Ext:

    if arr.dtype.kind not in _ALLOWED_KINDS or arr.dtype.hasobject:
        raise TypeError(f"cannot send a numpy array of dtype {arr.dtype} (no object arrays)")
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        arr = arr.copy(order="C")
    dtype = arr.dtype.str.encode("ascii")
    header = (
        bytes([len(dtype)]) + dtype + bytes([arr.ndim]) + b"".join(_U64.pack(n) for n in arr.shape)
    )
    return msgspec.msgpack.Ext(NDARRAY_EXT, header + arr.tobytes())


def _ext_hook(code: int, data: memoryview) -> Any:
    """Rebuild a numpy array from its extension payload, validating every length."""
    if code != NDARRAY_EXT:
        raise ValueError(f"unknown msgpack extension type {code}")
    import numpy as np

    try:
        n = data[0]
        dtype = np.dtype(bytes(data[1 : 1 + n]).decode("ascii"))
        ndim = data[1 + n]
        pos = 2 + n
        shape = tuple(_U64.unpack_from(data, pos + 8 * i)[0] for i in range(ndim))
        pos += 8 * ndim
    except (IndexError, TypeError, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise ValueError(f"malformed ndarray extension: {exc}") from None
    if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject:
        raise ValueError(f"ndarray dtype {dtype} is not allowed")
    count = 1
    for dim in shape:
        count *= dim
    if count * dtype.itemsize != len(data) - pos:
        raise ValueError(
            f"ndarray of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} bytes, "
            f"got {len(data) - pos}"
        )
    return np.frombuffer(data, dtype=dtype, offset=pos, count=count).reshape(shape)


class Codec:
    """Encode and decode frames and values, enforcing the frame size limit.

    Args:
        max_frame_bytes: frames longer than this are refused with ``too_large``, both
            when encoding (nothing is sent) and when decoding (nothing is parsed).
    """

    __slots__ = (
        "_batch_decoder",
        "_decoder",
        "_encoder",
        "_submit_decoder",
        "_value_decoder",
        "max_frame_bytes",
    )

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
        self._decoder = msgspec.msgpack.Decoder(Message, ext_hook=_ext_hook)
        self._value_decoder = msgspec.msgpack.Decoder(ext_hook=_ext_hook)
        self._batch_decoder = msgspec.msgpack.Decoder(_RawBatch)
        self._submit_decoder = msgspec.msgpack.Decoder(Submit, ext_hook=_ext_hook)

    def encode(self, message: Message) -> bytes:
        """Encode one message.

        Raises:
            FrameTooLarge: the frame exceeds ``max_frame_bytes``.
            TypeError: a value in it is not a msgpack value or numpy array.
        """
        try:
            data = self._encoder.encode(message)
        except OverflowError as exc:  # an int beyond msgpack's 64 bits
            raise TypeError(str(exc)) from None
        if len(data) > self.max_frame_bytes:
            raise FrameTooLarge(len(data), self.max_frame_bytes)
        return data

    def decode(self, data: bytes | memoryview) -> Message:
        """Decode one frame into a message.

        Raises:
            RemoteProtocolError: with code ``too_large`` or ``bad_frame``; never anything else.
        """
        if len(data) > self.max_frame_bytes:
            raise RemoteProtocolError(
                ErrorCode.TOO_LARGE,
                f"frame of {len(data)} bytes exceeds the limit of {self.max_frame_bytes}",
            )
        try:
            message: Message = self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise RemoteProtocolError(ErrorCode.BAD_FRAME, str(exc)) from None
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
            # Raised from the ext hook or by msgspec on hostile input (deep nesting).
            raise RemoteProtocolError(ErrorCode.BAD_FRAME, f"{type(exc).__name__}: {exc}") from None
        return message

    def salvage_batch(self, data: bytes | memoryview) -> tuple[SubmitBatch | None, list[BadItem]]:
        """Split a frame that failed :meth:`decode` into its valid submits and its bad
        items, when it is a batch of submits whose items can be told apart.

        Only called after :meth:`decode` refused the frame (the fast path decodes a
        batch in one pass; this one decodes item by item). One bad item then costs its
        sender that item, answered under its own id, not the whole frame.

        Returns:
            (a batch of the valid submits, or None if none is; one :class:`BadItem` per
            bad item, with its id when one can be read). An empty list of bad items
            with no batch means the frame is not a batch: refuse it whole.
        """
        try:
            tag, items = self._batch_decoder.decode(data)
        except _DECODE_ERRORS:
            return None, []
        if tag != _SUBMIT_BATCH_TAG:
            return None, []
        good: list[Submit] = []
        bad: list[BadItem] = []
        for index, raw in enumerate(items):
            try:
                good.append(self._submit_decoder.decode(raw))
            except _DECODE_ERRORS as exc:
                bad.append(BadItem(_item_id(raw), f"batch item {index}: {exc}"))
        return (SubmitBatch(good) if good else None), bad

    def encode_value(self, value: Any) -> bytes:
        """Encode a bare task value (used by the process pool and the content cache).

        Raises:
            TypeError: not a msgpack value or numpy array (or an int beyond 64 bits).
        """
        try:
            return self._encoder.encode(value)
        except OverflowError as exc:
            raise TypeError(str(exc)) from None

    def decode_value(self, data: bytes | memoryview) -> Any:
        """Decode a bare task value."""
        return self._value_decoder.decode(data)


def _item_id(raw: msgspec.Raw) -> int | None:
    """The id of a submit that does not decode, if its second element is one."""
    try:
        item = msgspec.msgpack.decode(raw)
    except _DECODE_ERRORS:
        return None
    if isinstance(item, list) and len(item) >= 2:
        task_id = item[1]
        if type(task_id) is int and 0 <= task_id <= _MAX_ID:
            return task_id
    return None
