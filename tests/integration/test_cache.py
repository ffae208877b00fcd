"""The data-locality cache with a real node process and a real client: a repeated
1 MB input crosses the socket once, a cacheable task's repeated call is answered from
the node's cache (marked, delivered once), the node's /metrics counts it, and a
restarted node (an empty cache) gets the bytes again through need_input."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import numpy as np

import edgeoffload.examples.tasks as ex
from edgeoffload import Client
from tests.conftest import run, start_node

FRAME = (
    (np.arange(1000 * 1000, dtype=np.uint32) * 2654435761 % 251)
    .astype(np.uint8)
    .reshape(1000, 1000)
)


def metric(url: str, name: str) -> float:
    base = url.replace("ws://", "http://").removesuffix("/offload")
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^edgeoffload_node_{name}{{[^}}]*}} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_repeated_inputs_and_results_and_a_restart(node_factory) -> None:  # type: ignore[no-untyped-def]
    first = node_factory("--workers", "1", "--cache-bytes", "16000000")
    port = first.url.split(":")[2].split("/")[0]

    async def main() -> None:
        async with Client([first.url], reconnect_min_s=0.05, reconnect_max_s=0.2) as client:
            want = ex.inspect_frame(FRAME)
            for _ in range(3):
                assert await client.submit(ex.inspect_frame, FRAME, where="edge") == want
            stats = client.statistics()
            size = FRAME.nbytes
            assert stats.input_bytes_saved >= 2 * size and stats.inputs_resent == 0
            # A cacheable task: the second call is the node's cached answer.
            handles = []
            for _ in range(2):
                handle = client.submit_nowait(ex.count_primes, [20_000], where="edge")
                assert await handle == 2262
                handles.append(handle)
            assert [h._record.cached for h in handles] == [False, True]  # type: ignore[union-attr]
            await asyncio.sleep(1.1)  # /metrics serves one sample per second
            assert metric(first.url, "cache_bytes_saved") >= 2 * size
            assert metric(first.url, "cache_hits") == 3  # two inputs, one result
            assert metric(first.url, "cache_hit_percent") > 0
            # The node restarts on the same port: its cache is empty.
            first.kill()
            await asyncio.sleep(0.3)
            again = start_node("--workers", "1", "--port", port, "--cache-bytes", "16000000")
            try:
                await client.wait_for_nodes(1, timeout_s=10)
                assert await client.submit(ex.inspect_frame, FRAME, where="edge") == want
                after = client.statistics()
                assert after.inputs_resent == 1 and after.failed == 0
                assert after.completed_edge == stats.completed_edge + 3
            finally:
                again.stop()

    run(main())


def test_bench_cache_measures_both_sides(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys

    command = [sys.executable, "-m", "edgeoffload", "bench", "cache", "--out", str(tmp_path)]
    done = subprocess.run(
        [*command, "--n", "2", "--size-mb", "0.2"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "cache.json").read_text())
    # The first call fills the cache; the second task's calls all find the frame.
    size = result["frame_bytes"]
    rows = result["tasks"]
    assert [rows[t]["no_cache"]["bytes_saved"] for t in rows] == [0, 0]
    assert [rows[t]["cache"]["bytes_saved"] for t in rows] == [2 * size, 3 * size]
    assert result["node_cache_bytes_saved"] >= 5 * size
    assert (
        result["load_avg_before"]
        and "cache" in (tmp_path / "docs" / "performance-cache.md").read_text()
    )
    bad = subprocess.run([*command, "--n", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--n must be >= 1" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_frame_histogram_counts_every_grey_level() -> None:
    small = FRAME[:10, :10]
    assert ex.frame_histogram(small) == np.bincount(small.reshape(-1), minlength=256).tolist()
    assert sum(ex.frame_histogram(FRAME)) == FRAME.size


def test_the_controller_shows_a_nodes_cache(controller_factory, node_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.test_controller import http, node_rows, wait_for, ws_url

    controller = controller_factory("--store", f"sqlite:///{tmp_path}/c.db")
    node = node_factory("--workers", "1", "--controller", ws_url(controller))
    wait_for(lambda: node_rows(controller), what="the node registered")

    async def main() -> None:
        async with Client([node.url]) as client:
            for _ in range(3):
                await client.submit(ex.frame_histogram, FRAME, where="edge")

    run(main())
    row = wait_for(
        lambda: next((r for r in node_rows(controller) if r["cache_bytes_saved"] > 0), None),
        what="a heartbeat with the cache's counters",
    )
    assert row["cache_bytes_saved"] >= 2 * FRAME.nbytes and row["cache_hit_percent"] > 0
    status, text = http("GET", f"{controller.url}/metrics")
    assert status == 200 and "edgeoffload_node_cache_bytes_saved{" in text
    samples = http("GET", f"{controller.url}/api/nodes/{row['node_id']}/metrics")[1]
    assert samples[-1]["metrics"]["cache_hits"] >= 3  # two inputs and a result at least
