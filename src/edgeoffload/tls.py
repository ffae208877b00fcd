"""TLS contexts for every endpoint: ``wss://`` nodes, an ``https://`` and ``wss://``
controller, and the clients and nodes that connect to them.

One place builds them, from files named in the configuration, so every side makes the
same choices: the standard library's defaults for clients (``ssl.create_default_context``:
certificate and host name verified, TLS 1.2 at least, the system's CAs plus an
optional bundle), and for servers a context that presents its certificate and, for
mutual TLS, requires a client certificate signed by a given CA.

Why files, not objects in the config: configurations are read from TOML, the
environment and flags, and Kubernetes mounts TLS Secrets as files.
"""

from __future__ import annotations

import ssl

from .errors import ConfigError


def server_context(
    cert_file: str, key_file: str | None = None, client_ca_file: str | None = None
) -> ssl.SSLContext:
    """A server context presenting ``cert_file`` (with ``key_file``, or the key in the
    same file); with ``client_ca_file``, clients must show a certificate it signed.

    Raises:
        ConfigError: a file cannot be read or does not hold what it should (named).
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load_chain(context, cert_file, key_file)
    if client_ca_file is not None:
        _load_ca(context, client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A client context that verifies the server against the system's CAs and
    ``ca_file``; with ``cert_file``, it shows that certificate (mutual TLS).

    Raises:
        ConfigError: a file cannot be read or does not hold what it should (named).
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        _load_ca(context, ca_file)
    if cert_file is not None:
        _load_chain(context, cert_file, key_file)
    return context


def _load_chain(context: ssl.SSLContext, cert_file: str, key_file: str | None) -> None:
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"tls certificate {cert_file} (key {key_file or 'in the same file'}): {exc}"
        ) from None


def _load_ca(context: ssl.SSLContext, ca_file: str) -> None:
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls CA bundle {ca_file}: {exc}") from None


def context_for(
    url: str,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> ssl.SSLContext | None:
    """The client context to reach ``url`` with: ``None`` for ``ws://`` and ``http://``
    (plain), :func:`client_context` for ``wss://`` and ``https://``."""
    if not url.startswith(("wss://", "https://")):
        return None
    return client_context(ca_file, cert_file, key_file)


def server_context_of(
    cert_file: str | None, key_file: str | None, client_ca_file: str | None
) -> ssl.SSLContext | None:
    """:func:`server_context` when a certificate is configured, else ``None``."""
    return None if cert_file is None else server_context(cert_file, key_file, client_ca_file)
