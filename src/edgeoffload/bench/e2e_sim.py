"""``bench e2e``'s simulator side: the same application, device and trace in the
simulator (:mod:`edgeoffload.sim`), side by side with the emulated run.

The scenario is built from what the real run used, nothing tuned to its outcome:

- one device at the capped speed measured (``device_hz``), no background load (the
  client is told the same), the client's power model;
- its link: the same trace (written to a file beside the results, floored at the
  emulator's 0.01 Mbit/s) from its first sample (no random offset), both directions,
  the same added RTT, no loss; the client's bandwidth estimate before its first
  sample (50 Mbit/s) and its rule of sampling only transfers of 32 KB or more;
- two nodes at the host core's measured speed, as many cores as the machine has (a
  node's default worker count);
- one simulator app per kind of request in ``workload(n, seed)`` (task name and cycle
  hint): cycles, input bytes (as the device measures them) and output bytes from the
  task's resource hints, the request's deadline, and the very instants the requests
  were sent (``process: times``: the workload's bursts as they were).

It is run twice: on a continuous CPU of ``device_hz`` with the cycle hints (the plain
device model), and on the device as measured: the client's CPU per request from the
local-only run's cgroup accounting (:func:`client_overhead`), the CFS quota it ran
under, period-granular (:func:`quota_of`), and the client's failure detector, which
runs tasks here while a stalled link keeps heartbeats from being answered
(:func:`detector_timeout_s`).

Differences it cannot remove: the client's detector also fires when heartbeats queue
behind task bytes, and it places the tasks in flight on a node it declares dead again
(the simulator's detector sees the capacity alone, and only for tasks not yet sent);
its link is the trace, the emulated one TCP over tbf with a user-space delay relay.
"""

from __future__ import annotations

import importlib
import os
from collections import defaultdict
from typing import Any, cast

import numpy as np

from .common import DEST, percentile
from .e2e_device import payload_bytes

LABELS = {
    "always_local": "local-only",
    "always_edge": "edge-only",
    "cost_model": "cost model",
    "auto": "auto",
}


def measured_cycles(setup: Any, local_run: dict[str, Any] | None) -> dict[tuple[str, float], float]:
    """Cycles each kind of request took on the device, from the local-only run: its
    fastest (least queued) latency times the device's average speed, per (task, hint).
    Shown for reference only: under a quota the fastest latency includes the periods a
    burst waited, and a burst's requests share the CPU, so this is not a request's cost."""
    if local_run is None:
        return {}
    best: dict[tuple[str, float], float] = {}
    for r in local_run["records"]:
        if r.get("error") is None and "end" in r and r.get("cycles_hint") is not None:
            key = (r["task"], float(r["cycles_hint"]))
            best[key] = min(best.get(key, float("inf")), r["end"] - r["sent"])
    return {k: v * setup.device_hz for k, v in best.items()}


def client_overhead(setup: Any, local_run: dict[str, Any] | None) -> dict[str, float]:
    """The client's own CPU on the device, from the local-only run's cgroup accounting
    (``cpuacct.usage`` / ``cpu.stat`` over the measured window): its CPU seconds at the
    reference core's speed, less the cycle hints of the requests it ran, per request
    (``overhead_cycles``) and as a share of the device's average speed over the run's
    wall time (``load``). One run cannot tell which part scales with requests (encoding,
    the worker thread's hand-off) and which with time (heartbeats, the event loop): the
    comparison gives the simulator the part per request (the brief's model)."""
    if local_run is None or not local_run.get("cpu_s"):
        return {"overhead_cycles": 0.0, "load": 0.0, "cpu_s": 0.0, "hint_cycles": 0.0}
    recs = [r for r in local_run["records"] if r.get("cycles_hint") is not None]
    hints = float(sum(r["cycles_hint"] for r in recs))
    used = float(local_run["cpu_s"]) * setup.host_hz
    extra = max(0.0, used - hints)
    wall = local_run["t_end"] - local_run["t0"]
    return {
        "overhead_cycles": extra / max(1, len(recs)),
        "load": extra / (wall * setup.device_hz) if wall > 0 and setup.device_hz else 0.0,
        "cpu_s": float(local_run["cpu_s"]),
        "hint_cycles": hints,
    }


def quota_of(setup: Any) -> dict[str, float] | None:
    """The CPU quota the device ran under, as the simulator's ``QuotaSpec``: the period
    of the emulation's CFS cap, and the share of wall time the device may run at full
    speed. Full speed is what an uncapped loop got in the device's namespace on this
    (shared) machine (the probe's ``free_cpu_share`` of the host core), the average is
    ``device_hz`` (``capped_cpu_share``): the share is their ratio (0.25 / 0.39 = 0.64 on
    a machine at load 5: 25 ms of CPU take 64 ms of wall time at 0.39 of a core)."""
    from dataclasses import fields

    from edgeoffload.emulation.plan import EmulationSpec

    probe = setup.cpu_probe or {}
    free, capped = probe.get("free_cpu_share"), probe.get("capped_cpu_share")
    if not free or not capped or setup.device_cpu is None or setup.device_cpu >= 1.0:
        return None
    period_us = cast(
        int, next(f.default for f in fields(EmulationSpec) if f.name == "cpu_period_us")
    )
    share = min(1.0, float(capped) / float(free))
    return None if share >= 1.0 else {"share": round(share, 4), "period_s": period_us / 1e6}


def detector_timeout_s() -> float:
    """The silence after which the client's failure detector declares a node dead: its
    phi accrual detector (``ClientConfig`` defaults: heartbeats every 0.1 s, dead at
    phi 12, 0.3 s of acceptable pause) after a run of regular heartbeats, solved for
    the silence that reaches ``dead_phi`` (about 0.8 s)."""
    from edgeoffload.config import ClientConfig
    from edgeoffload.liveness import PhiAccrual

    cfg = ClientConfig()
    det = PhiAccrual(cfg.heartbeat_interval_s, acceptable_pause_s=cfg.acceptable_pause_s)
    for k in range(det.window + 1):
        det.heartbeat(k * cfg.heartbeat_interval_s)
    lo, hi = 0.0, 60.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (lo, mid) if det.phi_after(mid) >= cfg.dead_phi else (mid, hi)
    return round(hi, 4)


def scenario_for(
    setup: Any,
    cycles_measured: dict[tuple[str, float], float] | None = None,
    *,
    overhead_cycles: float = 0.0,
    quota: dict[str, float] | None = None,
    detector_s: float | None = None,
) -> Any:
    """The simulator scenario of this run (module docstring); ``cycles_measured`` replaces the
    hints of the kinds it has (:func:`measured_cycles`); ``overhead_cycles`` and ``quota``
    are the device's per-request cost and CPU quota (:func:`client_overhead`,
    :func:`quota_of`; by default a continuous CPU that costs nothing per request);
    ``detector_s`` the client's failure detector (:func:`detector_timeout_s`; by default
    none: the nodes stay reachable over a stalled link)."""
    from edgeoffload.client.auto import DEFAULT_BPS
    from edgeoffload.sim.scenario import from_dict
    from edgeoffload.tasks import spec_of

    importlib.import_module(f"{setup.app}.tasks")
    requests = importlib.import_module(f"{setup.app}.workload").workload(setup.n, setup.seed)
    span = max(r.at_s for r in requests) + min(
        (r.at_s for r in requests[1:] if r.at_s > 0), default=1.0
    )
    kinds: dict[tuple[str, float], list[Any]] = defaultdict(list)
    for r in requests:
        spec = spec_of(r.task)
        assert spec is not None, r.task
        kinds[(r.task, float(spec.hints(list(r.args)).cpu_cycles))].append(r)
    apps: dict[str, Any] = {}
    workload = []
    for i, ((task, cycles), reqs) in enumerate(sorted(kinds.items())):
        spec = spec_of(task)
        assert spec is not None
        hints = spec.hints(list(reqs[0].args))
        key = f"{task}_{i}"
        deadlines = [r.deadline_s for r in reqs if r.deadline_s is not None]
        apps[key] = {
            "cpu_cycles": (cycles_measured or {}).get((task, cycles), cycles),
            "input_bytes": float(np.mean([payload_bytes(tuple(r.args)) for r in reqs])),
            "output_bytes": float(hints.output_bytes),
            **({"deadline_s": float(np.median(deadlines))} if deadlines else {}),
        }
        # the very instants the real run sent them (bursts included)
        times = [float(r.at_s) for r in reqs]
        workload.append({"app": key, "arrivals": {"process": "times", "times_s": times}})
    # The very trace replayed, as a file: a dataset's ``match`` is a substring, and
    # "norway_bus_1" also matches norway_bus_10 to _19, one of which the simulator drew.
    # The emulator never sets a rate below MIN_RATE_MBIT (tbf needs one): nor does this.
    from edgeoffload.emulation.plan import MIN_RATE_MBIT

    trace_file = DEST.out / f"e2e-{setup.name}.{setup.slug}.trace.txt"
    trace_file.parent.mkdir(parents=True, exist_ok=True)
    trace_file.write_text(
        "".join(
            f"{t:.6f} {max(v, MIN_RATE_MBIT):.6f}\n"
            for t, v in zip(setup.trace.times_s, setup.trace.mbps, strict=True)
        )
    )
    link: dict[str, Any] = {
        "file": str(trace_file),
        "random_offset": False,
        "rtt_ms": setup.rtt_ms,
    }
    if detector_s is not None:
        link["detector_timeout_s"] = detector_s
    device: dict[str, Any] = {
        "name": "device",
        "count": 1,
        "cpu_hz": setup.device_hz,
        "load": 0.0,
        "link": link,
        "workload": workload,
        "overhead_cycles": overhead_cycles,
    }
    if quota is not None:
        device["quota"] = quota
    doc = {
        "name": f"e2e-{setup.name}",
        "duration_s": span,
        "seed": setup.seed,
        "view_interval_s": 0.1,  # the client's heartbeat period
        "view_phases": 1,
        # the client's estimate before its first sample (and it samples only large
        # transfers, as the simulator does)
        "estimator": {"initial_mbps": DEFAULT_BPS / 1e6},
        "apps": apps,
        "devices": [device],
        "nodes": [
            {"name": "edge", "count": 2, "cores": os.cpu_count() or 1, "speed_hz": setup.host_hz}
        ],
    }
    return from_dict(doc, origin=f"e2e scenario of {setup.app}")


def _pct(values: np.ndarray, q: float) -> float:
    """The same nearest-rank percentile as the real run's (an interpolated median of a
    50/50 mix of 3-ms and 50-ms tasks is 27 ms, which neither run had)."""
    return round(percentile(sorted((values * 1000.0).tolist()), q / 100.0), 2)


def simulate(
    setup: Any, policies: list[str], real: dict[str, Any], runs: dict[str, Any]
) -> dict[str, Any]:
    """Each policy in the simulator, with the tasks' cycle hints on a continuous CPU
    (the plain device model), and again on the device as measured: the client's cost
    per request and the CPU quota it ran under; rows beside the real figures, and
    their markdown."""
    local = runs.get("always_local")
    plain = scenario_for(setup)
    hinted = _rows(setup, plain, policies, real)
    out: dict[str, Any] = {"hints": hinted, "scenario": _scenario_dict(plain)}
    md = [markdown(hinted, "with the tasks' cycle hints, a continuous CPU")]
    overhead = client_overhead(setup, local)
    quota = quota_of(setup)
    detector = detector_timeout_s()
    device = scenario_for(
        setup, overhead_cycles=overhead["overhead_cycles"], quota=quota, detector_s=detector
    )
    out["device"] = _rows(setup, device, policies, real)
    out["device_model"] = {
        **{k: round(v, 4) for k, v in overhead.items()},
        "quota": quota,
        "detector_timeout_s": detector,
    }
    md.append(
        markdown(
            out["device"],
            "with the client's cost per request, the CPU quota and the failure detector",
        )
    )
    q = (
        f"a quota of {quota['share']:.2f} of every {quota['period_s'] * 1000:g} ms at full speed"
        if quota
        else "no quota"
    )
    md.append(
        f"Device model measured in the local-only run: the client used "
        f"{overhead['cpu_s']:.3f} s of CPU (cgroup accounting) for "
        f"{overhead['hint_cycles']:.3g} cycles of hints, so "
        f"{overhead['overhead_cycles']:.3g} cycles per request beyond its task "
        f"({overhead['load']:.1%} of the device's CPU over the run); {q}; nodes "
        f"unreachable while a heartbeat's answer would take over {detector:g} s on the "
        "trace's capacity (the client's phi accrual detector)."
    )
    measured = measured_cycles(setup, local)
    if measured:
        out["cycles"] = [
            {"task": t, "hint": h, "measured": round(m)} for (t, h), m in sorted(measured.items())
        ]
        md.append(
            "Fastest local-only latency x device speed per request kind, against the hint "
            "(includes quota waits and the wait behind a burst's earlier runs, so not a "
            "request's cost): "
            + "; ".join(
                f"{c['task']} {c['hint']:.3g} vs {c['measured']:.3g} "
                f"({c['measured'] / c['hint']:.2f}x)"
                for c in out["cycles"]
            )
            + "."
        )
    out["markdown"] = "\n\n".join(md)
    return out


def latencies(records: dict[str, np.ndarray]) -> np.ndarray:
    """The latencies the real run's figures are made of (``e2e.summarise``): the client
    gives a task up at its deadline, and a task given up counts with that time; so a
    simulated task done late counts at its deadline, and one dropped for its deadline
    (``deadline_expired``) at its deadline too."""
    from edgeoffload.sim.table import Outcome, Reason

    deadline = records["deadline_s"]
    done = records["outcome"] == int(Outcome.DONE)
    gave_up = ~done & (records["reason"] == int(Reason.DEADLINE_EXPIRED)) & np.isfinite(deadline)
    return np.concatenate(
        [np.minimum(records["latency_s"][done], deadline[done]), deadline[gave_up]]
    )


def _rows(setup: Any, scenario: Any, policies: list[str], real: dict[str, Any]) -> list[Any]:
    from edgeoffload.sim.runner import run

    rows = []
    for policy in policies:
        result = run(scenario, policy)
        r = result.records
        lat = latencies(r)
        has_deadline = np.isfinite(r["deadline_s"])
        missed = has_deadline & (r["deadline_met"] == 0)
        placed = (r["target"] >= 0) | (r["target"] == -1)
        sim = {
            "p50_ms": _pct(lat, 50),
            "p95_ms": _pct(lat, 95),
            "offload_share": round(float((r["target"] >= 0).sum() / max(1, placed.sum())), 4),
            "deadline_miss_rate": round(float(missed.sum() / max(1, has_deadline.sum())), 4),
            "tasks": int(result.n_tasks),
        }
        emu = real.get(policy)
        row: dict[str, Any] = {"policy": policy, "sim": sim}
        if emu is not None:
            row["real"] = {
                "p50_ms": emu["latency_ms"]["p50"],
                "p95_ms": emu["latency_ms"]["p95"],
                "offload_share": emu["offload_share"],
                "deadline_miss_rate": emu["deadline_miss_rate"],
            }
            row["diff"] = {
                k: _rel(sim[k], row["real"][k])
                for k in ("p50_ms", "p95_ms", "offload_share", "deadline_miss_rate")
            }
        rows.append(row)
    return rows


def _rel(sim: float, real: float) -> float | None:
    """(sim - real) / real; None where real is 0 (then the absolute gap says it)."""
    if real == 0:
        return None if sim == 0 else float("inf")
    return round((sim - real) / real, 4)


def _scenario_dict(scenario: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(scenario)


def markdown(rows: list[dict[str, Any]], what: str) -> str:
    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        s = row["sim"][key]
        if "real" not in row:
            return format(s, fmt)
        d = row["diff"][key]
        flag = "" if d is None or abs(d) <= 0.15 else " **!**"
        gap = "=" if d is None else ("inf" if d == float("inf") else f"{d:+.0%}")
        return f"{format(row['real'][key], fmt)} / {format(s, fmt)} ({gap}){flag}"

    lines = [
        f"Simulator ({what}) against the emulated run: real / simulated (difference); "
        "**!** where they differ by more than 15 %.",
        "",
        "| policy | p50 ms | p95 ms | offload share | deadline misses |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {LABELS.get(row['policy'], row['policy'])} | {cell(row, 'p50_ms', 'g')} | "
            f"{cell(row, 'p95_ms', 'g')} | {cell(row, 'offload_share', '.0%')} | "
            f"{cell(row, 'deadline_miss_rate', '.0%')} |"
        )
    return "\n".join(lines)
