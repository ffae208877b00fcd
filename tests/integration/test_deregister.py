"""A graceful stop deregisters a node, a crash does not: SIGTERM gives ``left`` (kept
in the table and the event log), SIGKILL still gives ``suspect`` then ``dead``. Real
node processes, a real controller, REST and ``edgeoffload status`` (issue 15)."""

from __future__ import annotations

import json
import signal
import time

from tests.conftest import edgeoffload
from tests.integration.test_controller import http, node_rows, wait_for, ws_url


def states(controller) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {r["node_id"]: r["state"] for r in node_rows(controller)}


def kinds(controller, node_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    events = http("GET", f"{controller.url}/api/events?node_id={node_id}")[1]
    return [e["kind"] for e in events]


def snapshot_states(controller, query: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from websockets.asyncio.client import connect

    from tests.conftest import run

    async def first() -> dict[str, str]:
        async with connect(ws_url(controller) + "/ws/subscribe" + query) as ws:
            snapshot = json.loads(await ws.recv())
        return {n["node_id"]: n["state"] for n in snapshot["nodes"]}

    return run(first())  # type: ignore[no-any-return]


def test_sigterm_leaves_and_sigkill_dies(controller_factory, node_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    controller = controller_factory(
        "--store", f"sqlite:///{tmp_path}/c.db", "--heartbeat-interval-s", "0.2"
    )
    nodes = {
        name: node_factory("--workers", "1", "--controller", ws_url(controller),
                           "--node-id", name, "--heartbeat-interval-s", "0.2")
        for name in ("calm", "crash")
    }  # fmt: skip
    wait_for(lambda: states(controller) == {"calm": "alive", "crash": "alive"}, what="joined")

    assert nodes["calm"].stop(timeout=15) == 0  # SIGTERM: drain, then goodbye
    wait_for(lambda: states(controller)["calm"] == "left", 10, "calm left")
    nodes["crash"].signal(signal.SIGKILL)
    wait_for(lambda: states(controller)["crash"] == "dead", 20, "crash declared dead")
    time.sleep(1.0)  # five heartbeat periods more: a node that left is never suspected

    assert states(controller) == {"calm": "left", "crash": "dead"}
    assert kinds(controller, "calm") == ["joined", "left"]
    assert kinds(controller, "crash") == ["joined", "suspect", "dead"]
    events = http("GET", f"{controller.url}/api/events?node_id=calm")[1]
    assert events[-1]["detail"] == "stopped by SIGTERM"

    shown = edgeoffload("status", "--controller", controller.url, "--json")
    snapshot = json.loads(shown.stdout)
    shown_states = {n["node_id"]: n["state"] for n in snapshot["nodes"]}
    assert shown_states == {"calm": "left", "crash": "dead"}
    table = edgeoffload("status", "--controller", controller.url)
    assert "left" in table.stdout and "dead" in table.stdout

    page = http("GET", f"{controller.url}/")[1]
    assert 'data-state="left"' in page and "state-left" in page
    # A client older than the "left" state (no ?states=left) is shown the node as dead:
    # it could not decode "left" and would lose the whole table.
    assert snapshot_states(controller, "") == {"calm": "dead", "crash": "dead"}
    assert snapshot_states(controller, "?states=left") == {"calm": "left", "crash": "dead"}

    css = http("GET", f"{controller.url}/static/dashboard.css")[1]
    assert '.node[data-state="left"]' in css and ".state-left.badge" in css
