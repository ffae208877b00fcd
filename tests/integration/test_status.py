"""``edgeoffload status`` against a real controller with real nodes: the table, JSON for
scripts, the exit code when no node can serve, --watch refreshing in a terminal (a
pseudo-terminal), and errors that name the URL."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time

from tests.conftest import edgeoffload
from tests.integration.test_controller import node_rows, wait_for, ws_url


def test_status_shows_nodes_and_events_and_exits_by_whether_any_node_serves(  # type: ignore[no-untyped-def]
    controller_factory, node_factory, tmp_path
) -> None:
    controller = controller_factory(
        "--store", f"sqlite:///{tmp_path}/c.db", "--heartbeat-interval-s", "0.2"
    )
    nodes = [
        node_factory("--workers", "1", "--controller", ws_url(controller), "--node-id", f"n{i}",
                     "--heartbeat-interval-s", "0.2")
        for i in range(2)
    ]  # fmt: skip
    wait_for(lambda: len(node_rows(controller)) == 2, what="2 nodes")

    shown = edgeoffload("status", "--controller", controller.url, "--json")
    assert shown.returncode == 0, shown.stderr
    snapshot = json.loads(shown.stdout)
    assert {n["node_id"]: n["state"] for n in snapshot["nodes"]} == {"n0": "alive", "n1": "alive"}
    assert snapshot["serving"] is True
    assert [e["kind"] for e in snapshot["events"]].count("joined") == 2

    table = edgeoffload("status", "--controller", ws_url(controller))  # ws:// works too
    assert table.returncode == 0, table.stderr
    assert "n0" in table.stdout and "n1" in table.stdout and "serving" in table.stdout

    for node in nodes:
        node.kill()
    wait_for(
        lambda: {r["state"] for r in node_rows(controller)} == {"dead"}, 20, "both declared dead"
    )
    down = edgeoffload("status", "--controller", controller.url, "--json")
    assert down.returncode == 1 and json.loads(down.stdout)["serving"] is False
    assert "no node can take work" in edgeoffload("status", "--controller", controller.url).stdout


def test_status_watch_refreshes_in_a_terminal(controller_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeoffload", "status", "--controller", controller.url,
         "--watch", "0.2"],
        stdin=follower, stdout=follower, stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 20
    try:
        while screen.count(b"recent events") < 2 and time.monotonic() < deadline:
            try:
                screen += os.read(leader, 65536)
            except OSError:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
        os.close(leader)
    assert screen.count(b"recent events") >= 2, screen[-500:]  # refreshed at least once
    assert code == 1  # no node at all: not serving


def test_status_names_the_controller_it_cannot_read() -> None:
    refused = edgeoffload("status", "--controller", "http://127.0.0.1:9")
    assert refused.returncode == 2
    assert "http://127.0.0.1:9/api/nodes" in refused.stderr and "refused" in refused.stderr
    bad = edgeoffload("status", "--controller", "notaurl")
    assert bad.returncode == 2 and "'notaurl' is not an http://" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
