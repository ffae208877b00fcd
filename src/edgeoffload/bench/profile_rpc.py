"""Where the time of a batched tiny-task run goes, on both sides (py-spy sampling).

py-spy samples the node process and this (client) process from outside, without
pausing them (``--nonblocking``), while ``--tasks`` echo tasks run with ``--in-flight``
outstanding. Each sample's innermost frame is grouped by where its code lives; idle
samples (the event loop waiting in epoll) are not taken, so the shares are of the CPU
each side spends. Multiplied by the CPU time per task, they give microseconds per task.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from typing import Any

import psutil

from .common import python, start_process, stop_process

GROUPS = (
    ("websockets (framing, reading, writing)", ("/websockets/",)),
    ("asyncio event loop and transports", ("/asyncio/", "/selectors.py")),
    ("msgspec encode/decode", ("msgspec",)),
    ("edgeoffload: protocol", ("/edgeoffload/protocol/",)),
    ("edgeoffload: client (ownership, placement, map)", ("/edgeoffload/client/",)),
    ("edgeoffload: node (submits, results, scheduler)", ("/edgeoffload/node/",)),
    ("edgeoffload: other (tasks, execution, transport)", ("/edgeoffload/",)),
)
OTHER = "other (stdlib, builtins)"
_LEAF = re.compile(r"\(([^()]*):\d+\)\s*$")


def _group(leaf: str) -> str:
    match = _LEAF.search(leaf)
    where = match.group(1) if match else leaf
    for label, keys in GROUPS:
        if any(key in where for key in keys):
            return label
    return OTHER


def _shares(raw_file: str) -> dict[str, float]:
    counts: Counter[str] = Counter()
    with open(raw_file) as f:
        for line in f:
            stack, _, n = line.rstrip().rpartition(" ")
            if not stack or not n.isdigit():
                continue
            counts[_group(stack.split(";")[-1])] += int(n)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.items()}


def _spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(python()), "py-spy")
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "500",
            "--format",
            "raw",
            "--output",
            out,
            "--nonblocking",
            "--full-filenames",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _workload(
    url: str, tasks: int, in_flight: int, node_pid: int, tmp: str
) -> dict[str, Any]:
    from edgeoffload import Client

    me, node = psutil.Process(os.getpid()), psutil.Process(node_pid)
    async with Client([url]) as client:
        await client.map("echo", range(5000), window=in_flight)
        spies = [_spy(os.getpid(), f"{tmp}/client.txt"), _spy(node_pid, f"{tmp}/node.txt")]
        await asyncio.sleep(1.0)  # py-spy attaches
        cpu0 = (sum(me.cpu_times()[:2]), sum(node.cpu_times()[:2]))
        t0 = time.perf_counter()
        await client.map("echo", range(tasks), window=in_flight)
        elapsed = time.perf_counter() - t0
        cpu1 = (sum(me.cpu_times()[:2]), sum(node.cpu_times()[:2]))
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(30)
    return {
        "elapsed": elapsed,
        "client_cpu_us_per_task": (cpu1[0] - cpu0[0]) / tasks * 1e6,
        "node_cpu_us_per_task": (cpu1[1] - cpu0[1]) / tasks * 1e6,
    }


def profile(tasks: int = 100_000, in_flight: int = 200) -> dict[str, Any] | str:
    """Profile one run; returns the breakdown, or why it could not be made."""
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(python()), "py-spy")
    if not os.path.exists(exe):
        return "py-spy not installed (pip install -e '.[bench]')"
    tmp = tempfile.mkdtemp(prefix="edgeoffload-profile-")
    node, url = start_process(
        [python(), "-m", "edgeoffload", "node", "--port", "0", "--workers", "1"]
    )
    try:
        run = asyncio.run(_workload(url, tasks, in_flight, node.pid, tmp))
    finally:
        stop_process(node)
    try:
        client_share, node_share = _shares(f"{tmp}/client.txt"), _shares(f"{tmp}/node.txt")
    except OSError as exc:
        return f"py-spy produced no profile ({exc}); it needs ptrace (root or CAP_SYS_PTRACE)"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c_cpu, n_cpu = run["client_cpu_us_per_task"], run["node_cpu_us_per_task"]
    return {
        "tasks": tasks,
        "in_flight": in_flight,
        "throughput_per_s": round(tasks / run["elapsed"]),
        "client_cpu_us_per_task": round(c_cpu, 2),
        "node_cpu_us_per_task": round(n_cpu, 2),
        "client_us_per_task": {k: round(v * c_cpu, 2) for k, v in client_share.items()},
        "node_us_per_task": {k: round(v * n_cpu, 2) for k, v in node_share.items()},
    }


def table(p: dict[str, Any]) -> str:
    groups = [g for g, _ in GROUPS] + [OTHER]
    lines = ["| where the CPU goes | client µs/task | node µs/task |", "|---|---:|---:|"]
    for g in groups:
        c, n = p["client_us_per_task"].get(g, 0.0), p["node_us_per_task"].get(g, 0.0)
        if c or n:
            lines.append(f"| {g} | {c:.2f} | {n:.2f} |")
    lines.append(
        f"| **all (process CPU time / tasks)** | **{p['client_cpu_us_per_task']:.2f}** | "
        f"**{p['node_cpu_us_per_task']:.2f}** |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    result = profile(50_000)
    print(result if isinstance(result, str) else table(result))
