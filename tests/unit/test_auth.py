from __future__ import annotations

import time

import pytest

from edgeoffload.auth import make_token, verify_token
from edgeoffload.errors import Unauthorized

SECRET = "correct-horse-battery-staple-0123456789"


def test_valid_token_gives_its_subject() -> None:
    assert verify_token(SECRET, make_token(SECRET, "camera-7", 60)) == "camera-7"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "requires a token"),
        ("", "requires a token"),
        ("not-a-jwt", "token is invalid"),
        (make_token("other-" + SECRET, "x", 60), "signature is invalid"),
        (make_token(SECRET, "x", 60, now=time.time() - 3600), "token expired"),
    ],
)
def test_bad_tokens_say_why(token: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        verify_token(SECRET, token)
