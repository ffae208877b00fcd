"""TLS end to end with real processes: wss:// nodes, an https:// controller, mutual TLS,
and clients that refuse a certificate they cannot verify. Certificates are made on the
fly by a throwaway CA (trustme), for 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

import pytest
import trustme

from edgeoffload import Client, NoNodeAvailable
from tests.conftest import run
from tests.integration.test_controller import wait_for


class Pki:
    """A CA, a server certificate for 127.0.0.1, a client certificate, and a foreign CA."""

    def __init__(self, folder: Path) -> None:
        ca, foreign = trustme.CA(), trustme.CA()
        self.ca = folder / "ca.pem"
        ca.cert_pem.write_to_path(self.ca)
        self.foreign_ca = folder / "foreign-ca.pem"
        foreign.cert_pem.write_to_path(self.foreign_ca)
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.cert, self.key = folder / "server.pem", folder / "server.key"
        server.cert_chain_pems[0].write_to_path(self.cert)
        server.private_key_pem.write_to_path(self.key)
        client = ca.issue_cert("camera-1@example.org")
        self.client_cert, self.client_key = folder / "client.pem", folder / "client.key"
        client.cert_chain_pems[0].write_to_path(self.client_cert)
        client.private_key_pem.write_to_path(self.client_key)

    def server_flags(self) -> list[str]:
        return ["--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key)]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def test_a_wss_node_serves_clients_that_trust_its_ca_and_only_those(node_factory, pki) -> None:  # type: ignore[no-untyped-def]
    node = node_factory("--workers", "1", *pki.server_flags())
    assert node.url.startswith("wss://127.0.0.1:")

    async def main() -> None:
        async with Client([node.url], tls_ca_file=str(pki.ca)) as client:
            assert await client.submit("echo", "over tls", where="edge") == "over tls"
            assert await client.map("echo_pool", range(50), where="edge") == list(range(50))
        for ca in (str(pki.foreign_ca), None):  # a wrong CA, or only the system's CAs
            async with Client(
                [node.url], tls_ca_file=ca, wait_for_node_s=0.5, connect_timeout_s=2.0
            ) as client:
                with pytest.raises(NoNodeAvailable):
                    await client.submit("echo", 1, where="edge")
                assert "CERTIFICATE_VERIFY_FAILED" in client.nodes[0].last_error

    run(main())


def test_mutual_tls_refuses_a_client_without_a_certificate_from_the_ca(node_factory, pki) -> None:  # type: ignore[no-untyped-def]
    node = node_factory("--workers", "1", *pki.server_flags(), "--tls-client-ca-file", str(pki.ca))

    async def main() -> None:
        mine = {"tls_cert_file": str(pki.client_cert), "tls_key_file": str(pki.client_key)}
        async with Client([node.url], tls_ca_file=str(pki.ca), **mine) as client:
            assert await client.submit("echo", "mutual", where="edge") == "mutual"
        async with Client(
            [node.url], tls_ca_file=str(pki.ca), wait_for_node_s=0.5, connect_timeout_s=2.0
        ) as client:
            with pytest.raises(NoNodeAvailable):
                await client.submit("echo", 1, where="edge")
            assert client.nodes[0].last_error

    run(main())


def test_an_https_controller_with_a_wss_node_and_a_client_following_its_table(  # type: ignore[no-untyped-def]
    controller_factory, node_factory, pki, tmp_path
) -> None:
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db", *pki.server_flags())
    assert controller.url.startswith("https://127.0.0.1:")
    wss = controller.url.replace("https://", "wss://")
    node = node_factory(
        "--workers", "1", *pki.server_flags(), "--controller", wss, "--tls-ca-file", str(pki.ca)
    )
    context = ssl.create_default_context(cafile=str(pki.ca))

    def rows() -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{controller.url}/api/nodes", context=context) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    wait_for(lambda: [r["url"] for r in rows()] == [node.url], what="the wss node joined")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{controller.url}/api/nodes", timeout=10)

    async def main() -> None:
        async with Client([], controller=wss, tls_ca_file=str(pki.ca)) as client:
            await client.wait_for_nodes(1)
            assert await client.map("echo", range(20), where="edge") == list(range(20))

    run(main())


def test_an_unreadable_certificate_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    from tests.conftest import edgeoffload

    result = edgeoffload(
        "node", "--port", "0", "--tls-cert-file", str(tmp_path / "missing.pem"), timeout=60
    )
    assert result.returncode == 2
    assert "missing.pem" in result.stderr and len(result.stderr.strip().splitlines()) == 1
