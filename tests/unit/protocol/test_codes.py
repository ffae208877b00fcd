"""The wire error codes: a closed set, each with a description, each crossing the codec."""

from __future__ import annotations

import msgspec
import pytest

from edgeoffload.errors import RemoteProtocolError
from edgeoffload.protocol.codec import Codec
from edgeoffload.protocol.codes import DESCRIPTIONS, ErrorCode
from edgeoffload.protocol.messages import Error


def test_every_code_has_a_description_and_no_description_is_orphaned() -> None:
    assert list(DESCRIPTIONS) == list(ErrorCode)  # same set, in declaration order
    for code, text in DESCRIPTIONS.items():
        assert text.strip() == text and text.endswith("."), code
        assert len(text) > 40, code  # a reason and a next step, not a placeholder


def test_wire_values_are_the_lower_case_names() -> None:
    # Peers in other languages match on these strings: renaming one breaks them.
    for code in ErrorCode:
        assert code.value == code.name.lower()
    assert len({code.value for code in ErrorCode}) == len(ErrorCode)


def test_codes_compare_equal_to_their_strings() -> None:
    assert ErrorCode.OVERLOADED == "overloaded"
    assert ErrorCode("draining") is ErrorCode.DRAINING
    with pytest.raises(ValueError, match="'nope' is not a valid ErrorCode"):
        ErrorCode("nope")


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_crosses_the_codec_as_a_string(code: ErrorCode) -> None:
    codec = Codec()
    frame = codec.encode(Error(7, code, "why"))
    assert msgspec.msgpack.decode(frame) == [6, 7, code.value, "why", None, None]
    decoded = codec.decode(frame)
    assert isinstance(decoded, Error)
    assert decoded.code is code


def test_an_unknown_code_is_refused_at_decoding() -> None:
    frame = msgspec.msgpack.encode([6, 7, "exploded", "why"])
    with pytest.raises(RemoteProtocolError, match="Invalid enum value 'exploded'") as info:
        Codec().decode(frame)
    assert info.value.code is ErrorCode.BAD_FRAME
