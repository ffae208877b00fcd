"""A real controller process with real nodes and clients: registration, the 15
metrics as a time series, the pushed node table, drain and resume, failure detection,
restarts, and the REST API's errors."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from edgeoffload import Client
from edgeoffload.metrics import METRIC_NAMES
from tests.conftest import NodeProcess, run, start_controller


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data = response.read()
            status = response.status
            kind = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        data, status, kind = err.read(), err.code, err.headers.get("Content-Type", "")
    return status, (json.loads(data) if "json" in kind else data.decode())


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ws_url(controller: NodeProcess) -> str:
    return controller.url.replace("http://", "ws://")


def node_rows(controller: NodeProcess) -> list[dict[str, Any]]:
    status, nodes = http("GET", f"{controller.url}/api/nodes")
    assert status == 200
    return nodes  # type: ignore[no-any-return]


def test_nodes_register_report_metrics_and_clients_follow_the_table(
    controller_factory, node_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    nodes = [
        node_factory("--workers", "1", "--controller", ws_url(controller), "--labels", "zone=a")
        for _ in range(2)
    ]
    rows = wait_for(
        lambda: len(node_rows(controller)) == 2 and node_rows(controller), what="2 nodes"
    )
    assert {r["url"] for r in rows} == {n.url for n in nodes}
    assert all(
        r["state"] == "alive" and "echo" in r["tasks"] and r["labels"] == {"zone": "a"}
        for r in rows
    )
    node_id = rows[0]["node_id"]

    samples = wait_for(
        lambda: (
            (s := http("GET", f"{controller.url}/api/nodes/{node_id}/metrics")[1])
            and len(s) >= 2
            and s
        ),
        what="metric samples",
    )
    metrics = samples[-1]["metrics"]
    for name in METRIC_NAMES:
        assert name in metrics or name == "temperature_c"  # absent where there is no sensor
    assert metrics["memory_available_bytes"] > 0 and metrics["process_rss_bytes"] > 0

    async def main() -> None:
        async with Client([], controller=ws_url(controller)) as client:
            await client.wait_for_nodes(2)
            assert await client.map("echo", range(200)) == list(range(200))

    run(main())
    status, events = http("GET", f"{controller.url}/api/events")
    assert status == 200 and [e["kind"] for e in events].count("joined") == 2


def test_drain_and_resume_through_the_api_steer_the_clients(
    controller_factory, node_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    a = node_factory("--workers", "1", "--controller", ws_url(controller), "--node-id", "node-a")
    node_factory("--workers", "1", "--controller", ws_url(controller), "--node-id", "node-b")
    wait_for(lambda: len(node_rows(controller)) == 2, what="2 nodes")

    async def main() -> None:
        async with Client([], controller=ws_url(controller)) as client:
            await client.wait_for_nodes(2)
            status, row = http(
                "POST", f"{controller.url}/api/nodes/node-a/drain", b'{"reason": "maintenance"}'
            )
            assert status == 200 and row["draining"] and row["drain_reason"] == "maintenance"
            link_a = next(link for link in client.nodes if link.url == a.url)
            await asyncio.to_thread(
                wait_for, lambda: not link_a.placeable, 10, "drain seen by client"
            )
            await client.map("echo_pool", range(100), where="edge")
            assert client.statistics().completed_edge >= 100
            status, ready = http(
                "GET", a.url.replace("ws://", "http://").replace("/offload", "/readyz")
            )
            assert status == 503 and "maintenance" in ready
            status, row = http("POST", f"{controller.url}/api/nodes/node-a/resume")
            assert status == 200 and not row["draining"]
            await asyncio.to_thread(wait_for, lambda: link_a.placeable, 10, "resume seen by client")

    run(main())
    kinds = [e["kind"] for e in http("GET", f"{controller.url}/api/events?node_id=node-a")[1]]
    assert "drained" in kinds and "resumed" in kinds


def test_a_killed_node_is_declared_dead_and_a_restarted_one_recovers(
    controller_factory, node_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    node = node_factory("--workers", "1", "--controller", ws_url(controller), "--node-id", "victim")
    wait_for(lambda: node_rows(controller), what="registration")
    node.kill()
    wait_for(lambda: node_rows(controller)[0]["state"] == "dead", 20, "dead")
    port = node.url.split(":")[2].split("/")[0]
    node_factory(
        "--workers", "1", "--controller", ws_url(controller), "--node-id", "victim", "--port", port
    )
    wait_for(lambda: node_rows(controller)[0]["state"] == "alive", 20, "recovered")

    def kinds() -> list[str]:
        return [e["kind"] for e in http("GET", f"{controller.url}/api/events")[1]]

    # The table (in memory) turns alive before the event reaches the store's log (a
    # thread hop later): CI once read the log in between. Wait for the event itself.
    wait_for(lambda: "recovered" in kinds(), 10, "recovered event")
    logged = kinds()
    assert logged.index("joined") < logged.index("dead") < logged.index("recovered")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_controller_restart_loses_nothing_and_the_data_path_keeps_working(
    backend, node_factory, tmp_path, request
) -> None:  # type: ignore[no-untyped-def]
    store = (
        f"sqlite:///{tmp_path}/c.db"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    if backend == "postgresql":
        from edgeoffload.controller.store import open_store

        s = open_store(store)
        for table in ("nodes", "metrics", "events"):
            s._execute(f"DELETE FROM {table}")
        s._db.commit()
        s.close()
    controller = start_controller("--store", store)
    port = controller.url.rsplit(":", 1)[1]
    try:
        node_factory("--workers", "1", "--controller", ws_url(controller), "--node-id", "keeper")
        worker = node_factory(
            "--workers", "1", "--controller", ws_url(controller), "--node-id", "worker"
        )
        wait_for(lambda: len(node_rows(controller)) == 2, what="registration")
        status, drained = http("POST", f"{controller.url}/api/nodes/keeper/drain")
        assert status == 200 and drained["draining"]
        wait_for(
            lambda: len(http("GET", f"{controller.url}/api/nodes/keeper/metrics")[1]) >= 2,
            what="metrics",
        )

        async def main() -> None:
            async with Client([worker.url]) as client:
                controller.stop()  # the controller goes away; the data path does not care
                assert controller.proc.returncode == 0
                assert await client.map("echo_pool", range(50), where="edge") == list(range(50))

        run(main())
        restarted = start_controller("--store", store, "--port", port)
        try:
            rows = node_rows(restarted)
            assert [(r["node_id"], r["draining"]) for r in rows] == [
                ("keeper", True),
                ("worker", False),
            ]
            status, samples = http("GET", f"{restarted.url}/api/nodes/keeper/metrics?since=0")
            assert status == 200 and len(samples) >= 2
            kinds = [e["kind"] for e in http("GET", f"{restarted.url}/api/events")[1]]
            assert kinds[:3] == ["joined", "joined", "drained"]
            wait_for(
                lambda: all(r["state"] == "alive" for r in node_rows(restarted)),
                what="re-registration",
            )
        finally:
            restarted.stop()
    finally:
        controller.stop()


def test_bad_requests_get_json_4xx_and_the_openapi_document_lists_the_api(
    controller_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    base = controller.url
    cases = [
        ("GET", "/api/nodes/nope", None, 404, "not_found"),
        ("GET", "/api/nodes/nope/metrics", None, 404, "not_found"),
        ("POST", "/api/nodes/nope/drain", None, 404, "not_found"),
        ("GET", "/api/events?limit=0", None, 422, "bad_request"),
        ("GET", "/api/events?since_id=abc", None, 422, "bad_request"),
        ("GET", "/api/no/such/route", None, 404, "not_found"),
        ("POST", "/api/nodes", None, 405, "http_error"),
        # Out of the store's 64-bit range: was a 500.
        ("GET", f"/api/events?since_id={2**63}", None, 422, "bad_request"),
        # Reasons are bounded (1 KiB), bodies too (64 KiB, refused before being read whole).
        (
            "POST",
            "/api/nodes/nope/drain",
            json.dumps({"reason": "x" * 2048}).encode(),
            422,
            "bad_request",
        ),
    ]
    for method, path, body, status, error in cases:
        got, payload = http(method, base + path, body)
        assert (got, payload["error"]) == (status, error), (path, payload)
        assert "Traceback" not in json.dumps(payload)
    # A 2 MiB body is refused from its Content-Length, before it is read: the answer
    # comes while the client is still sending (so send only the start of it, as a
    # client would before the server closes; urllib would hit a broken pipe).
    from http.client import HTTPConnection

    host, port = base.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/api/nodes/nope/drain")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2 << 20))
    conn.endheaders()
    conn.send(b'{"reason": "' + b"x" * 1000)
    answer = conn.getresponse()
    assert answer.status == 413 and json.loads(answer.read())["error"] == "too_large"
    conn.close()
    status, doc = http("GET", f"{base}/openapi.json")
    assert status == 200
    for path in (
        "/api/nodes",
        "/api/nodes/{node_id}",
        "/api/nodes/{node_id}/metrics",
        "/api/nodes/{node_id}/drain",
        "/api/nodes/{node_id}/resume",
        "/api/events",
        "/api/stream",
    ):
        assert path in doc["paths"], path
    assert {"NodeView", "MetricSample", "Event", "ErrorBody"} <= set(doc["components"]["schemas"])
    assert http("GET", f"{base}/healthz")[0] == 200 and http("GET", f"{base}/readyz")[0] == 200


def test_a_hello_out_of_range_is_refused_and_failure_detection_goes_on(
    controller_factory, node_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Seen: a raw hello with ``cores = 2**63`` killed the tick loop; a silent node then
    stayed suspect forever while /readyz said ready."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    controller = controller_factory(
        "--store", f"sqlite:///{tmp_path}/c.db", "--heartbeat-interval-s", "0.2"
    )

    async def poison() -> str:
        bad = {"type": "hello", "node_id": "evil", "url": "ws://x", "cores": 2**63, "speed_hz": 1}
        async with connect(ws_url(controller) + "/ws/node") as ws:
            await ws.send(json.dumps(bad))
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                return exc.rcvd.reason if exc.rcvd is not None else ""
        return ""

    assert "cores" in run(poison())
    victim = node_factory(
        "--workers", "1", "--controller", ws_url(controller), "--heartbeat-interval-s", "0.2"
    )
    wait_for(lambda: [r["state"] for r in node_rows(controller)] == ["alive"], what="joined")
    victim.signal(signal.SIGSTOP)  # silent, socket open: only the tick loop can tell
    try:
        wait_for(lambda: node_rows(controller)[0]["state"] == "dead", 20, "declared dead")
    finally:
        victim.signal(signal.SIGCONT)
    assert http("GET", f"{controller.url}/readyz")[0] == 200
    assert "evil" not in {r["node_id"] for r in node_rows(controller)}


def test_prometheus_text_on_the_controller_and_the_node(
    controller_factory, node_factory, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client.parser import text_string_to_metric_families

    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    node = node_factory("--workers", "1", "--controller", ws_url(controller))
    wait_for(lambda: node_rows(controller), what="registration")
    status, text = http("GET", f"{controller.url}/metrics")
    families = {f.name for f in text_string_to_metric_families(text)}
    assert status == 200 and "edgeoffload_controller_nodes" in families
    node_http = node.url.replace("ws://", "http://").replace("/offload", "")
    status, text = http("GET", f"{node_http}/metrics")
    families = {f.name for f in text_string_to_metric_families(text)}
    assert status == 200
    assert {
        "edgeoffload_node_cpu_percent",
        "edgeoffload_node_queue_length",
        "edgeoffload_node_process_rss_bytes",
    } <= families
    assert http("GET", f"{node_http}/healthz")[0] == 200


def test_the_demo_runs_on_a_controllers_nodes(controller_factory, node_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The compose file's demo client: no local nodes, the controller's table instead."""
    import subprocess
    import sys

    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    for _ in range(2):
        node_factory("--workers", "1", "--controller", ws_url(controller))
    wait_for(lambda: len(node_rows(controller)) == 2, what="2 nodes")
    result = subprocess.run(
        [sys.executable, "-m", "edgeoffload", "demo", "--controller", ws_url(controller),
         "--tasks", "200", "--no-kill"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"the nodes of {ws_url(controller)}" in result.stdout
    assert "every task completed exactly once" in result.stdout


@pytest.mark.parametrize("command", ["controller", "node", "demo", "status", "sim", "bench"])
def test_every_command_takes_log_level_and_log_format(command: str) -> None:
    from tests.conftest import edgeoffload

    shown = edgeoffload(command, "--help")
    assert "--log-level" in shown.stdout and "--log-format" in shown.stdout, command
    bad = edgeoffload(command, "--log-format", "xml")
    assert bad.returncode == 2 and "invalid choice: 'xml'" in bad.stderr


def test_json_logs_of_controller_and_node_are_one_object_a_line_with_ids(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.conftest import start_node

    log_path = tmp_path / "controller.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeoffload", "controller", "--port", "0",
             "--store", f"sqlite:///{tmp_path}/c.db", "--cpu-percent-max", "100",
             "--log-format", "json", "--log-level", "INFO"],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().split()[1].replace("http://", "ws://")
    node = start_node("--workers", "1", "--controller", url, "--node-id", "n-json")
    try:
        wait_for(lambda: "n-json" in log_path.read_text(), what="the join logged")
    finally:
        node.stop()
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    joined = [r for r in records if r.get("node_id") == "n-json" and "joined" in r["message"]]
    assert joined and joined[0]["logger"] == "edgeoffload.controller"
    assert {"ts", "time", "level", "logger", "message"} <= set(joined[0])


def test_a_controller_with_a_dashboard_open_stops_on_sigterm(controller_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seen: an open /api/stream (a dashboard left open) kept the HTTP server waiting
    for the response to end, and SIGTERM never stopped the controller."""
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    stream = urllib.request.urlopen(f"{controller.url}/api/stream", timeout=10)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    lines = [stream.readline() for _ in range(4)]
    assert lines[0] == b"retry: 2000\n" and lines[2].startswith(b'data: {"type":"snapshot"')
    t0 = time.monotonic()
    controller.signal(signal.SIGTERM)
    assert controller.proc.wait(15) == 0
    assert time.monotonic() - t0 < 10
    assert stream.read() == b""  # the stream ended, it was not cut
    stream.close()


def test_a_dashboard_stream_is_let_go_when_its_page_goes(controller_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")

    def streams() -> float:
        text = http("GET", f"{controller.url}/metrics")[1]
        line = next(x for x in text.splitlines() if x.startswith("edgeoffload_controller_dash"))
        return float(line.split()[1])

    pages = [urllib.request.urlopen(f"{controller.url}/api/stream", timeout=10) for _ in range(2)]
    for page in pages:
        page.readline()
    assert streams() == 2
    pages[0].close()
    wait_for(lambda: streams() == 1, what="the closed page's stream let go")
    pages[1].close()
    wait_for(lambda: streams() == 0, what="both let go")


def test_a_405_names_the_allowed_methods(controller_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seen: 405 answers without Allow (RFC 9110 section 15.5.6 requires it)."""
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    request = urllib.request.Request(controller.url + "/api/nodes", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    info.value.close()
    assert info.value.code == 405
    assert info.value.headers.get("Allow") == "GET"
