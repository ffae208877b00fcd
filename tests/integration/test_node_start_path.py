"""What a real ``edgeoffload node`` process imports before it says READY.

At 0.1 CPU each millisecond of start-up CPU costs about ten of cold start
(docs/deployment.md), so a module on this path that the node does not need is a
finding. Read from the process itself: ``python -X importtime`` prints every import as
it finishes, on stderr, and the READY line follows on the same pipe, so what comes
before READY is exactly the start path (the worker pool's forkserver, also under
``-X importtime``, starts after it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Imported before READY once, never needed there: why each is not.
NOT_ON_THE_START_PATH = {
    # websockets.version imports it and a released websockets never uses it (10 ms).
    "importlib.metadata": "deferred by edgeoffload.cli.startup",
    # argparse's stock formatter, for the terminal's width (2.5 ms with bz2, lzma).
    "shutil": "edgeoffload.cli.HelpFormatter",
    # Only for a --config file or a TOML value in the environment.
    "tomllib": "imported by config.load when there is a file",
    "json": "only --log-format json",
    # The controller agent's side: a node without a controller never connects out.
    "websockets.asyncio.client": "imported by start_agent with a controller",
    "urllib.request": "websockets' proxy support, for the agent",
    # The metrics (psutil, prometheus_client) load after the workers, off the loop.
    "prometheus_client": "loaded in the background after READY",
    "psutil": "loaded in the background after READY",
    # The node's identity key (35 modules, about 45 ms): made at its first use.
    "cryptography": "imported by edgeoffload.identity when a key is first needed",
}


def imports_before_ready(*args: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "edgeoffload", "node", "--port", "0",
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    modules = []
    try:
        for line in proc.stdout:
            if line.startswith("READY "):
                return modules
            if line.startswith("import time:") and "|" in line:
                modules.append(line.rsplit("|", 1)[1].strip())
        pytest.fail(f"the node ended before READY (exit {proc.wait(10)}): {modules[-5:]}")
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()
    raise AssertionError("unreachable")


def test_a_node_imports_only_what_it_needs_before_ready() -> None:
    modules = imports_before_ready("--workers", "1")
    assert "websockets.asyncio.server" in modules and "asyncio" in modules  # it did read
    unneeded = {m: why for m, why in NOT_ON_THE_START_PATH.items() if m in modules}
    assert unneeded == {}
