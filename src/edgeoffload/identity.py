"""A node's identity: an Ed25519 key pair, and the welcome signature that proves it.

Why: a client that follows a controller connects to the URLs of the controller's node
table. TLS proves that whoever answers holds a certificate for the URL's host name,
not that it is the node the controller registered there (a process that took over the
port after the node died, a host name that resolves elsewhere, or a site without TLS
at all). So each node holds a private key; it registers the public key with the
controller in its authenticated hello (the controller binds the node id to the node
token's subject, so only that node can set it); the controller passes the key on in
the table row (:class:`~edgeoffload.protocol.control.NodeView.public_key`); a client
sends a random nonce in its :class:`~edgeoffload.protocol.messages.Hello` and the
node's :class:`~edgeoffload.protocol.messages.Welcome` carries a signature over
``(nonce, node_id, client_id)``. The client checks it with the table's key before it
sends any task, and refuses the node with ``unauthorized`` when it is missing or wrong.

What is signed (:func:`welcome_payload`) is domain-separated (a fixed prefix, so a
signature made here can mean nothing elsewhere) and length-prefixed (so no two field
lists give the same bytes). The nonce makes each signature fresh: a recorded welcome
is worth nothing on another connection. Ed25519 (RFC 8032) because its keys are 32
bytes, its signatures 64, signing and verifying take tens of microseconds, and
``cryptography`` (already what TLS tooling uses) implements it.

A node without a key file makes a fresh key at each start (enough: it registers the
new public key with each hello); ``identity_key_file`` keeps one across restarts,
which closes the short window after a restart in which a client still holds the old
key. The private key is never logged, printed or sent.

``cryptography`` is imported when a key is first needed, not with this module: the
client imports this module (it checks welcomes), and the import (35 modules, about 45
ms, a larger heap for every garbage collection) cost every client and every node's
cold start, which at 0.1 CPU is ten times its CPU time. A node without a key file makes
its key at its first use (its first registration or signed welcome), not at start.
"""

from __future__ import annotations

import base64
import os
import struct
import threading
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: Prefix of every signed welcome (a signature means this and nothing else).
DOMAIN = b"edgeoffload welcome v1\x00"
#: Bytes of the nonce a client sends: 256 bits, never repeated in practice.
NONCE_BYTES = 32
#: A public key on the wire: base64url of 32 bytes, without padding (43 characters).
PUBLIC_KEY_CHARS = 43


def welcome_payload(nonce: bytes, node_id: str, client_id: str) -> bytes:
    """The bytes a node signs in its welcome (module docstring)."""
    parts = [nonce, node_id.encode(), client_id.encode()]
    return DOMAIN + b"".join(struct.pack(">I", len(p)) + p for p in parts)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class NodeIdentity:
    """A node's key pair. ``repr`` and ``str`` show only the public key.

    Made with a key, or (``NodeIdentity()``) with none yet: a fresh one is generated at
    the first use of :attr:`public_key` or :meth:`sign_welcome`."""

    __slots__ = ("_key", "_lock", "_public_key")

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key
        self._public_key: str | None = None
        self._lock = threading.Lock()

    @property
    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
                        Ed25519PrivateKey,
                    )

                    self._key = Ed25519PrivateKey.generate()
        return self._key

    @property
    def public_key(self) -> str:
        """The public key as the table carries it (base64url, 43 characters)."""
        if self._public_key is None:
            from cryptography.hazmat.primitives import serialization

            raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
            self._public_key = _b64(self.key.public_key().public_bytes(*raw))
        return self._public_key

    @classmethod
    def generate(cls) -> NodeIdentity:
        """A fresh key pair, made at its first use (module docstring)."""
        return cls()

    @classmethod
    def load_or_create(cls, path: str) -> NodeIdentity:
        """The key in ``path`` (PEM, PKCS #8), made and written there (mode 0600) if
        the file does not exist.

        Raises:
            ConfigError: the file cannot be read or written, or holds no Ed25519 key.
        """
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return cls._create(path)
        except OSError as exc:
            raise ConfigError(f"identity_key_file: cannot read {path}: {exc.strerror}") from None
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ConfigError(f"identity_key_file: {path} holds no unencrypted PEM key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"identity_key_file: {path} holds a key that is not Ed25519")
        return cls(key)

    @classmethod
    def _create(cls, path: str) -> NodeIdentity:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            # O_EXCL: never overwrite a key another process wrote meanwhile.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
        except FileExistsError:
            return cls.load_or_create(path)
        except OSError as exc:
            raise ConfigError(f"identity_key_file: cannot write {path}: {exc.strerror}") from None
        return cls(key)

    def sign_welcome(self, nonce: bytes, node_id: str, client_id: str) -> bytes:
        """The welcome's signature for a hello with this nonce (64 bytes)."""
        return self.key.sign(welcome_payload(nonce, node_id, client_id))

    def __repr__(self) -> str:
        return f"NodeIdentity(public_key={self.public_key!r})"


def new_nonce() -> bytes:
    """A fresh random nonce for a hello (the operating system's CSPRNG)."""
    return os.urandom(NONCE_BYTES)


def check_welcome(
    public_key: str, signature: bytes | None, nonce: bytes, node_id: str, client_id: str
) -> str | None:
    """Why a welcome does not prove the key holder sent it, or None when it does.

    The reason is one line for an :class:`~edgeoffload.errors.Unauthorized` message.
    """
    if signature is None:
        return "its welcome carries no identity signature"
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return "the key it is checked with is malformed"
    try:
        key.verify(signature, welcome_payload(nonce, node_id, client_id))
    except InvalidSignature:
        return "its welcome signature does not match the node's key"
    return None


__all__ = [
    "NONCE_BYTES",
    "PUBLIC_KEY_CHARS",
    "NodeIdentity",
    "check_welcome",
    "new_nonce",
    "welcome_payload",
]
