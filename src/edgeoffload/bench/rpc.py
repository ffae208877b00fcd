"""``edgeoffload bench rpc``: the offload data path against its peers and its ceiling.

On loopback, in one run, side by side, with the same tiny task (echo of an int):

- sequential round trips (p50, p99);
- throughput of ``--tasks`` tasks with ``--in-flight`` outstanding: edgeoffload with the
  task inline (run in the node's event loop), in the process pool, and with batching
  off; HTTP/1.1 keep-alive (aiohttp); Ray (``ray.remote``, num_cpus=2); Dask
  distributed (LocalCluster, ``client.submit(pure=False)``);
- the ceiling: a bare websockets + msgpack echo with no task layer, one message per
  frame, and the same messages packed as many per frame as edgeoffload's batching packed
  them in its own run (the mean batch size it measured).

Every server runs in its own process; the client side runs here. On a 2-core machine
single runs swing by tens of percent, so edgeoffload and the ceiling are measured in
``--rounds`` alternating rounds against the same server processes: throughputs are the
median of the rounds, latencies pool the samples of all rounds. Writes
OUT/rpc.json and the table in docs/performance.md.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from edgeoffload.cli import Parser

from . import peers
from .common import (
    machine,
    python,
    start_process,
    stop_process,
    summary_ms,
    update_doc_section,
    write_json,
)


async def _edgeoffload(url: str, sequential: int, total: int, in_flight: int) -> dict[str, Any]:
    from edgeoffload import Client

    out: dict[str, Any] = {}
    async with Client([url]) as client:
        await client.map("echo", range(500), window=in_flight)  # warm-up
        latencies = []
        for i in range(sequential):
            t0 = time.perf_counter()
            await client.submit("echo", i)
            latencies.append(time.perf_counter() - t0)
        out["latencies"] = latencies
        link = client.nodes[0]
        frames0, sent0 = link.submit_frames, link.submits_sent
        for key, task in (("edgeoffload", "echo"), ("edgeoffload_pool", "echo_pool")):
            await client.map(task, range(500), window=in_flight)  # warm the path
            t0 = time.perf_counter()
            result = await client.map(task, range(total), window=in_flight)
            out[key] = total / (time.perf_counter() - t0)
            assert result == list(range(total))
            if key == "edgeoffload":
                out["mean_batch"] = (link.submits_sent - sent0) / max(
                    1, link.submit_frames - frames0
                )
    async with Client([url], batching=False) as client:
        await client.map("echo", range(500), window=in_flight)
        t0 = time.perf_counter()
        await client.map("echo", range(total), window=in_flight)
        out["edgeoffload_unbatched"] = total / (time.perf_counter() - t0)
    return out


def _run_peer(name: str, fn: Callable[[], Any], skipped: dict[str, str]) -> Any:
    try:
        return fn()
    except ImportError as exc:
        skipped[name] = f"not installed ({exc.name}); `pip install -e '.[bench]'`"
    except Exception as exc:
        skipped[name] = f"failed: {type(exc).__name__}: {exc}"
        traceback.print_exc()
    return None


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench rpc")
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per throughput run")
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--sequential", type=int, default=2000, help="sequential round trips")
    parser.add_argument("--startup-runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--profile-tasks", type=int, default=100_000, help="0: no profile")
    parser.add_argument("--peers", default="http,ray,dask", help="comma list of peers to run")
    args = parser.parse_args(argv)
    total, in_flight, seq = args.tasks, args.in_flight, args.sequential
    chosen = set(filter(None, args.peers.split(",")))
    skipped: dict[str, str] = {}

    print(f"edgeoffload: {total} tasks, {in_flight} in flight, {seq} sequential", flush=True)
    node, url = start_process(
        [python(), "-m", "edgeoffload", "node", "--port", "0", "--workers", "2"]
    )
    ceiling_proc, ceiling_url = peers.start_ceiling()
    rounds: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            ours = asyncio.run(_edgeoffload(url, seq, total, in_flight))
            per_frame = max(1, round(ours["mean_batch"]))
            c_lat, c_unbatched, c_batched = peers.ceiling(
                ceiling_url, seq, total, in_flight, per_frame
            )
            ours.update(c_latencies=c_lat, ceiling_unbatched=c_unbatched, ceiling_batched=c_batched)
            rounds.append(ours)
            print(
                f"round {r + 1}: edgeoffload {ours['edgeoffload']:,.0f}/s "
                f"(ceiling {c_batched:,.0f}/s at {per_frame} per frame), unbatched "
                f"{ours['edgeoffload_unbatched']:,.0f}/s (ceiling {c_unbatched:,.0f}/s)",
                flush=True,
            )
    finally:
        stop_process(node)
        stop_process(ceiling_proc)
    ours = {
        key: statistics.median(r[key] for r in rounds)
        for key in ("edgeoffload", "edgeoffload_pool", "edgeoffload_unbatched", "mean_batch")
    }
    ours["latencies"] = [x for r in rounds for x in r["latencies"]]
    c_lat = [x for r in rounds for x in r["c_latencies"]]
    c_unbatched = statistics.median(r["ceiling_unbatched"] for r in rounds)
    c_batched = statistics.median(r["ceiling_batched"] for r in rounds)
    per_frame = max(1, round(ours["mean_batch"]))

    results: dict[str, Any] = {}
    for name in ("http", "ray", "dask"):
        if name not in chosen:
            skipped[name] = "not selected (--peers)"
            continue
        print(f"{name} ...", flush=True)
        fn = getattr(peers, name)
        results[name] = _run_peer(name, partial(fn, min(seq, 1000), total, in_flight), skipped)

    from .startup import measure

    startup = measure(args.startup_runs)
    print("profile ...", flush=True)
    from . import profile_rpc

    profile = profile_rpc.profile(args.profile_tasks) if args.profile_tasks else "not requested"

    throughput = {
        "edgeoffload": round(ours["edgeoffload"]),
        "edgeoffload_pool": round(ours["edgeoffload_pool"]),
        "edgeoffload_unbatched": round(ours["edgeoffload_unbatched"]),
        "http": round(results["http"][1]) if results.get("http") else None,
        "ray": round(results["ray"][1]) if results.get("ray") else None,
        "dask": round(results["dask"][1]) if results.get("dask") else None,
        "ceiling_batched": round(c_batched),
        "ceiling_unbatched": round(c_unbatched),
    }
    latency = {
        "edgeoffload": summary_ms(ours["latencies"]),
        "http": summary_ms(results["http"][0]) if results.get("http") else None,
        "ray": summary_ms(results["ray"][0]) if results.get("ray") else None,
        "dask": summary_ms(results["dask"][0]) if results.get("dask") else None,
        "ceiling": summary_ms(c_lat),
    }
    ratios = _ratios(throughput, latency)
    data = {
        "machine": machine("ray", "dask", "distributed", "aiohttp"),
        "command": "edgeoffload bench rpc " + " ".join(argv),
        "workload": {
            "task": "echo(int)",
            "tasks": total,
            "in_flight": in_flight,
            "sequential": seq,
            "ceiling_messages_per_frame": per_frame,
            "edgeoffload_mean_batch": round(ours["mean_batch"], 1),
            "rounds": args.rounds,
        },
        "throughput_per_s": throughput,
        "latency_ms": latency,
        "startup_ms": startup["ready_ms_median"],
        "startup_first_hello_ms": startup["first_hello_ms_median"],
        "ratios": ratios,
        "skipped": skipped,
        "profile": profile,
    }
    write_json("rpc.json", data)
    update_doc_section("performance.md", "rpc", _table(data))
    print(_table(data))
    return 0


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def _ratios(tp: dict[str, Any], lat: dict[str, Any]) -> dict[str, Any]:
    """The targets of the data-path issue, as ratios measured in this run."""
    return {
        "batched_vs_ceiling": {
            "value": _ratio(tp["edgeoffload"], tp["ceiling_batched"]),
            "target": ">= 0.5",
        },
        "unbatched_vs_ceiling": {
            "value": _ratio(tp["edgeoffload_unbatched"], tp["ceiling_unbatched"]),
            "target": ">= 0.5",
        },
        "vs_ray": {"value": _ratio(tp["edgeoffload"], tp["ray"]), "target": ">= 20"},
        "vs_http": {"value": _ratio(tp["edgeoffload"], tp["http"]), "target": ">= 10"},
        "p50_vs_ceiling": {
            "value": _ratio(lat["edgeoffload"]["p50"], lat["ceiling"]["p50"]),
            "target": "<= 1.5",
        },
    }


def _table(d: dict[str, Any]) -> str:
    tp, lat, w = d["throughput_per_s"], d["latency_ms"], d["workload"]

    def fmt_tp(key: str) -> str:
        v = tp.get(key)
        return "skipped" if v is None else f"{v:,}"

    def fmt_lat(key: str, q: str) -> str:
        v = lat.get(key)
        return "" if v is None else f"{v[q]:.3f}"

    rows = [
        ("edgeoffload (inline task, batched)", "edgeoffload", "edgeoffload"),
        ("edgeoffload (process pool)", "edgeoffload_pool", None),
        ("edgeoffload (batching off)", "edgeoffload_unbatched", None),
        ("HTTP/1.1 keep-alive (aiohttp)", "http", "http"),
        ("Ray (ray.remote, num_cpus=2)", "ray", "ray"),
        ("Dask distributed (LocalCluster)", "dask", "dask"),
        (
            f"ceiling, batched ({w['ceiling_messages_per_frame']} per frame)",
            "ceiling_batched",
            None,
        ),
        ("ceiling, one per frame", "ceiling_unbatched", "ceiling"),
    ]
    lines = [
        "## RPC: edgeoffload against HTTP, Ray, Dask and the transport's ceiling",
        "",
        f"`{d['command'].strip()}` on {d['machine']['cores']} cores ({d['machine']['cpu']}), "
        f"Python {d['machine']['python']}, loopback. Tiny task `echo(int)`; throughput of "
        f"{w['tasks']:,} tasks with {w['in_flight']} in flight; {w['sequential']:,} sequential "
        "round trips (Ray and Dask: at most 1,000). Every server in its own process. "
        f"edgeoffload and the ceiling: median of {w['rounds']} alternating rounds.",
        "",
        "| path | tasks/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for label, tp_key, lat_key in rows:
        p50 = fmt_lat(lat_key, "p50") if lat_key else ""
        p99 = fmt_lat(lat_key, "p99") if lat_key else ""
        lines.append(f"| {label} | {fmt_tp(tp_key)} | {p50} | {p99} |")
    lines += [
        "",
        f"Node start-up (READY line, median of runs): {d['startup_ms']} ms; first hello answered: "
        f"{d['startup_first_hello_ms']} ms.",
        "",
        "| target | measured | goal |",
        "|---|---:|---|",
    ]
    for name, r in d["ratios"].items():
        lines.append(f"| {name} | {r['value']} | {r['target']} |")
    if d["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in d["skipped"].items())]
    p = d["profile"]
    if isinstance(p, dict):
        from . import profile_rpc

        lines += [
            "",
            "### Where the time goes",
            "",
            f"py-spy sampled both processes (without pausing them) while {p['tasks']:,} echo "
            f"tasks ran with {p['in_flight']} in flight ({p['throughput_per_s']:,} tasks/s "
            "during the sample). Each sample's innermost Python frame is attributed to where "
            "its code lives; the shares are scaled by each process's CPU time per task. Time "
            "in C code (msgspec, the socket syscalls) counts towards the Python frame that "
            "called it.",
            "",
            profile_rpc.table(p),
        ]
    return "\n".join(lines) + "\n"
