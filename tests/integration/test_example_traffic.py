"""The traffic example end to end: a real node serving ``examples.traffic.tasks`` (found
from the current folder, as ``edgeoffload node --tasks`` is documented to), and the
example's ``run.py`` against it as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import NodeProcess

ROOT = Path(__file__).resolve().parents[2]


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "examples.traffic.run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ},
    )


def test_run_py_against_a_node_serving_the_traffic_tasks(
    node_factory: Callable[..., NodeProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the node finds examples.traffic.tasks from the current folder
    node = node_factory("--tasks", "examples.traffic.tasks", "--workers", "1")
    # 22 tasks: two intersections, ten seconds of readings, one plan each; sent ten
    # times faster than real time to keep the test short.
    edge = run_example(
        "--url", node.url, "--n", "22", "--policy", "always_edge", "--time-scale", "0.1", "--json"
    )
    assert edge.returncode == 0, edge.stderr
    report = json.loads(edge.stdout)
    assert report["n"] == 22 and report["failed"] == 0 and report["wrong"] == 0
    assert report["offload_share"] == 1.0
    assert report["by_group"]["cycle"]["count"] == 2
    auto = run_example("--url", node.url, "--n", "22", "--time-scale", "0.1")
    assert auto.returncode == 0, auto.stderr
    assert "latency ms: p50" in auto.stdout and "offload share:" in auto.stdout


def test_bad_usage_exits_2_with_one_line() -> None:
    bad = run_example("--policy", "no_such_policy", "--n", "1")
    assert bad.returncode == 2
    assert "unknown policy 'no_such_policy'" in bad.stderr and "Traceback" not in bad.stderr
