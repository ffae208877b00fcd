"""``edgeoffload bench startup``: node process start to ready, median of repeated runs.

Four moments are measured from the moment ``Popen`` is called: the node's READY line
(its socket listens), the first hello answered over a real WebSocket (it serves inline
tasks), ``/readyz`` first answering 200 (every worker started and warm: what an
orchestrator waits for), and the first pool task answered (a task that needs a
worker). Each run waits for the previous node to exit completely.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from typing import Any

from edgeoffload.cli import Parser

from .common import core_speed, machine, python, update_doc_section, write_json

TARGET_MS = 300.0


async def _hello(url: str) -> None:
    from websockets.asyncio.client import connect

    from edgeoffload.protocol.codec import Codec
    from edgeoffload.protocol.messages import PROTOCOL_VERSION, Hello, Welcome

    codec = Codec()
    async with connect(url, compression=None) as ws:
        await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "bench")))
        assert isinstance(codec.decode(await ws.recv(decode=False)), Welcome)


async def _first_pool_task(url: str) -> None:
    """Submit one pool task (``echo_pool``) as soon as the node welcomes us; return when
    it is answered."""
    from websockets.asyncio.client import connect

    from edgeoffload.protocol.codec import Codec
    from edgeoffload.protocol.messages import PROTOCOL_VERSION, Hello, Result, Submit

    codec = Codec()
    async with connect(url, compression=None) as ws:
        await ws.send(codec.encode(Hello(PROTOCOL_VERSION, "bench-pool")))
        await ws.recv(decode=False)
        await ws.send(codec.encode(Submit(1, "echo_pool", [1])))
        while not isinstance(codec.decode(await ws.recv(decode=False)), Result):
            pass


def _wait_ready(url: str, timeout_s: float = 30.0) -> None:
    """Poll the node's ``/readyz`` every 2 ms until it answers 200."""
    import urllib.error
    import urllib.request

    probe = url.replace("ws://", "http://").replace("/offload", "/readyz")
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(probe, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"{probe} never answered 200")


def _bare_start_ms() -> float:
    """Milliseconds from ``Popen`` of a bare interpreter to its first line: the part of
    a node's start-up no code of ours can shorten."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([python(), "-c", "print('READY')"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    elapsed = (time.perf_counter() - t0) * 1000
    proc.wait(20)
    proc.stdout.close()
    return elapsed


def measure(runs: int) -> dict[str, Any]:
    ready: list[float] = []
    serving: list[float] = []
    warm: list[float] = []
    first_task: list[float] = []
    bare: list[float] = []
    speed = [core_speed()]
    cmd = [python(), "-m", "edgeoffload", "node", "--port", "0"]
    for _ in range(runs):
        bare.append(_bare_start_ms())
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        t_ready = time.perf_counter()
        if not line.startswith("READY "):
            proc.kill()
            raise RuntimeError("node did not start")
        url = line.split()[1]
        asyncio.run(_hello(url))
        t_serving = time.perf_counter()
        _wait_ready(url)
        warm.append((time.perf_counter() - t0) * 1000)
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()
        # The first pool task, on a fresh node (submitted as soon as it welcomes): what
        # a client sees of the warm-up if it does not wait for readiness.
        t1 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        asyncio.run(_first_pool_task(proc.stdout.readline().split()[1]))
        first_task.append((time.perf_counter() - t1) * 1000)
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()
        ready.append((t_ready - t0) * 1000)
        serving.append((t_serving - t0) * 1000)
    return {
        "runs": runs,
        "ready_ms_median": round(statistics.median(ready), 1),
        "ready_ms_min": round(min(ready), 1),
        "ready_ms_max": round(max(ready), 1),
        "first_hello_ms_median": round(statistics.median(serving), 1),
        "readyz_ms_median": round(statistics.median(warm), 1),
        "first_pool_task_ms_median": round(statistics.median(first_task), 1),
        "bare_python_ms_median": round(statistics.median(bare), 1),
        "core_mloops_per_s": [*speed, core_speed()],
        "target_ms": TARGET_MS,
        "command": " ".join(["edgeoffload", "node", "--port", "0"]),
    }


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench startup")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    result = {"machine": machine(), **measure(args.runs)}
    write_json("startup.json", result)
    update_doc_section(
        "performance.md",
        "startup",
        "## Node start-up\n\n"
        f"`edgeoffload bench startup --runs {args.runs}`: from `Popen` of `edgeoffload node` "
        "to its "
        "READY line (listening), to the first hello answered over a real WebSocket (serving "
        "inline tasks), to `/readyz` answering 200 (every worker warm: what an orchestrator "
        "waits for), and, on a fresh node, to the first pool task answered.\n\n"
        "| measure | median | min | max |\n|---|---|---|---|\n"
        f"| READY line | {result['ready_ms_median']} ms | {result['ready_ms_min']} ms | "
        f"{result['ready_ms_max']} ms |\n"
        f"| first hello answered | {result['first_hello_ms_median']} ms | | |\n"
        f"| `/readyz` 200 (workers warm) | {result['readyz_ms_median']} ms | | |\n"
        f"| first pool task answered | {result['first_pool_task_ms_median']} ms | | |\n"
        f"| bare `python -c` (for scale) | {result['bare_python_ms_median']} ms | | |\n\n"
        f"Target: ready within {TARGET_MS:.0f} ms. The machine is shared: a plain Python loop "
        f"ran at {result['core_mloops_per_s'][0]} and {result['core_mloops_per_s'][1]} M "
        "iterations/s before and after the runs (compare start-up times only at similar "
        "speeds).\n",
    )
    print(
        f"startup: READY median {result['ready_ms_median']} ms, "
        f"first hello {result['first_hello_ms_median']} ms, /readyz 200 "
        f"{result['readyz_ms_median']} ms, first pool task "
        f"{result['first_pool_task_ms_median']} ms ({args.runs} runs)"
    )
    return 0
