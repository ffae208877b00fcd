"""``edgeoffload demo``: the main job on an embedded default, end to end.

Starts three local nodes as subprocesses, runs a mixed workload of the example tasks
(camera-frame inspection, CPU-bound counting, tiny calls) through one client with a
progress bar, kills one node half-way (SIGKILL) to show that its tasks are resubmitted
and none is lost or duplicated, prints a summary table, and stops every process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from .options import first_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", type=int, default=3000, help="number of tasks (default 3000)")
    parser.add_argument("--nodes", type=int, default=3, help="local nodes to start (default 3)")
    parser.add_argument("--no-kill", action="store_true", help="do not kill a node half-way")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--policy",
        default="auto",
        help="decision policy for where=auto tasks: a name (see sim list) or a model folder "
        "(default: auto)",
    )
    parser.add_argument(
        "--controller",
        metavar="URL",
        help="use the nodes of this controller's table instead of starting local ones",
    )
    parser.add_argument(
        "--token-file", metavar="FILE", help="client token for nodes and controller with a secret"
    )
    parser.add_argument(
        "--auth-secret-file",
        metavar="FILE",
        help="make a client token from the site secret in FILE (instead of --token-file)",
    )


def run(args: argparse.Namespace) -> int:
    if args.tasks < 1 or args.nodes < 1:
        sys.stderr.write("edgeoffload demo: error: --tasks and --nodes must be >= 1\n")
        return 2
    from ..decision.registry import check

    check(args.policy)  # a typo is refused before any node starts
    token = _token(args)
    if args.controller is not None:
        return asyncio.run(_workload(args, [], token))
    import tempfile

    nodes = []
    logs = tempfile.mkdtemp(prefix="edgeoffload-demo-")
    try:
        for i in range(args.nodes):
            nodes.append(_start_node(f"{logs}/node{i}.log", args.log_format))
        return asyncio.run(_workload(args, nodes, token))
    finally:
        for proc, _ in nodes:
            _stop(proc)
        print(f"node logs: {logs}")


def _token(args: argparse.Namespace) -> str | None:
    """The client token: read from --token-file, or made from --auth-secret-file."""
    if args.token_file is not None:
        return first_line(args.token_file, "--token-file")
    if args.auth_secret_file is not None:
        from ..auth import Role, make_token

        secret = first_line(args.auth_secret_file, "--auth-secret-file")
        return make_token(secret, "demo", Role.CLIENT, 3600)
    return None


def _start_node(log_path: str, log_format: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "edgeoffload", "node", "--port", "0", "--workers", "1"]
    cmd += ["--log-level", "INFO", "--log-format", log_format]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        _stop(proc)
        raise RuntimeError(f"node failed to start (exit {proc.poll()})")
    return proc, line.split()[1]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _workload_items(n: int, seed: int) -> list[tuple[str, list[Any], str]]:
    """(task, args, where) for a plant's inspection line: mostly camera frames and
    counting jobs for the edge, some tiny calls, and some work kept on the device."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, (240, 320), dtype=np.uint8) for _ in range(8)]
    for f in frames[::3]:
        f[100:140, 150:200] = 255  # a bright defect patch
    items: list[tuple[str, list[Any], str]] = []
    for i in range(n):
        r = rng.random()
        if r < 0.45:
            items.append(("inspect_frame", [frames[i % len(frames)]], "auto"))
        elif r < 0.75:
            items.append(("count_primes", [int(rng.integers(20_000, 120_000))], "auto"))
        elif r < 0.90:
            items.append(("add", [i, 0.5], "auto"))
        else:
            items.append(("count_primes", [2_000], "local"))
    return items


async def _workload(
    args: argparse.Namespace, nodes: list[tuple[subprocess.Popen[str], str]], token: str | None
) -> int:
    import logging

    from rich.console import Console
    from rich.logging import RichHandler
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    import edgeoffload.examples.tasks  # noqa: F401  (registers the tasks locally too)

    from ..client.client import Client

    console = Console()
    if args.log_format == "text":  # rich renders records above the progress bar
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.addHandler(RichHandler(console=console, show_path=False))
    items = _workload_items(args.tasks, args.seed)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    where_ran: Counter[str] = Counter()
    delivered: Counter[int] = Counter()
    killed_at: float | None = None
    where = f"the nodes of {args.controller}" if args.controller else f"{len(nodes)} nodes"
    console.print(f"[bold]edgeoffload demo[/]: {where}, {len(items)} tasks")
    for _, url in nodes:
        console.print(f"  node {url}")
    # The device computes in a worker process of its own (local_workers=1), like a
    # camera board next to its network stack, not on the event loop's thread.
    async with Client(
        [url for _, url in nodes],
        wait_for_node_s=30,
        local_workers=1,
        policy=args.policy,
        controller=args.controller,
        token=token,
    ) as client:
        await client.wait_for_nodes(max(1, len(nodes)), timeout_s=60)
        loop = asyncio.get_running_loop()
        finished = loop.create_future()
        remaining = len(items)
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("tasks", total=len(items))
            t_start = time.perf_counter()

            def on_done(index: int, t0: float, where: str):  # type: ignore[no-untyped-def]
                def done(value: Any, exc: BaseException | None) -> None:
                    nonlocal remaining
                    window.release()
                    latencies.append(time.perf_counter() - t0)
                    delivered[index] += 1
                    if exc is not None:
                        errors[type(exc).__name__] += 1
                    remaining -= 1
                    progress.advance(bar)
                    if remaining == 0 and not finished.done():
                        finished.set_result(None)

                return done

            window = asyncio.Semaphore(256)  # tasks in flight at once
            for i, (name, call_args, where) in enumerate(items):
                await window.acquire()
                p = client.submit_nowait(
                    name,
                    call_args,
                    on_done(i, time.perf_counter(), where),
                    where=where,  # type: ignore[arg-type]
                )
                where_ran["local" if where == "local" or p.node == "local" else "edge"] += 1
                if (
                    not args.no_kill
                    and killed_at is None
                    and len(nodes) > 1
                    and i == len(items) // 2
                ):
                    victim, url = nodes[-1]
                    victim.kill()
                    killed_at = time.perf_counter()
                    progress.console.print(
                        f"[red]killed node {url} (SIGKILL) with tasks in flight[/]"
                    )
            await asyncio.wait_for(finished, 300)
            elapsed = time.perf_counter() - t_start
        stats = client.statistics()

    latencies.sort()
    n = len(latencies)
    table = Table(title="summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("tasks", f"{len(items)}"),
        ("completed exactly once", f"{sum(1 for c in delivered.values() if c == 1)}"),
        ("ran on edge nodes", f"{stats.completed_edge} ({stats.completed_edge / len(items):.0%})"),
        ("ran locally", f"{stats.completed_local} ({stats.completed_local / len(items):.0%})"),
        ("latency p50", f"{latencies[n // 2] * 1000:.1f} ms"),
        ("latency p99", f"{latencies[min(n - 1, int(n * 0.99))] * 1000:.1f} ms"),
        ("throughput", f"{len(items) / elapsed:.0f} tasks/s"),
        ("errors", ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0"),
        ("resubmitted after node loss", f"{stats.resubmitted}"),
        ("late duplicates dropped", f"{stats.duplicates_dropped}"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    lost = len(items) - len(delivered)
    twice = sum(1 for c in delivered.values() if c > 1)
    if lost or twice or errors:
        console.print(
            f"[red]lost {lost}, delivered twice {twice}, errors {sum(errors.values())}[/]"
        )
        return 1
    with contextlib.suppress(Exception):
        console.print("[green]every task completed exactly once[/]")
    return 0
