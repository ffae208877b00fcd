"""``bench e2e``'s simulator side: the same application, device and trace in the
simulator (:mod:`edgeoffload.sim`), side by side with the emulated run.

The scenario is built from what the real run used, nothing tuned to its outcome:

- one device at the capped speed measured (``device_hz``), no background load (the
  client is told the same), the client's power model;
- its link: the same trace (written to a file beside the results) from its first
  sample (no random offset), both directions, the same added RTT, no loss;
- two nodes at the host core's measured speed, as many cores as the machine has (a
  node's default worker count);
- one simulator app per kind of request in ``workload(n, seed)`` (task name and cycle
  hint): cycles, input bytes (as the device measures them) and output bytes from the
  task's resource hints, the request's deadline, periodic arrivals at that kind's rate
  over the workload's length.

Differences it cannot remove: the simulator's tasks cost their cycle *hints*, the real
ones what they really cost; its arrivals of one kind are evenly spaced; its link is the
trace, the emulated one TCP over tbf with a user-space delay relay.
"""

from __future__ import annotations

import importlib
import os
from collections import defaultdict
from typing import Any

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
    """Cycles each kind of request really took on the device, from the local-only run:
    its fastest (least queued) latency times the device's speed, per (task, hint)."""
    if local_run is None:
        return {}
    best: dict[tuple[str, float], float] = {}
    for r in local_run["records"]:
        if r.get("error") is None and "end" in r and r.get("cycles_hint") is not None:
            key = (r["task"], float(r["cycles_hint"]))
            best[key] = min(best.get(key, float("inf")), r["end"] - r["sent"])
    return {k: v * setup.device_hz for k, v in best.items()}


def scenario_for(setup: Any, cycles_measured: dict[tuple[str, float], float] | None = None) -> Any:
    """The simulator scenario of this run (module docstring); ``cycles_measured`` replaces the
    hints of the kinds it has (:func:`measured_cycles`)."""
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
        workload.append(
            {"app": key, "arrivals": {"process": "periodic", "rate_hz": len(reqs) / span}}
        )
    # The very trace replayed, as a file: a dataset's ``match`` is a substring, and
    # "norway_bus_1" also matches norway_bus_10 to _19, one of which the simulator drew.
    trace_file = DEST.out / f"e2e-{setup.name}.{setup.slug}.trace.txt"
    trace_file.parent.mkdir(parents=True, exist_ok=True)
    trace_file.write_text(
        "".join(
            f"{t:.6f} {v:.6f}\n" for t, v in zip(setup.trace.times_s, setup.trace.mbps, strict=True)
        )
    )
    link = {"file": str(trace_file), "random_offset": False, "rtt_ms": setup.rtt_ms}
    doc = {
        "name": f"e2e-{setup.name}",
        "duration_s": span,
        "seed": setup.seed,
        "view_interval_s": 0.1,  # the client's heartbeat period
        "view_phases": 1,
        "apps": apps,
        "devices": [
            {
                "name": "device",
                "count": 1,
                "cpu_hz": setup.device_hz,
                "load": 0.0,
                "link": link,
                "workload": workload,
            }
        ],
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
    """Each policy in the simulator, with the tasks' cycle hints and again with the cycles
    measured in the local-only run; rows beside the real figures, and their markdown."""
    measured = measured_cycles(setup, runs.get("always_local"))
    hinted = _rows(setup, scenario_for(setup), policies, real)
    out: dict[str, Any] = {"hints": hinted, "scenario": _scenario_dict(scenario_for(setup))}
    md = [markdown(hinted, "with the tasks' cycle hints")]
    if measured:
        out["measured"] = _rows(setup, scenario_for(setup, measured), policies, real)
        md.append(markdown(out["measured"], "with the cycles measured in the local-only run"))
        out["cycles"] = [
            {"task": t, "hint": h, "measured": round(m)} for (t, h), m in sorted(measured.items())
        ]
        md.append(
            "Cycles per request kind, hint against measured (fastest local-only latency x "
            "device speed): "
            + "; ".join(
                f"{c['task']} {c['hint']:.3g} vs {c['measured']:.3g} "
                f"({c['measured'] / c['hint']:.2f}x)"
                for c in out["cycles"]
            )
            + "."
        )
    out["markdown"] = "\n\n".join(md)
    return out


def _rows(setup: Any, scenario: Any, policies: list[str], real: dict[str, Any]) -> list[Any]:
    from edgeoffload.sim.runner import run
    from edgeoffload.sim.table import Outcome

    rows = []
    for policy in policies:
        result = run(scenario, policy)
        r = result.records
        done = r["outcome"] == int(Outcome.DONE)
        lat = r["latency_s"][done]
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
