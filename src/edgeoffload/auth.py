"""Bearer tokens for the hello: HS256 JWTs with an expiry, checked by the node.

A node started with ``auth_secret`` refuses a hello whose token is missing, badly
signed or expired, with ``unauthorized`` and a message that says which. Tokens are
made by ``edgeoffload token`` (or :func:`make_token`) with the same secret.
"""

from __future__ import annotations

import math
import time

from .errors import Unauthorized

#: Clock skew tolerated between the token's issuer and the node.
LEEWAY_S = 5.0


def make_token(secret: str, subject: str, ttl_s: float, now: float | None = None) -> str:
    """A token for ``subject`` valid for ``ttl_s`` seconds from ``now`` (Unix time)."""
    import jwt

    now = time.time() if now is None else now
    return jwt.encode({"sub": subject, "iat": int(now), "exp": int(now + ttl_s)}, secret, "HS256")


def verify_token(secret: str, token: str | None, now: float | None = None) -> str:
    """Return the token's subject.

    Args:
        secret: the node's HS256 secret.
        token: what the hello carried.
        now: Unix time to check the expiry against; by default the system clock. The
            node passes it in, so that its admission decisions (node/admission.py) are
            a function of their inputs and test on a virtual clock.

    Raises:
        Unauthorized: missing, malformed, badly signed or expired (the message says which).
    """
    import jwt

    if not token:
        raise Unauthorized(None, "this node requires a token (hello carried none)")
    # With ``now`` given, PyJWT checks signature and shape only and the time claims are
    # checked below against ``now``, with the same leeway PyJWT applies.
    clock = now is None
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            leeway=LEEWAY_S,
            options={
                "require": ["exp"],
                "verify_exp": clock,
                "verify_nbf": clock,
                "verify_iat": clock,
            },
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(None, "token expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized(None, "token signature is invalid") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(None, f"token is invalid: {exc}") from None
    if now is not None:
        try:
            expires = float(claims["exp"])
            not_before = float(claims.get("nbf", -math.inf))
        except (TypeError, ValueError):
            raise Unauthorized(None, "token is invalid: exp and nbf must be numbers") from None
        if now >= expires + LEEWAY_S:  # PyJWT: exp <= now - leeway
            raise Unauthorized(None, "token expired")
        if not_before > now + LEEWAY_S:  # PyJWT: nbf > now + leeway
            raise Unauthorized(None, "token is invalid: The token is not yet valid (nbf)")
    return str(claims.get("sub", ""))
