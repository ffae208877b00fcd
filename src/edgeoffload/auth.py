"""Bearer tokens for the hello: HS256 JWTs with an expiry, checked by the node.

A node started with ``auth_secret`` refuses a hello whose token is missing, badly
signed or expired, with ``unauthorized`` and a message that says which. Tokens are
made by ``edgeoffload token`` (or :func:`make_token`) with the same secret.
"""

from __future__ import annotations

import time

from .errors import Unauthorized

#: Clock skew tolerated between the token's issuer and the node.
LEEWAY_S = 5.0


def make_token(secret: str, subject: str, ttl_s: float, now: float | None = None) -> str:
    """A token for ``subject`` valid for ``ttl_s`` seconds from ``now`` (Unix time)."""
    import jwt

    now = time.time() if now is None else now
    return jwt.encode({"sub": subject, "iat": int(now), "exp": int(now + ttl_s)}, secret, "HS256")


def verify_token(secret: str, token: str | None) -> str:
    """Return the token's subject.

    Raises:
        Unauthorized: missing, malformed, badly signed or expired (the message says which).
    """
    import jwt

    if not token:
        raise Unauthorized(None, "this node requires a token (hello carried none)")
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=LEEWAY_S, options={"require": ["exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(None, "token expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized(None, "token signature is invalid") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(None, f"token is invalid: {exc}") from None
    return str(claims.get("sub", ""))
