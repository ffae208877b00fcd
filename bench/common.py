"""Helpers shared by the benchmarks: percentiles, machine facts, processes, reports."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    values = sorted(s * 1000.0 for s in seconds)
    return {
        "p50": round(percentile(values, 0.50), 4),
        "p99": round(percentile(values, 0.99), 4),
        "mean": round(statistics.fmean(values), 4),
        "n": len(values),
    }


def versions(*packages: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine(*packages: str) -> dict[str, Any]:
    cpu = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"model name\s*:\s*(.+)", text)
        cpu = match.group(1).strip() if match else ""
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions("edgeoffload", "websockets", "msgspec", "numpy", *packages),
    }


def start_process(
    args: list[str], ready_prefix: str = "READY ", timeout: float = 60.0
) -> tuple[subprocess.Popen[str], str]:
    """Start a server process and return it with the rest of its ready line."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(ready_prefix):
            return proc, line[len(ready_prefix) :].strip()
        if not line:
            break
    proc.kill()
    raise RuntimeError(f"{args} did not become ready (exit {proc.wait()})")


def stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def python() -> str:
    return sys.executable


def write_json(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def update_doc_section(doc: str, section: str, markdown: str) -> Path:
    """Replace the text between ``<!-- bench:SECTION -->`` markers in docs/DOC (or add it)."""
    path = DOCS / doc
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    text = path.read_text() if path.exists() else f"# {doc.removesuffix('.md').title()}\n"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def core_speed() -> float:
    """Million simple Python loop iterations per second now: how fast a core is under
    the current load (the machine is shared; compare figures only at similar speeds)."""
    n = 2_000_000
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return round(n / (time.perf_counter() - start) / 1e6, 1)
