"""Where a node's controller token comes from (node/runner.py controller_token): a
configured token as given, none without a secret, and with the site secret a fresh
node token for the node's own id at every connection, valid for an hour; and the
readiness line scripts wait for."""

from __future__ import annotations

import time

import pytest

from edgeoffload.auth import Keys, Role, verify_token
from edgeoffload.config import NodeConfig
from edgeoffload.errors import Unauthorized
from edgeoffload.node.runner import SELF_TOKEN_TTL_S, controller_token, print_ready

SECRET = "s" * 32


def test_a_configured_token_is_used_as_given_even_with_a_secret() -> None:
    config = NodeConfig(controller_token="given", auth_secret=SECRET)
    source = controller_token(config, "n1")
    assert source() == "given" and source() == "given"


def test_without_token_or_secret_there_is_none() -> None:
    assert controller_token(NodeConfig(), "n1")() is None


def test_with_the_secret_the_node_signs_a_node_token_for_its_own_id() -> None:
    source = controller_token(NodeConfig(auth_secret=SECRET), "edge-7")
    token = source()
    assert token is not None
    claims = verify_token(Keys(SECRET), token, [Role.NODE])
    assert (claims.subject, claims.role) == ("edge-7", Role.NODE)
    assert claims.expires_at == pytest.approx(time.time() + SELF_TOKEN_TTL_S, abs=5)
    assert SELF_TOKEN_TTL_S == 3600.0
    # A node token is not a client's or an admin's.
    with pytest.raises(Unauthorized):
        verify_token(Keys(SECRET), token, [Role.CLIENT, Role.ADMIN])
    # Another site's secret does not accept it.
    with pytest.raises(Unauthorized):
        verify_token(Keys("t" * 32), token, [Role.NODE])


class _Bound:
    url = "ws://127.0.0.1:4321/offload"


def test_the_readiness_line(capsys: pytest.CaptureFixture[str]) -> None:
    print_ready(_Bound())  # type: ignore[arg-type]
    assert capsys.readouterr().out == "READY ws://127.0.0.1:4321/offload\n"
