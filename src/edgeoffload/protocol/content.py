"""Content addressing of task arguments: the digest both sides compute, and which
arguments a client sends hash-first.

An argument's identity is the blake2b-256 digest of its msgpack encoding (the codec's
:meth:`~.codec.Codec.encode_value`, numpy arrays as their extension type), so the
client and the node compute the same digest from the same value without agreeing on
anything else. blake2b from the standard library: no dependency, about 1 GB/s on one
core here (a 1 MB frame costs about a millisecond to hash, against 80 ms to send over a
100 Mbit/s uplink), and a 256-bit digest, so that two different inputs never share one
by accident; a peer that claims a digest for other bytes is caught by the node, which
rehashes whatever it stores (node/cache.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

#: Length of a digest on the wire (blake2b-256).
DIGEST_BYTES = 32

#: One hash-first argument: (digest, encoded size in bytes), by argument index.
InputRefs = dict[int, tuple[bytes, int]]


def digest(data: bytes | memoryview) -> bytes:
    """The content digest of encoded bytes."""
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest()


def size_hint(value: Any) -> int:
    """A cheap lower bound of ``value``'s encoded size, without encoding it: the length
    of bytes and strings, the data of a numpy array; 0 for anything else (containers
    are not walked, so a large list of numbers is always sent whole)."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return len(value)
    if type(value).__module__ == "numpy":
        return int(getattr(value, "nbytes", 0))
    return 0


def large_inputs(
    args: Sequence[Any], threshold: int, encode: Callable[[Any], bytes]
) -> InputRefs | None:
    """The arguments above ``threshold`` bytes, with their digest and encoded size;
    None when there is none (or one cannot be encoded: the send reports that)."""
    refs: InputRefs | None = None
    for i, value in enumerate(args):
        if size_hint(value) <= threshold:
            continue
        try:
            data = encode(value)
        except TypeError:
            return None
        if len(data) > threshold:
            if refs is None:
                refs = {}
            refs[i] = (digest(data), len(data))
    return refs
