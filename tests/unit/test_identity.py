"""Node identity keys and welcome signatures (edgeoffload.identity): what a client
accepts, and every tampering it refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.identity import NodeIdentity, check_welcome, new_nonce, welcome_payload


def test_a_signed_welcome_is_accepted_with_the_signers_key() -> None:
    node = NodeIdentity.generate()
    nonce = new_nonce()
    signature = node.sign_welcome(nonce, "edge-1", "cam-1")
    assert len(node.public_key) == 43 and len(signature) == 64
    assert check_welcome(node.public_key, signature, nonce, "edge-1", "cam-1") is None


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "carries no identity signature"),
        ("other key", "does not match"),
        ("other nonce", "does not match"),
        ("other node id", "does not match"),
        ("other client id", "does not match"),
        ("flipped bit", "does not match"),
        ("truncated", "does not match"),
        ("malformed key", "is malformed"),
    ],
)
def test_every_tampering_is_refused_with_its_reason(case: str, expected: str) -> None:
    node = NodeIdentity.generate()
    nonce = new_nonce()
    key, sig = node.public_key, node.sign_welcome(nonce, "edge-1", "cam-1")
    args = [nonce, "edge-1", "cam-1"]
    signature: bytes | None = sig
    if case == "missing":
        signature = None
    elif case == "other key":
        key = NodeIdentity.generate().public_key
    elif case == "other nonce":
        args[0] = new_nonce()
    elif case == "other node id":
        args[1] = "edge-2"
    elif case == "other client id":
        args[2] = "cam-2"
    elif case == "flipped bit":
        signature = bytes([sig[0] ^ 1]) + sig[1:]
    elif case == "truncated":
        signature = sig[:-1]
    elif case == "malformed key":
        key = "A" * 10
    reason = check_welcome(key, signature, *args)  # type: ignore[arg-type]
    assert reason is not None and expected in reason


def test_fields_are_length_prefixed_so_no_two_splits_sign_alike() -> None:
    assert welcome_payload(b"n" * 32, "ab", "c") != welcome_payload(b"n" * 32, "a", "bc")


def test_a_key_file_is_made_private_once_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    first = NodeIdentity.load_or_create(str(path))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert NodeIdentity.load_or_create(str(path)).public_key == first.public_key
    assert NodeIdentity.generate().public_key != first.public_key
    # The repr names the public key only.
    assert repr(first) == f"NodeIdentity(public_key={first.public_key!r})"


def test_a_bad_key_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    junk = tmp_path / "junk.key"
    junk.write_text("not a key\n")
    with pytest.raises(ConfigError, match=r"identity_key_file: .*junk\.key holds no"):
        NodeIdentity.load_or_create(str(junk))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "ec.key"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match="not Ed25519"):
        NodeIdentity.load_or_create(str(other))
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.key"
        NodeIdentity.load_or_create(str(locked))
        locked.chmod(0)
        with pytest.raises(ConfigError, match="cannot read"):
            NodeIdentity.load_or_create(str(locked))


def test_importing_the_client_and_making_an_identity_do_not_import_cryptography() -> None:
    """Seen: every client and every node's start imported cryptography (35 modules,
    about 45 ms: at 0.1 CPU, 0.45 s of cold start) for keys nobody had used yet."""
    import subprocess
    import sys

    code = (
        "import sys, edgeoffload.client\n"
        "from edgeoffload.identity import NodeIdentity\n"
        "ident = NodeIdentity.generate()\n"
        "print('cryptography' in sys.modules)\n"
        "key = ident.public_key\n"
        "print('cryptography' in sys.modules, len(key))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "43"]
