"""The ultrasound example end to end: a real node serving ``examples.ultrasound.tasks`` (found
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
        [sys.executable, "-m", "examples.ultrasound.run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ},
    )


def test_run_py_against_a_node_serving_the_ultrasound_tasks(
    node_factory: Callable[..., NodeProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the node finds examples.ultrasound.tasks from the current folder
    node = node_factory("--tasks", "examples.ultrasound.tasks", "--workers", "1")
    # Four frames, 1 MiB each, five a second.
    edge = run_example(
        "--url", node.url, "--n", "4", "--policy", "always_edge", "--warmup", "1", "--json"
    )
    assert edge.returncode == 0, edge.stderr
    report = json.loads(edge.stdout)
    assert report["n"] == 4 and report["failed"] == 0 and report["wrong"] == 0
    assert report["offload_share"] == 1.0 and report["by_group"]["frame"]["count"] == 4


@pytest.mark.slow
def test_run_py_auto_with_the_repetitive_frames(
    node_factory: Callable[..., NodeProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    node = node_factory("--tasks", "examples.ultrasound.tasks", "--workers", "1")
    auto = run_example("--url", node.url, "--n", "8", "--repeat", "--warmup", "1")
    assert auto.returncode == 0, auto.stderr
    assert "latency ms: p50" in auto.stdout and "offload share:" in auto.stdout


def test_bad_usage_exits_2_with_one_line() -> None:
    bad = run_example("--policy", "no_such_policy", "--n", "1")
    assert bad.returncode == 2
    assert "unknown policy 'no_such_policy'" in bad.stderr and "Traceback" not in bad.stderr
