"""A controller with a secret, as an attacker and as its rightful users meet it: real
controller and node processes, real WebSockets and HTTP (issue: trust boundary).

Each test reproduces a finding seen against the controller without authentication:
anyone could join as a node (and take a live node's id), drain any node, and write
events to the log.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edgeoffload import Client
from edgeoffload.auth import make_token
from tests.conftest import NodeProcess, run
from tests.integration.test_controller import wait_for, ws_url

SECRET = "site-secret-long-enough-for-hs256-0123456789"


def http(
    method: str, url: str, token: str | None = None, body: bytes | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data, status = response.read(), response.status
    except urllib.error.HTTPError as err:
        data, status = err.read(), err.code
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data.decode()


def token(role: str, subject: str = "tester") -> str:
    return make_token(SECRET, subject, role, 600)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture
def secured(controller_factory, secret_file, tmp_path) -> NodeProcess:  # type: ignore[no-untyped-def]
    return controller_factory(  # type: ignore[no-any-return]
        "--store", f"sqlite:///{tmp_path}/c.db", "--auth-secret-file", str(secret_file)
    )


def start_node(node_factory, controller: NodeProcess, node_id: str, node_token: str, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{node_id}.token"
    path.write_text(node_token)
    return node_factory(
        "--workers",
        "1",
        "--controller",
        ws_url(controller),
        "--node-id",
        node_id,
        "--controller-token-file",
        str(path),
    )


def rows(controller: NodeProcess) -> list[dict[str, Any]]:
    status, nodes = http("GET", f"{controller.url}/api/nodes", token("client"))
    assert status == 200, nodes
    return nodes  # type: ignore[no-any-return]


async def refused_hello(url: str, header: str | None, node_id: str, node_url: str) -> str:
    """Send a node hello as a stranger would; return the close reason (1008 expected)."""
    headers = {"Authorization": header} if header else {}
    hello = {"type": "hello", "node_id": node_id, "url": node_url, "cores": 1, "speed_hz": 1e9}
    async with connect(url + "/ws/node", additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await send_and_wait(ws, json.dumps(hello))
    rcvd = closed.value.rcvd
    assert rcvd is not None and rcvd.code == 1008, closed.value
    return rcvd.reason


async def send_and_wait(ws: Any, text: str) -> None:
    """Send, then read until the server closes (the close may come before the send)."""
    await ws.send(text)
    await drain_until_closed(ws)


async def drain_until_closed(ws: Any) -> None:
    while True:
        await ws.recv()


def test_only_a_node_token_for_that_id_can_join_or_take_over_a_node_id(  # type: ignore[no-untyped-def]
    secured, node_factory, tmp_path
) -> None:
    node = start_node(node_factory, secured, "edge-1", token("node", "edge-1"), tmp_path)
    wait_for(lambda: [r["node_id"] for r in rows(secured)] == ["edge-1"], what="edge-1 joined")
    evil = "ws://127.0.0.1:9/offload"

    async def main() -> None:
        url = ws_url(secured)
        cases = [
            (None, "evil", "a token is required"),
            (f"Bearer {token('client')}", "evil", "role 'client' may not do this"),
            (f"Bearer {token('admin')}", "evil", "role 'admin' may not do this"),
            (f"Bearer {token('node', 'edge-2')}", "evil", "is not this token's subject"),
            # Taking over the live node's id (and its row in every client's table):
            (f"Bearer {token('node', 'edge-2')}", "edge-1", "is not this token's subject"),
            (f"Bearer {make_token('x' * 40, 'edge-1', 'node', 60)}", "edge-1", "signature"),
        ]
        for header, node_id, reason in cases:
            assert reason in await refused_hello(url, header, node_id, evil)

    run(main())
    table = rows(secured)
    assert [(r["node_id"], r["url"]) for r in table] == [("edge-1", node.url)]


def test_rest_writes_need_an_admin_and_reads_a_token_while_probes_stay_open(  # type: ignore[no-untyped-def]
    secured, node_factory, tmp_path
) -> None:
    start_node(node_factory, secured, "edge-1", token("node", "edge-1"), tmp_path)
    wait_for(lambda: len(rows(secured)) == 1, what="edge-1 joined")
    base = secured.url
    drain = f"{base}/api/nodes/edge-1/drain"
    for who, expected in [(None, 401), (token("client"), 403), (token("node", "edge-1"), 403)]:
        for url in (drain, f"{base}/api/nodes/edge-1/resume"):
            status, body = http("POST", url, who, b'{"reason": "x"}')
            assert status == expected and body["error"] in {"unauthorized", "forbidden"}, body
    assert not rows(secured)[0]["draining"]
    status, body = http("POST", drain, token("admin"), b'{"reason": "maintenance"}')
    assert status == 200 and body["draining"] and body["drain_reason"] == "maintenance"
    for path in (
        "/api/nodes",
        "/api/nodes/edge-1",
        "/api/nodes/edge-1/metrics",
        "/api/events",
        "/metrics",
    ):
        assert http("GET", base + path)[0] == 401, path
        assert http("GET", base + path, token("client"))[0] == 200, path
    for path in ("/healthz", "/readyz"):
        assert http("GET", base + path)[0] == 200, path


def test_subscribers_need_a_client_token_and_may_report_only_resubmissions(  # type: ignore[no-untyped-def]
    secured, node_factory, tmp_path
) -> None:
    start_node(node_factory, secured, "edge-1", token("node", "edge-1"), tmp_path)
    wait_for(lambda: len(rows(secured)) == 1, what="edge-1 joined")
    url = ws_url(secured) + "/ws/subscribe"

    async def main() -> None:
        for header in (None, f"Bearer {token('node', 'edge-1')}"):
            async with connect(
                url, additional_headers={"Authorization": header} if header else {}
            ) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        auth = {"Authorization": f"Bearer {token('client', 'cam-1')}"}
        async with connect(url, additional_headers=auth) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            fake = {"type": "report", "event": "dead", "node_id": "edge-1", "count": 1}
            await ws.send(json.dumps(fake))
            with pytest.raises(ConnectionClosed):
                await drain_until_closed(ws)
        async with connect(url, additional_headers=auth) as ws:
            await ws.recv()
            real = {"type": "report", "event": "tasks_resubmitted", "node_id": "edge-1", "count": 3}
            await ws.send(json.dumps(real))
        # A client with a client token follows the table and runs tasks through it.
        async with Client([], controller=ws_url(secured), token=token("client", "cam-1")) as client:
            await client.wait_for_nodes(1)
            assert await client.map("echo", range(20), where="edge") == list(range(20))

    run(main())
    status, events = http("GET", f"{secured.url}/api/events?node_id=edge-1", token("admin"))
    assert status == 200
    kinds = [e["kind"] for e in events]
    assert "dead" not in kinds and kinds.count("joined") == 1
    resubmitted = wait_for(
        lambda: [
            e
            for e in http("GET", f"{secured.url}/api/events", token("admin"))[1]
            if e["kind"] == "tasks_resubmitted"
        ],
        what="the client's report",
    )
    assert resubmitted[0]["detail"] == "3 tasks by cam-1"


def test_a_controller_without_a_secret_stays_open_on_loopback(controller_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    open_controller = controller_factory("--store", f"sqlite:///{tmp_path}/open.db")
    assert http("GET", f"{open_controller.url}/api/nodes")[0] == 200
    assert os.environ.get("EDGEOFFLOAD_AUTH_SECRET") is None


def test_a_node_with_the_site_secret_signs_its_own_node_token(  # type: ignore[no-untyped-def]
    secured, secret_file, node_factory
) -> None:
    """Kubernetes pods and compose services hold the site secret, and their node id is
    known only at run time: such a node needs no token made for it beforehand."""
    node = node_factory(
        "--workers", "1", "--controller", ws_url(secured), "--node-id", "pod-7f3a",
        "--auth-secret-file", str(secret_file),
    )  # fmt: skip
    wait_for(lambda: [(r["node_id"], r["url"]) for r in rows(secured)] == [("pod-7f3a", node.url)],
             what="the node joined with a token of its own")  # fmt: skip


# -- node identity: the client checks that a table URL is served by the node the
# controller registered there (edgeoffload.identity) ------------------------------------


async def register_by_hand(controller: NodeProcess, node_id: str, url: str, public_key: str) -> Any:
    """Register ``node_id`` at ``url`` with ``public_key`` as the node itself would (its
    node token), and keep it alive with beats: the controller then vouches for that key
    at that URL. Returns the open link (close it to end the registration)."""
    from edgeoffload.metrics import NodeMetrics

    metrics = NodeMetrics(
        cpu_percent=1.0, load_avg_1m=0.0, memory_available_bytes=2**33, swap_used_bytes=0,
        disk_free_bytes=2**40, disk_read_bytes_per_s=0.0, disk_write_bytes_per_s=0.0,
        net_recv_bytes_per_s=0.0, net_sent_bytes_per_s=0.0, queue_length=0, running_tasks=0,
        completed_per_s=0.0, failed_per_s=0.0, p95_task_ms=None, open_connections=0,
        process_rss_bytes=2**27,
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {token('node', node_id)}"}
    ws = await connect(ws_url(controller) + "/ws/node", additional_headers=auth)
    hello = {
        "type": "hello", "node_id": node_id, "url": url, "cores": 1, "speed_hz": 1e9,
        "tasks": ["echo"], "public_key": public_key,
    }  # fmt: skip
    await ws.send(json.dumps(hello))

    async def beats() -> None:
        seq = 0
        while True:
            seq += 1
            beat = {"type": "beat", "node_id": node_id, "seq": seq}
            beat["metrics"] = json.loads(msgspec.json.encode(metrics))
            await ws.send(json.dumps(beat))
            await asyncio.sleep(0.3)

    ws.beats = asyncio.create_task(beats())  # type: ignore[attr-defined]
    return ws


def test_a_client_refuses_a_table_node_that_holds_another_key_than_registered(  # type: ignore[no-untyped-def]
    secured, node_factory, secret_file, tmp_path
) -> None:
    """An impostor at the URL the controller's table gives (a process that took the
    port, a name resolving elsewhere) used to get the client's tasks and return made-up
    results: the client now refuses it at the welcome, with Unauthorized naming the
    node and the reason, and sends it no task."""
    from edgeoffload.errors import Unauthorized
    from edgeoffload.identity import NodeIdentity

    registered = NodeIdentity.generate().public_key  # the key of the real edge-9
    impostor = node_factory(
        "--workers", "1", "--node-id", "edge-9", "--auth-secret-file", str(secret_file)
    )  # fmt: skip

    async def main() -> None:
        link = await register_by_hand(secured, "edge-9", impostor.url, registered)
        try:
            wait_for(lambda: [r["node_id"] for r in rows(secured)] == ["edge-9"],
                     what="edge-9 registered")  # fmt: skip
            async with Client(
                [], controller=ws_url(secured), token=token("client", "cam-1"), wait_for_node_s=5
            ) as client:
                with pytest.raises(Unauthorized) as refused:
                    await client.submit("echo", 1, where="edge")
                message = str(refused.value)
                assert "edge-9" in message and impostor.url in message, message
                assert "signature does not match" in message, message
        finally:
            link.beats.cancel()
            await link.close()

    run(main())


def test_a_client_accepts_the_node_whose_key_the_controller_registered(  # type: ignore[no-untyped-def]
    secured, node_factory, secret_file, tmp_path
) -> None:
    """The rightful node, started with its key file, registers its own key and
    proves it at every welcome (the key file it made, mode 0600, holds that key)."""
    from edgeoffload.identity import NodeIdentity

    key_file = tmp_path / "edge-1.key"
    node_factory(
        "--workers", "1", "--controller", ws_url(secured), "--node-id", "edge-1",
        "--auth-secret-file", str(secret_file), "--identity-key-file", str(key_file),
    )  # fmt: skip
    expected = NodeIdentity.load_or_create(str(key_file)).public_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    wait_for(
        lambda: [(r["node_id"], r["public_key"]) for r in rows(secured)] == [("edge-1", expected)],
        what="edge-1 registered its key",
    )

    async def main() -> None:
        async with Client([], controller=ws_url(secured), token=token("client", "cam-1")) as client:
            await client.wait_for_nodes(1)
            assert await client.map("echo", range(10), where="edge") == list(range(10))

    run(main())


def test_a_bad_identity_key_file_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    from tests.conftest import edgeoffload

    junk = tmp_path / "junk.key"
    junk.write_text("not a key\n")
    for path, why in [
        (junk, "holds no unencrypted PEM key"),
        (tmp_path / "no/dir.key", "cannot write"),
    ]:
        result = edgeoffload("node", "--port", "0", "--identity-key-file", str(path), timeout=60)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0] and str(path) in lines[0], lines
