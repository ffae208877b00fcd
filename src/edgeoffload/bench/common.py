"""Helpers shared by the benchmarks: percentiles, machine facts, processes, reports.

Where a benchmark writes: only where it was told (:class:`Destination`). By default its
JSON and its markdown sections go to ``./edgeoffload-results`` (``--out DIR``), a folder
of the user's; ``--update-docs`` also refreshes the repository's ``bench/results/`` and
the sections of ``docs/`` between ``<!-- bench:NAME -->`` markers, which needs a source
checkout. Every file written is named on stdout. (``OUT`` in the benchmarks' docstrings
is the output folder.)
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: Where a benchmark writes unless told otherwise (relative to the current folder).
DEFAULT_OUT = Path("edgeoffload-results")


def checkout() -> Path | None:
    """The source checkout this package runs from (``src/edgeoffload/bench`` under it,
    with ``docs/`` and ``bench/results/``), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[3]
    if (root / "docs").is_dir() and (root / "bench" / "results").is_dir():
        return root
    return None


@dataclass
class Destination:
    """Where the running benchmark writes (set once by ``edgeoffload bench``)."""

    out: Path = DEFAULT_OUT
    update_docs: bool = False
    #: Each results file written so far, with its data (``bench --json`` prints them).
    written: list[tuple[str, Any]] = field(default_factory=list)


DEST = Destination()


def configure(out: Path | None, update_docs: bool) -> None:
    """Set :data:`DEST`; ``update_docs`` outside a checkout is a usage error."""
    if update_docs and checkout() is None:
        raise ConfigError(
            "--update-docs refreshes a source checkout's docs/ and bench/results/, and this "
            "package is not running from one; use --out DIR"
        )
    DEST.out = out if out is not None else DEFAULT_OUT
    DEST.update_docs = update_docs


def _repo(*parts: str) -> Path:
    root = checkout()
    assert root is not None  # configure() checked
    return root.joinpath(*parts)


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
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(ready_prefix):
            return proc, line[len(ready_prefix) :].strip()
        if not line:
            break
    proc.kill()
    code = proc.wait()
    proc.stdout.close()  # else its pipe leaks (a ResourceWarning)
    raise RuntimeError(f"{args} did not become ready (exit {code})")


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


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}", flush=True)
    return path


def write_json(name: str, data: Any) -> Path:
    """Write ``name`` into the output folder (and ``bench/results/`` with
    ``--update-docs``); returns the output folder's file."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    path = _write(DEST.out / name, text)
    DEST.written.append((name, data))
    if DEST.update_docs:
        _write(_repo("bench", "results", name), text)
    return path


def read_json(name: str) -> Any:
    """A results file written before (to merge a partial run into), from where this
    run writes: the repository's ``bench/results/`` with ``--update-docs``, else the
    output folder; None if there is none."""
    path = _repo("bench", "results", name) if DEST.update_docs else DEST.out / name
    return json.loads(path.read_text()) if path.exists() else None


def update_doc_section(doc: str, section: str, markdown: str) -> Path:
    """Write a doc section: to ``OUT/docs/DOC-SECTION.md``, and with ``--update-docs``
    between the ``<!-- bench:SECTION -->`` markers of the repository's docs/DOC (added at
    its end if missing)."""
    path = _write(DEST.out / "docs" / f"{Path(doc).stem}-{section}.md", markdown.rstrip() + "\n")
    if not DEST.update_docs:
        return path
    target = _repo("docs", doc)
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    text = target.read_text() if target.exists() else f"# {doc.removesuffix('.md').title()}\n"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    return _write(target, text)


def core_speed() -> float:
    """Million simple Python loop iterations per second now: how fast a core is under
    the current load (the machine is shared; compare figures only at similar speeds)."""
    n = 2_000_000
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return round(n / (time.perf_counter() - start) / 1e6, 1)
