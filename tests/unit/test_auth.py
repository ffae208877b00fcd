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


def test_expiry_is_checked_against_the_given_clock_with_the_leeway() -> None:
    token = make_token(SECRET, "cam", ttl_s=60, now=1_000_000)
    assert verify_token(SECRET, token, now=1_000_000) == "cam"
    # Valid up to the expiry plus the leeway (5 s), not a moment longer.
    assert verify_token(SECRET, token, now=1_000_064.9) == "cam"
    with pytest.raises(Unauthorized, match="token expired"):
        verify_token(SECRET, token, now=1_000_065)
    # The given clock wins over the system clock both ways: this token expired long ago.
    with pytest.raises(Unauthorized, match="token expired"):
        verify_token(SECRET, token)


def test_not_before_is_checked_against_the_given_clock() -> None:
    import jwt

    token = jwt.encode({"sub": "cam", "nbf": 2_000, "exp": 3_000}, SECRET, "HS256")
    with pytest.raises(Unauthorized, match="not yet valid"):
        verify_token(SECRET, token, now=1_994)
    assert verify_token(SECRET, token, now=1_996) == "cam"


def test_a_non_numeric_expiry_is_invalid_not_a_crash() -> None:
    import jwt

    token = jwt.encode({"sub": "cam", "exp": "soon"}, SECRET, "HS256")
    with pytest.raises(Unauthorized, match="token is invalid"):
        verify_token(SECRET, token, now=0.0)
    with pytest.raises(Unauthorized, match="token is invalid"):
        verify_token(SECRET, token)
