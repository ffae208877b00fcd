"""Bearer tokens with a role: HS256 JWTs checked by nodes (and the controller).

A token says who holds it (``sub``), what it may do (``role``: :class:`Role`), for whom it
was made (``aud``, always :data:`AUDIENCE`) and until when (``exp``, issued at ``iat``).
Every endpoint names the roles it accepts; a node's hello accepts ``client`` (and
``admin``, which may do anything a client may). A node started with a secret refuses a
hello whose token is missing, oversized, badly signed, expired, for another audience,
older than the lifetime the node allows, or of a role the hello does not accept, with
``unauthorized`` and a message that says which.

Why each check:

- **Size first.** A token is refused from its length before it is parsed or its
  signature computed: a 15 MiB "token" cost 170 ms of CPU to refuse when it was parsed
  first. :data:`MAX_TOKEN_BYTES` is 4 KiB, far above a real token (about 250 bytes) and
  the common limit of an HTTP header line.
- **A maximum lifetime** (``max_ttl_s``, checked on ``exp - iat``): a leaked 100-year
  token would otherwise be valid for 100 years. Defaults to 30 days.
- **Audience**: a token made with the same secret for another system is not ours.
- **Key rotation**: :class:`Keys` holds the current secret and, optionally, the
  previous one; a token signed by either is accepted, so tokens can be re-issued before
  the previous secret is retired (the usual two-key rotation). New tokens are always
  signed with the current one.

Tokens are made by ``edgeoffload token create`` (or :func:`make_token`). The secret is
never taken from argv: a file (``--auth-secret-file``) or ``EDGEOFFLOAD_AUTH_SECRET``.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from .errors import Forbidden, Unauthorized

#: Clock skew tolerated between the token's issuer and its checker.
LEEWAY_S = 5.0
#: Every token is made for this audience and checked against it.
AUDIENCE = "edgeoffload"
#: Longest token accepted, in bytes, checked before any parsing (see the module text).
MAX_TOKEN_BYTES = 4096
#: Longest lifetime (``exp - iat``) accepted unless the checker allows another.
DEFAULT_MAX_TTL_S = 30 * 24 * 3600.0
#: Shortest secret accepted: RFC 7518 section 3.2 asks for a key as long as the hash.
MIN_SECRET_CHARS = 32


class Role(StrEnum):
    """What a token's holder may do."""

    #: Submit tasks to nodes; report events to the controller.
    CLIENT = "client"
    #: Register with the controller under its own subject as node id, send heartbeats.
    NODE = "node"
    #: Everything a client may, plus the controller's writes (drain, resume).
    ADMIN = "admin"


#: Roles a node's hello accepts.
CLIENT_ROLES: frozenset[Role] = frozenset({Role.CLIENT, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says."""

    subject: str
    role: Role
    expires_at: float


@dataclass(frozen=True, slots=True)
class Keys:
    """The secrets a checker accepts and the longest lifetime it allows.

    Attributes:
        current: signs new tokens; accepted.
        previous: accepted too, during a rotation (``None``: only ``current``).
        max_ttl_s: tokens whose ``exp - iat`` is longer are refused.
    """

    current: str
    previous: str | None = None
    max_ttl_s: float = DEFAULT_MAX_TTL_S

    def secrets(self) -> tuple[str, ...]:
        """The accepted secrets, current first."""
        return (self.current,) if self.previous is None else (self.current, self.previous)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (RFC 6750 section 2.1),
    or ``None`` when there is no such header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def make_token(
    secret: str,
    subject: str,
    role: Role | str,
    ttl_s: float,
    now: float | None = None,
) -> str:
    """A token for ``subject`` with ``role``, valid for ``ttl_s`` seconds from ``now``.

    Raises:
        ValueError: ``ttl_s`` not positive, empty subject or unknown role.
    """
    import jwt

    if ttl_s <= 0:
        raise ValueError(f"ttl must be positive, got {ttl_s}")
    if not subject:
        raise ValueError("subject must not be empty")
    role = Role(role)
    now = time.time() if now is None else now
    claims = {
        "sub": subject,
        "role": role.value,
        "aud": AUDIENCE,
        "iat": int(now),
        "exp": int(now + ttl_s),
    }
    return jwt.encode(claims, secret, "HS256")


def verify_token(
    keys: Keys,
    token: str | None,
    roles: Collection[Role],
    now: float | None = None,
) -> Claims:
    """Check ``token`` against ``keys`` and return its claims.

    Args:
        keys: the accepted secrets and lifetime limit.
        token: as received (``None`` or empty when the peer sent none).
        roles: the roles this endpoint accepts.
        now: Unix time (tests); the wall clock otherwise.

    Raises:
        Unauthorized: missing, oversized, malformed, badly signed, expired, for another
            audience, too long-lived, or of a role not accepted (the message says which).
    """
    import jwt

    if not token:
        raise Unauthorized(None, "a token is required (none was sent)")
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized(None, f"token is {len(token)} bytes, over the {MAX_TOKEN_BYTES} limit")
    now = time.time() if now is None else now
    claims: dict[str, object] | None = None
    bad_signature = False
    for secret in keys.secrets():
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                leeway=LEEWAY_S,
                # Expiry is checked in _checked against ``now``, one clock for every check.
                options={
                    "require": ["exp", "iat", "sub", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            break
        except jwt.InvalidSignatureError:
            bad_signature = True
        except jwt.InvalidAudienceError:
            raise Unauthorized(None, f"token is not for {AUDIENCE!r} (wrong audience)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(None, f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(None, f"token is invalid: {exc}") from None
    if claims is None:
        assert bad_signature
        raise Unauthorized(None, "token signature is invalid")
    return _checked(claims, keys, roles, now)


def _checked(claims: dict[str, object], keys: Keys, roles: Collection[Role], now: float) -> Claims:
    """The claims a valid signature vouches for, checked for lifetime and role."""
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise Unauthorized(None, "token has non-numeric exp or iat")
    if exp + LEEWAY_S < now:
        raise Unauthorized(None, "token expired")
    if exp - iat > keys.max_ttl_s:
        raise Unauthorized(
            None,
            f"token lifetime {(exp - iat) / 3600:.1f} h exceeds the "
            f"{keys.max_ttl_s / 3600:.1f} h this endpoint allows",
        )
    raw_role = claims.get("role")
    try:
        role = Role(str(raw_role))
    except ValueError:
        raise Unauthorized(
            None,
            "token has no role" if raw_role is None else f"token has unknown role {raw_role!r}",
        ) from None
    if role not in roles:
        wanted = " or ".join(sorted(r.value for r in roles))
        raise Forbidden(None, f"role {role.value!r} may not do this (needs {wanted})")
    return Claims(subject=str(claims["sub"]), role=role, expires_at=float(exp))
