"""``edgeoffload bench e2e``: one application, end to end, over an emulated network that
replays a real bandwidth trace, from a CPU-capped device to real node processes.

``edgeoffload bench e2e --example NAME --trace REF [--device-cpu 0.25] [--tasks N]``:

1. builds an emulation (:mod:`edgeoffload.emulation`): a device and two edge hosts,
   every link replaying the trace (both directions) with ``--rtt-ms``; the device's CPU
   is capped at ``--device-cpu`` of a core and its CPU time is accounted (a cgroup);
2. measures the capped device's speed (a CPU loop free and capped): the client's device
   model (``ClientConfig.device_cpu_hz``) is set to it, so the policies see the device
   they run on, not the host;
3. starts a node in each edge namespace serving ``examples.NAME.tasks`` (authenticated:
   the secret and the client's token go by environment, never argv);
4. runs the application's ``workload(n, seed)`` from the device (``bench/e2e_device.py``)
   once per policy: ``always_local``, ``always_edge``, ``cost_model`` and ``auto`` (the
   shipped learned policy), every one from the trace's first step (the replay restarts
   when the requests start) with the same requests;
   each request carries its deadline to the client, as an application's would (the
   policies decide with it; the client gives a late task up at it, a miss, whose
   latency counts as the time it was given up);
5. kills a node (edge0) halfway through an ``auto`` run (no deadlines: every task must end)
   and counts tasks, completed, lost and duplicated answers (each task must complete exactly once);
6. with a node that has the runtime cache (``--cache-bytes``), runs
   ``workload(n, seed, repeat=True)`` edge-only with the cache off and on.

Device energy comes from the client's power model (``decision/features.py``
``PowerModel``, the one the policies decide with): compute ``kappa f^2`` per cycle for
the CPU time the device's cgroup used (cycles = CPU seconds x the host core's speed,
since the cap takes time away, not cycles), transmit and receive power for each
offloaded task's radio time (its bytes over the trace's rate at that moment), idle
power for the rest of the run.

``--example`` is a package under ``examples`` (``aoi``) or a dotted package name (the
tests use ``tests.apps.tiny``). Writes OUT/e2e-NAME.json (and a per-trace copy
e2e-NAME.TRACE.json, plus the per-request details in OUT/e2e-NAME.TRACE.detail.json),
the plots in docs/img/ and a section of docs/evaluation.md. Every figure depends on the
machine's load (recorded): the device, the nodes and the delay relay share its cores.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeoffload.cli import Parser
from edgeoffload.errors import ConfigError

from .common import DEST, machine, percentile, python, write_json

POLICIES = ("always_local", "always_edge", "cost_model", "auto")
#: Each run's wall-clock budget beyond its workload's length (connect, imports, drain).
RUN_SLACK_S = 60.0
#: The device's budget to print READY: imports, a first connection to every node, the
#: learned policy's first decision (numba compiles its kernel once per install: 10-25 s
#: on this loaded machine).
WARMUP_S = 180.0


def first_line(proc: subprocess.Popen[str], budget_s: float) -> str:
    """The first line ``proc`` prints, or "" if it exits or hangs first: it is killed
    once ``budget_s`` has passed, so a warm-up that never ends (a node that never
    answers the connect) cannot hang the benchmark."""
    assert proc.stdout is not None
    watchdog = threading.Timer(budget_s, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        return proc.stdout.readline()
    finally:
        watchdog.cancel()


@dataclass
class Setup:
    """What every run of one benchmark shares."""

    app: str
    name: str
    trace_ref: str
    trace: Any
    n: int
    seed: int
    rtt_ms: float
    device_cpu: float
    host_hz: float = 0.0
    device_hz: float = 0.0
    cpu_probe: dict[str, Any] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    slug: str = ""  # the trace's part of file names

    @property
    def example(self) -> str:
        """The ``--example`` that names this app again (:func:`example_arg`), for the
        command the report prints: the report reads it here, not importing this
        module (which imports the report)."""
        return example_arg(self.app)


def app_package(example: str) -> str:
    """``aoi`` -> ``examples.aoi``; a dotted name is taken as given."""
    if not re.fullmatch(r"[A-Za-z_][\w.]*", example):
        raise ConfigError(f"--example {example!r}: not a package name")
    return example if "." in example else f"examples.{example}"


def example_name(app: str) -> str:
    """The name in file and section names: ``examples.aoi`` -> ``aoi``; a variant under
    an example keeps that example's prefix (``examples.aoi.tray`` -> ``aoi_tray``, so
    its results sit beside ``e2e-aoi*``); another package its last part
    (``tests.apps.tiny`` -> ``tiny``)."""
    if app.startswith("examples."):
        return app.removeprefix("examples.").replace(".", "_")
    return app.rsplit(".", 1)[-1]


def example_arg(app: str) -> str:
    """The ``--example`` that names ``app`` again (for the command the docs print):
    ``examples.aoi`` -> ``aoi``, any deeper package spelled out."""
    return (
        app.removeprefix("examples.")
        if app.count(".") == 1 and app.startswith("examples.")
        else app
    )


def _tx_bytes(ns: str, interfaces: list[str]) -> int:
    out = subprocess.run(
        ["ip", "-n", ns, "-s", "-j", "link", "show"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return sum(
        int(link["stats64"]["tx"]["bytes"])
        for link in json.loads(out)
        if link.get("ifname") in interfaces
    )


class Nodes:
    """The node processes, one per edge namespace, started and stopped by index."""

    def __init__(self, emu: Any, app: str, secret: str, extra: list[str]) -> None:
        self.emu, self.app, self.extra = emu, app, extra
        self.env = {**os.environ, "EDGEOFFLOAD_AUTH_SECRET": secret}
        self.procs: dict[int, subprocess.Popen[str]] = {}

    def url(self, i: int) -> str:
        return f"ws://{self.emu.edge_addresses[i]}:8765/offload"

    def start(self, i: int) -> None:
        argv = self.emu.edge_argv(
            i,
            [
                python(),
                "-m",
                "edgeoffload",
                "node",
                "--host",
                self.emu.edge_addresses[i],
                "--port",
                "8765",
                "--node-id",
                f"edge{i}",
                "--tasks",
                f"{self.app}.tasks",
                *self.extra,
            ],
        )
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=self.env)
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("READY "):
                break
            if not line:
                proc.wait()
                raise RuntimeError(f"node {i} did not start (exit {proc.returncode})")
        # the rest of its output must not fill the pipe and block it
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        self.procs[i] = proc

    def kill(self, i: int) -> None:
        proc = self.procs.pop(i)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for i in list(self.procs):
            proc = self.procs.pop(i)
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_policy(
    emu: Any,
    acct: Any,
    setup: Setup,
    policy: str,
    token: str,
    *,
    urls: list[str],
    repeat: bool = False,
    at_halfway: Any = None,
    check: int = 10,
    deadlines: bool = True,
) -> dict[str, Any]:
    """One device run; its raw outcome (records, CPU seconds, uplink bytes, timings)."""
    spec = {
        "app": setup.app,
        "n": setup.n,
        "seed": setup.seed,
        "repeat": repeat,
        "urls": urls,
        "policy": policy,
        "device_cpu_hz": setup.device_hz,
        "cpu_usage_file": str(acct.usage_path) if acct is not None else None,
        "check": check,
        "deadlines": deadlines,
    }
    argv = emu.device_argv([python(), "-m", "edgeoffload.bench.e2e_device", json.dumps(spec)])
    if acct is not None:
        argv = acct.wrap(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEOFFLOAD_")}
    env["EDGEOFFLOAD_CLIENT__TOKEN"] = token
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    timer: threading.Timer | None = None
    try:
        line = first_line(proc, WARMUP_S)
        if line.strip() != "READY":
            proc.wait(30)
            raise RuntimeError(
                f"the device run ({policy}) did not start within {WARMUP_S:.0f} s: {line!r} "
                f"(exit {proc.returncode})"
            )
        dev = emu.plan.links[0].device_ns
        ifs = [link.device_if for link in emu.plan.links]
        tx0 = _tx_bytes(dev, ifs)
        replay_start = emu.restart_replay()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if at_halfway is not None:
            timer = threading.Timer(at_halfway[0], at_halfway[1])
            timer.start()
        result = None
        # a hung device run (a task that never settles) must not hang the benchmark:
        # killed at its budget, its missing result is then the error raised below
        watchdog = threading.Timer(RUN_SLACK_S + setup.n * 2.0, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        while True:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("RESULT "):
                result = dict(json.loads(line[len("RESULT ") :]))
                break
        tx1 = _tx_bytes(dev, ifs)
        proc.wait(60)
        watchdog.cancel()
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    if result is None:
        raise RuntimeError(f"the device run ({policy}) gave no result (exit {proc.returncode})")
    result["uplink_bytes"] = tx1 - tx0
    result["replay_start"] = replay_start
    result["policy"] = policy
    return result


def summarise(setup: Setup, run: dict[str, Any]) -> dict[str, Any]:
    """The JSON figures of one policy's run (module docstring: energy)."""
    from edgeoffload.decision.features import PowerModel

    from .e2e_report import link_radio_seconds, offload_share, placed_on_nodes, throughput_per_s

    power = PowerModel()
    recs = run["records"]
    ok = [r for r in recs if r.get("error") is None and "end" in r]
    # a task given up at its deadline counts with the time it was given up: leaving it
    # out would make a policy that misses look fast
    timed = ok + [r for r in recs if "end" in r and _gave_up(r)]
    lat = sorted((r["end"] - r["sent"]) * 1000.0 for r in timed)
    with_deadline = [r for r in recs if r.get("deadline_s") is not None]
    missed = sum(
        1
        for r in with_deadline
        if r.get("error") is not None or "end" not in r or r["end"] - r["sent"] > r["deadline_s"]
    )
    wall = run["t_end"] - run["t0"]
    offloaded = placed_on_nodes(recs)  # given up or not, their bytes went out
    at = run["replay_start"]
    # the radio carried what the interface counted: frames given up before their turn
    # on a slow link never went out (Norway edge-only: 14.8 of 39 MB placed)
    placed_bytes = sum(r["in_bytes"] for r in offloaded)
    sent = min(1.0, run["uplink_bytes"] / placed_bytes) if placed_bytes else 0.0
    t_tx = link_radio_seconds(
        setup.trace, [(r["sent"] - at, r["in_bytes"] * sent) for r in offloaded]
    )
    # no end: never answered, nothing came back
    t_rx = link_radio_seconds(
        setup.trace, [(r.get("end", r["sent"]) - at, r["out_bytes"]) for r in offloaded]
    )
    cpu_s = run["cpu_s"] or 0.0
    cycles = cpu_s * setup.host_hz
    e_cpu = power.kappa * setup.device_hz**2 * cycles
    busy_s = cycles / setup.device_hz if setup.device_hz else 0.0
    idle_s = max(0.0, wall - busy_s - t_tx - t_rx)
    energy = e_cpu + power.transmit_w * t_tx + power.receive_w * t_rx + power.idle_w * idle_s
    return {
        "latency_ms": {
            "p50": round(percentile(lat, 0.50), 2),
            "p95": round(percentile(lat, 0.95), 2),
            "p99": round(percentile(lat, 0.99), 2),
        },
        "deadline_miss_rate": round(missed / len(with_deadline), 4) if with_deadline else 0.0,
        "throughput_per_s": throughput_per_s(recs, wall),
        "uplink_bytes": int(run["uplink_bytes"]),
        "device_energy_j": round(energy, 4),
        "offload_share": offload_share(recs),
    }


def _gave_up(record: dict[str, Any]) -> bool:
    return str(record.get("error") or "").startswith("DeadlineExceeded")


def failover_counts(run: dict[str, Any]) -> dict[str, int]:
    """Exactly-once accounting: every task delivered once, none twice, none never."""
    delivered = run["delivered"]
    recs = run["records"]
    completed = sum(
        1 for r, d in zip(recs, delivered, strict=True) if d >= 1 and r.get("error") is None
    )
    return {
        "tasks": len(recs),
        "completed": completed,
        "lost": len(recs) - completed,
        "duplicates": sum(max(0, d - 1) for d in delivered),
    }


def prepare_policies(policies: list[str]) -> None:
    """Load each policy once here, before the device runs, so that what it builds on
    disk is there for them: the learned policy's numba kernel is compiled on its first
    decision, on a background thread (4.6 s of host CPU), and written to numba's cache
    when done; a device run under a 0.25-CPU cap ends before that, so without this every
    ``auto`` run compiled it again, on the device's quota. A device that has run the
    policy once loads the cache (about 0.5 s of host CPU), as it does now."""
    from edgeoffload.client.auto import make_policy

    for name in policies:
        scorer = getattr(make_policy(name), "scorer", None)
        if scorer is not None and hasattr(scorer, "kernel"):
            scorer.kernel(wait=True)


def measure_device(emu: Any, additions: int) -> tuple[float, float, dict[str, Any]]:
    """(host core Hz, capped device Hz, the probe's figures).

    The host core is taken as the reference core the task hints count cycles of and the
    client assumes for a node it knows nothing about (``DEFAULT_SPEED_HZ``): the nodes
    run on this host's cores, so device and nodes are measured on one scale. (The OS
    gives no frequency here, and the 20-ms calibration of ``hostinfo`` read anything
    from 1.0 to 3.5 GHz on this shared machine.) The device gets the CPU share the
    capped loop really had (CPU seconds per wall second: the quota, or less when the
    machine is busy), measured, not assumed.
    """
    from edgeoffload.client.placement import DEFAULT_SPEED_HZ
    from edgeoffload.emulation.measure import measure_cpu

    probe = measure_cpu(emu, additions)
    host = float(DEFAULT_SPEED_HZ)
    return host, host * min(1.0, probe["capped_cpu_share"]), probe


def halfway_s(app: str, n: int, seed: int) -> float:
    """When the middle request is sent (seconds from the start): the node kill's time."""
    import importlib

    requests = importlib.import_module(f"{app}.workload").workload(n, seed)
    return float(requests[n // 2].at_s)


def node_has_cache() -> bool:
    out = subprocess.run(
        [python(), "-m", "edgeoffload", "node", "--help"], capture_output=True, text=True
    ).stdout
    return "--cache-bytes" in out


def trace_slug(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", Path(ref).stem if Path(ref).is_file() else ref).strip("_")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench e2e")
    parser.add_argument("--example", required=True, help="examples/NAME, or a dotted package")
    parser.add_argument("--trace", required=True, help="DATASET:NAME or a two-column file")
    parser.add_argument("--device-cpu", type=float, default=0.25, help="device CPU share")
    parser.add_argument("--tasks", type=int, default=120, help="requests per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="added round trip")
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated")
    parser.add_argument("--no-failover", action="store_true", help="skip the node kill run")
    parser.add_argument("--no-cache", action="store_true", help="skip the cache on/off runs")
    parser.add_argument("--no-sim", action="store_true", help="skip the simulator comparison")
    parser.add_argument("--cache-bytes", type=int, default=256 << 20, help="node cache size")
    parser.add_argument("--additions", type=int, default=20_000_000, help="CPU probe length")
    args = parser.parse_args(argv)
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the emulation is torn down
    signal.signal(signal.SIGTERM, _interrupt)
    if not 0 < args.device_cpu <= 1:
        parser.error(f"--device-cpu must be in (0, 1], got {args.device_cpu}")
    if args.tasks < 2:
        parser.error(f"--tasks must be at least 2, got {args.tasks}")
    policies = [p for p in args.policies.split(",") if p]
    from edgeoffload.client.auto import check_policy_name

    for p in policies:
        check_policy_name(p)
    from edgeoffload.emulation import available
    from edgeoffload.emulation.traceref import load_trace_ref
    from edgeoffload.tasks import search_from

    app = app_package(args.example)
    search_from(os.getcwd())
    try:
        __import__(f"{app}.workload")
    except ImportError as exc:
        raise ConfigError(
            f"--example {args.example}: cannot import {app}.workload: {exc}"
        ) from None
    trace = load_trace_ref(args.trace)
    reason = available()
    if reason:
        print(f"edgeoffload bench e2e: cannot emulate here: {reason}", file=sys.stderr)
        return 1
    name = example_name(app)
    setup = Setup(app, name, args.trace, trace, args.tasks, args.seed, args.rtt_ms, args.device_cpu)
    slug = setup.slug = trace_slug(args.trace)
    result = run_all(setup, policies, args)
    write_json(f"e2e-{name}.json", result["json"])
    write_json(f"e2e-{name}.{slug}.json", result["json"])
    detail = DEST.out / f"e2e-{name}.{slug}.detail.json"
    detail.parent.mkdir(parents=True, exist_ok=True)
    detail.write_text(json.dumps(result["detail"]) + "\n")
    print(f"wrote {detail}")
    from .e2e_report import report

    report(setup, slug, result)
    return 0


def run_all(setup: Setup, policies: list[str], args: Any) -> dict[str, Any]:
    from edgeoffload.auth import make_token
    from edgeoffload.emulation import Emulation, symmetric_spec
    from edgeoffload.emulation.cpu import CpuAccount

    prepare_policies(policies)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.monotonic()
    secret = secrets.token_hex(32)
    token = make_token(secret, "e2e-device", "client", 3600)
    spec = symmetric_spec(
        edges=2, trace=setup.trace, rtt_ms=setup.rtt_ms, device_cpu=setup.device_cpu
    )
    detail: dict[str, Any] = {"runs": {}}
    out_policies: dict[str, Any] = {}
    failover: dict[str, Any] = {}
    cache: dict[str, Any] = {"hit_rate": None, "uplink_bytes_saved": None, "latency_saved_ms": None}
    with Emulation(spec) as emu:
        acct = CpuAccount(emu.plan.cgroup_name)
        try:
            setup.host_hz, setup.device_hz, setup.cpu_probe = measure_device(emu, args.additions)
            print(
                f"device: {setup.device_hz / 1e9:.3f} GHz under a {setup.device_cpu:g} cap "
                f"(host core {setup.host_hz / 1e9:.3f} GHz, slowdown "
                f"{setup.cpu_probe['slowdown']}, CPU share {setup.cpu_probe['capped_cpu_share']})",
                flush=True,
            )
            has_cache = node_has_cache()
            # the policies' runs have fresh inputs: no cache (the warm-up repeats the
            # first request's, which a cache would then answer)
            nodes = Nodes(emu, setup.app, secret, ["--cache-bytes", "0"] if has_cache else [])
            try:
                for i in range(2):
                    nodes.start(i)
                urls = [nodes.url(i) for i in range(2)]
                for policy in policies:
                    run = run_policy(emu, acct, setup, policy, token, urls=urls)
                    out_policies[policy] = summarise(setup, run)
                    detail["runs"][policy] = run
                    print(policy, json.dumps(out_policies[policy]), flush=True)
                if not args.no_failover:
                    at = halfway_s(setup.app, setup.n, setup.seed)
                    run = run_policy(
                        emu,
                        acct,
                        setup,
                        "auto",
                        token,
                        urls=urls,
                        # edge0: the placement takes the first node on a tie, so it
                        # has the tasks in flight when auto offloads little
                        at_halfway=(at, lambda: nodes.kill(0)),
                        deadlines=False,  # every task must complete: none may be given up
                    )
                    failover = failover_counts(run)
                    detail["runs"]["failover"] = run
                    detail["failover_extra"] = {
                        "killed_at_s": at,
                        "resubmitted": run["client"]["resubmitted"],
                        "finished_on": {
                            n: sum(1 for r in run["records"] if r.get("node") == n)
                            for n in ("local", "edge0", "edge1")
                        },
                        "retried": sum(1 for r in run["records"] if (r.get("attempts") or 0) > 1),
                    }
                    print("failover", json.dumps(failover), detail["failover_extra"], flush=True)
            finally:
                nodes.stop_all()
            if not args.no_cache and has_cache:
                cache, detail["cache"] = cache_runs(emu, acct, setup, secret, token, args)
        finally:
            acct.remove()
    detail["applied_changes"] = None
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    mach = machine("onnxruntime", "scipy")
    mach["loadavg_before"] = load_before
    mach["loadavg_after"] = load_after
    mach["seconds"] = round(time.monotonic() - started, 1)
    mach["device_hz"] = round(setup.device_hz)
    mach["host_hz"] = round(setup.host_hz)
    mach["cpu_probe"] = setup.cpu_probe
    mach["rtt_ms"] = setup.rtt_ms
    mach["tasks"] = setup.n
    mach["seed"] = setup.seed
    sim = None
    if not args.no_sim:
        from .e2e_sim import simulate

        sim = simulate(setup, policies, out_policies, detail["runs"])
    detail["sim"] = sim
    return {
        "json": {
            "machine": mach,
            "trace": setup.trace_ref,
            "device_cpu_share": setup.device_cpu,
            "policies": out_policies,
            "failover": failover,
            "cache": cache,
        },
        "detail": detail,
        "sim": sim,
    }


def cache_lookups(run: dict[str, Any]) -> tuple[int, int]:
    """What a cache could have answered in ``run``, and what it did, as the node counts
    its hits: each answer from a node (its result cache: a hit when the answer was
    cached) and each argument sent hash-first (its input store: a hit when it went as
    its digest only, the node holding the bytes)."""
    records = run["records"]
    answers = sum(1 for r in records if r.get("node") not in (None, "local"))
    cached = sum(1 for r in records if r.get("cached"))
    client = run["client"]
    return answers + client["inputs_hashed"], cached + client["inputs_held"]


def cache_runs(
    emu: Any, acct: Any, setup: Setup, secret: str, token: str, args: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The repetitive workload edge-only, nodes without and then with a cache: edge-only
    so that both runs send the same requests to the nodes (under auto, a run-to-run
    change of decisions moved more bytes than the cache saved)."""
    out: dict[str, Any] = {}
    for label, size in (("off", 0), ("on", args.cache_bytes)):
        nodes = Nodes(emu, setup.app, secret, ["--cache-bytes", str(size)])
        try:
            for i in range(2):
                nodes.start(i)
            urls = [nodes.url(i) for i in range(2)]
            out[label] = run_policy(emu, acct, setup, "always_edge", token, urls=urls, repeat=True)
        finally:
            nodes.stop_all()
    off, on = summarise(setup, out["off"]), summarise(setup, out["on"])
    lookups, hits = cache_lookups(out["on"])
    return (
        {
            "hit_rate": round(hits / lookups, 4) if lookups else 0.0,
            "uplink_bytes_saved": off["uplink_bytes"] - on["uplink_bytes"],
            "latency_saved_ms": round(off["latency_ms"]["p50"] - on["latency_ms"]["p50"], 2),
        },
        {"off": off, "on": on},
    )
