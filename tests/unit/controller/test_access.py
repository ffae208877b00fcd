"""Who may do what on the controller (edgeoffload.controller.access), endpoint by role."""

from __future__ import annotations

import pytest

from edgeoffload.auth import Keys, Role, make_token
from edgeoffload.controller.access import Access, authorize, check_node_id
from edgeoffload.errors import Forbidden, Unauthorized

SECRET = "controller-secret-long-enough-0123456789"
KEYS = Keys(SECRET)
NOW = 1_800_000_000.0


def header(role: Role, subject: str = "s") -> str:
    return "Bearer " + make_token(SECRET, subject, role, 60, now=NOW)


# endpoint -> the roles it admits (the table in the module docstring).
ADMITS = {
    Access.NODE: {Role.NODE},
    Access.SUBSCRIBE: {Role.CLIENT, Role.ADMIN},
    Access.WRITE: {Role.ADMIN},
    Access.READ: {Role.CLIENT, Role.NODE, Role.ADMIN},
}


@pytest.mark.parametrize("access", list(Access))
@pytest.mark.parametrize("role", list(Role))
def test_each_endpoint_admits_exactly_its_roles(access: Access, role: Role) -> None:
    if role in ADMITS[access]:
        claims = authorize(KEYS, access, header(role), now=NOW)
        assert claims is not None and claims.role is role
    else:
        with pytest.raises(Forbidden, match=f"role '{role.value}' may not do this"):
            authorize(KEYS, access, header(role), now=NOW)


@pytest.mark.parametrize("access", list(Access))
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "a token is required"),
        ("", "a token is required"),
        ("Basic dXNlcjpwdw==", "a token is required"),
        ("Bearer ", "a token is required"),
        ("Bearer junk", "token is invalid"),
    ],
)
def test_every_endpoint_refuses_requests_without_a_valid_token(
    access: Access, value: str | None, message: str
) -> None:
    with pytest.raises(Unauthorized, match=message) as info:
        authorize(KEYS, access, value, now=NOW)
    assert not isinstance(info.value, Forbidden)


def test_without_a_secret_everything_is_open_and_open_reads_opens_only_reads() -> None:
    for access in Access:
        assert authorize(None, access, None) is None
    assert authorize(KEYS, Access.READ, None, open_reads=True) is None
    for access in (Access.NODE, Access.SUBSCRIBE, Access.WRITE):
        with pytest.raises(Unauthorized):
            authorize(KEYS, access, None, open_reads=True, now=NOW)


def test_the_bearer_scheme_is_case_insensitive() -> None:
    value = header(Role.ADMIN).replace("Bearer", "bearer")
    assert authorize(KEYS, Access.WRITE, value, now=NOW) is not None


def test_a_node_may_register_only_its_token_subject_as_node_id() -> None:
    claims = authorize(KEYS, Access.NODE, header(Role.NODE, "edge-1"), now=NOW)
    check_node_id(claims, "edge-1")
    with pytest.raises(Unauthorized, match="node id 'edge-2' is not this token's subject 'edge-1'"):
        check_node_id(claims, "edge-2")
    check_node_id(None, "anything")  # authentication off
