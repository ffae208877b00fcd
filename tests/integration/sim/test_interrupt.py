"""SIGINT: ``sim`` says "interrupted", leaves no empty output folder, and a sweep stops
its workers at once even when only its main process gets the signal (``kill -INT``; it
took 22 s, waiting for the running points)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgeoffload", "sim", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt(proc: subprocess.Popen[str]) -> tuple[float, str]:
    """SIGINT to the process alone; (seconds until it exited, its stderr)."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return time.monotonic() - sent, err


def test_a_sweep_stops_its_workers_within_a_second(tmp_path: Path) -> None:
    proc = _start(
        "sweep", "manufacturing", "--duration", "2000", "--seeds", "1,2", "--workers", "2",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    main = psutil.Process(proc.pid)
    deadline = time.monotonic() + 30
    workers: list[psutil.Process] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = main.children(recursive=True)
    assert len(workers) >= 2, "the sweep did not start its workers"
    time.sleep(1.0)  # the points are running
    took, err = _interrupt(proc)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "edgeoffload sim: interrupted"
    assert took < 1.5, took
    _, alive = psutil.wait_procs(workers, timeout=2)
    assert not alive
    assert not (tmp_path / "out").exists()  # nothing was written: no empty folder


def test_an_interrupted_run_leaves_no_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start("run", "stress", "--duration", "60", "--out", str(out))
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    _, err = _interrupt(proc)
    assert proc.returncode == 130 and err.strip().endswith("edgeoffload sim: interrupted")
    assert not out.exists()
