"""Who may do what on the controller: one rule per endpoint, checked before it runs.

The controller has four kinds of endpoint, and a secret (``auth_secret``) switches
each to its rule. Without a secret everything is open, which is the default only on
loopback (a controller bound elsewhere without one warns loudly at start).

| endpoint | needs |
|---|---|
| ``/ws/node`` | a ``node`` token whose subject is the node id of the hello |
| ``/ws/subscribe`` | a ``client`` or ``admin`` token |
| REST writes (drain, resume) | an ``admin`` token |
| REST reads, ``/metrics`` | any valid token, or nothing with ``open_reads`` |
| ``/healthz``, ``/readyz`` | nothing (orchestrators probe without credentials) |

Binding a node id to its token's subject is what stops a stranger from joining as a
node, or from taking over a live node's id and its row in the table that clients
follow: only the holder of ``node`` token for subject ``edge-1`` can register
``edge-1``.
"""

from __future__ import annotations

from enum import Enum

from ..auth import CLIENT_ROLES, Claims, Keys, Role, bearer, verify_token
from ..errors import Unauthorized


class Access(Enum):
    """The kinds of endpoint (module docstring)."""

    NODE = "node"
    SUBSCRIBE = "subscribe"
    WRITE = "write"
    READ = "read"


_ROLES: dict[Access, frozenset[Role]] = {
    Access.NODE: frozenset({Role.NODE}),
    Access.SUBSCRIBE: CLIENT_ROLES,
    Access.WRITE: frozenset({Role.ADMIN}),
    Access.READ: frozenset(Role),
}


def authorize(
    keys: Keys | None,
    access: Access,
    authorization: str | None,
    open_reads: bool = False,
    now: float | None = None,
) -> Claims | None:
    """Check the ``Authorization`` header of a request to an endpoint of kind ``access``.

    Returns:
        The token's claims, or ``None`` when the endpoint needs no token.

    Raises:
        Unauthorized: the token is missing, invalid, or of a role this endpoint refuses.
    """
    if keys is None or (access is Access.READ and open_reads):
        return None
    return verify_token(keys, bearer(authorization), _ROLES[access], now)


def check_node_id(claims: Claims | None, node_id: str) -> None:
    """Refuse a node hello whose id is not its token's subject.

    Raises:
        Unauthorized: naming both.
    """
    if claims is not None and claims.subject != node_id:
        raise Unauthorized(
            None, f"node id {node_id!r} is not this token's subject {claims.subject!r}"
        )
