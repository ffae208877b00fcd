"""The AOI example end to end: a real node serving examples.aoi.tasks, run.py against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import NodeProcess

ROOT = Path(__file__).resolve().parents[2]


def test_run_py_inspects_parts_on_a_real_node(node_factory: Callable[..., NodeProcess]) -> None:
    node = node_factory("--tasks", "examples.aoi.tasks", "--workers", "1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    argv = [sys.executable, "-m", "examples.aoi.run", "--url", node.url, "--n", "8"]
    proc = subprocess.run(
        [*argv, "--policy", "always_edge", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["n"] == 8 and report["failed"] == 0 and report["wrong"] == 0
    assert report["offload_share"] == 1.0  # every frame judged on the node
    assert report["by_group"]["part"]["count"] == 8
    # The default policy (auto) runs too, and prints one figure per line.
    proc = subprocess.run(
        [*argv, "--seed", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "policy auto" in proc.stdout and "deadline misses:" in proc.stdout
