"""Tokens: roles, audience, lifetime, size and rotation (edgeoffload.auth)."""

from __future__ import annotations

import time

import jwt
import pytest

from edgeoffload.auth import (
    AUDIENCE,
    CLIENT_ROLES,
    MAX_TOKEN_BYTES,
    Keys,
    Role,
    make_token,
    verify_token,
)
from edgeoffload.errors import Unauthorized

SECRET = "correct-horse-battery-staple-0123456789"
OLD = "previous-horse-battery-staple-0123456789"
KEYS = Keys(SECRET)
NOW = 1_800_000_000.0


def test_a_valid_token_gives_subject_role_and_expiry() -> None:
    claims = verify_token(
        KEYS, make_token(SECRET, "camera-7", "client", 60, now=NOW), CLIENT_ROLES, NOW
    )
    assert (claims.subject, claims.role, claims.expires_at) == ("camera-7", Role.CLIENT, NOW + 60)


def test_an_admin_token_may_do_what_a_client_may_but_a_node_token_may_not() -> None:
    admin = make_token(SECRET, "ops", Role.ADMIN, 60, now=NOW)
    assert verify_token(KEYS, admin, CLIENT_ROLES, NOW).role is Role.ADMIN
    node = make_token(SECRET, "edge-1", Role.NODE, 60, now=NOW)
    with pytest.raises(Unauthorized, match=r"role 'node' may not do this \(needs admin or"):
        verify_token(KEYS, node, CLIENT_ROLES, NOW)
    client = make_token(SECRET, "cam", Role.CLIENT, 60, now=NOW)
    with pytest.raises(Unauthorized, match="needs admin"):
        verify_token(KEYS, client, {Role.ADMIN}, NOW)


def _raw(claims: dict[str, object], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, "HS256")


BASE: dict[str, object] = {
    "sub": "x",
    "role": "client",
    "aud": AUDIENCE,
    "iat": int(NOW),
    "exp": int(NOW) + 60,
}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "a token is required"),
        ("", "a token is required"),
        ("not-a-jwt", "token is invalid"),
        (make_token("other-" + SECRET, "x", "client", 60, now=NOW), "signature is invalid"),
        (make_token(SECRET, "x", "client", 60, now=NOW - 3600), "token expired"),
        (_raw({**BASE, "aud": "someone-else"}), "wrong audience"),
        (_raw({k: v for k, v in BASE.items() if k != "aud"}), "lacks the 'aud' claim"),
        (_raw({k: v for k, v in BASE.items() if k != "exp"}), "lacks the 'exp' claim"),
        (_raw({k: v for k, v in BASE.items() if k != "role"}), "token has no role"),
        (_raw({**BASE, "role": "root"}), "unknown role 'root'"),
        # A token of the previous format (subject and expiry only) names what it lacks.
        (_raw({"sub": "x", "iat": int(NOW), "exp": int(NOW) + 60}), "lacks the 'aud' claim"),
        # alg none: refused whatever it claims.
        (jwt.encode(BASE, None, "none"), "token is invalid"),
    ],
)
def test_bad_tokens_say_why(token: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        verify_token(KEYS, token, CLIENT_ROLES, NOW)


def test_a_token_longer_than_the_maximum_lifetime_is_refused() -> None:
    century = make_token(SECRET, "x", "client", 100 * 365 * 86400, now=NOW)
    with pytest.raises(Unauthorized, match=r"lifetime 876000\.0 h exceeds the 720\.0 h"):
        verify_token(KEYS, century, CLIENT_ROLES, NOW)
    assert verify_token(Keys(SECRET, max_ttl_s=200 * 365 * 86400.0), century, CLIENT_ROLES, NOW)


def test_an_oversized_token_is_refused_before_it_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed an oversized token")

    monkeypatch.setattr(jwt, "decode", never)
    with pytest.raises(Unauthorized, match=f"over the {MAX_TOKEN_BYTES} limit"):
        verify_token(KEYS, "x" * (15 * 1024 * 1024), CLIENT_ROLES, NOW)


def test_during_a_rotation_tokens_of_both_secrets_are_accepted() -> None:
    rotating = Keys(SECRET, previous=OLD)
    for secret in (SECRET, OLD):
        token = make_token(secret, "cam", "client", 60, now=NOW)
        assert verify_token(rotating, token, CLIENT_ROLES, NOW).subject == "cam"
    with pytest.raises(Unauthorized, match="signature is invalid"):
        verify_token(KEYS, make_token(OLD, "cam", "client", 60, now=NOW), CLIENT_ROLES, NOW)


def test_clock_skew_within_the_leeway_is_tolerated() -> None:
    token = make_token(SECRET, "x", "client", 60, now=NOW)
    assert verify_token(KEYS, token, CLIENT_ROLES, NOW + 63)
    with pytest.raises(Unauthorized, match="expired"):
        verify_token(KEYS, token, CLIENT_ROLES, NOW + 66)


@pytest.mark.parametrize(
    ("args", "message"),
    [(("", "client", 60), "subject"), (("x", "client", 0), "ttl"), (("x", "root", 60), "root")],
)
def test_make_token_refuses_bad_requests(args: tuple[str, str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_token(SECRET, *args)


def test_tokens_use_the_wall_clock_by_default() -> None:
    assert (
        verify_token(KEYS, make_token(SECRET, "x", "client", 60), CLIENT_ROLES).expires_at
        > time.time()
    )
