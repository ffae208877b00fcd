"""The nodes' data-locality cache as the controller shows it: the node table (REST,
status) carries each node's hit share and bytes saved from its last heartbeat, the
page's metrics include the cache's, and `edgeoffload status` prints them."""

from __future__ import annotations

import msgspec

from edgeoffload.cli.status import render
from edgeoffload.controller import web
from edgeoffload.controller.membership import Membership
from tests.unit.controller.test_membership import hello, metrics


def test_a_heartbeat_carries_the_cache_counters_into_the_node_table() -> None:
    m = Membership()
    m.register(hello(), 0.0)
    sample = msgspec.structs.replace(metrics(), cache_hit_percent=68.0, cache_bytes_saved=4_200_000)
    m.beat("n1", sample, 1.0)
    view = m.get("n1")
    assert view is not None and (view.cache_hit_percent, view.cache_bytes_saved) == (
        68.0,
        4_200_000,
    )
    assert {"cache_hit_percent", "cache_bytes_saved"} <= {name for name, _, _ in web.METRICS}


def test_status_prints_the_cache_columns() -> None:
    from rich.console import Console

    row = dict(
        node_id="n1", state="alive", draining=False, queue_length=0, running_tasks=0,
        cpu_percent=5.0, url="ws://n1/offload", cache_hit_percent=68.0, cache_bytes_saved=4_200_000,
    )  # fmt: skip
    snapshot = {"controller": "http://c", "nodes": [row], "events": [], "serving": True}
    console = Console(width=200, record=True)
    console.print(render(snapshot))
    text = console.export_text()
    assert "cache hit %" in text and "68" in text and "4.2 MB" in text
