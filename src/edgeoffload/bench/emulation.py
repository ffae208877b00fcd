"""``edgeoffload bench emulation``: how faithfully ``edgeoffload emulate`` does what it is
asked, measured with real traffic between its namespaces (as the mahimahi paper
validates mm-link against the trace it replays).

- **rate**: one TCP stream, device -> edge, while a real trace replays (Ghent 4G bus,
  the first ``--seconds``), with no added delay (kernel path only) and with a 40-ms RTT
  (through the delay relay), and a Norway 3G trace; each trace step's achieved rate
  against the trace's, after ``--settle-s`` for TCP to find the new rate; plus fixed
  rates.
- **RTT**: UDP probes at 10-ms intervals for requested RTTs of 0 to 100 ms, and with
  jitter.
- **loss**: 2,000 probes at a requested loss per direction; the round trip should lose
  ``1 - (1 - p)^2``.
- **CPU**: a CPU-bound loop free and under ``--device-cpu`` shares (the slowdown).

Writes bench/results/emulation.json and the figures section of docs/emulation.md. Takes
about 2 minutes. Every figure depends on what else runs on the machine (the load average
before and after is recorded): probes and the relay are Python processes that compete
for the same 2 cores.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from edgeoffload.cli import Parser
from edgeoffload.emulation import Emulation, available, symmetric_spec
from edgeoffload.emulation.measure import measure_cpu, measure_rate, measure_rtt_loss, per_step
from edgeoffload.emulation.traceref import load_trace_ref

from .common import machine, update_doc_section, write_json

TRACE = "ghent_4g:report_bus_0001"
TRACE_3G = "pensieve_test:norway_bus_1"


def _steps_summary(steps: list[dict[str, float]]) -> dict[str, Any]:
    ratios = [s["achieved_mbps"] / s["trace_mbps"] for s in steps if s["trace_mbps"] > 0]
    errors = sorted(abs(r - 1) for r in ratios)
    return {
        "steps": len(steps),
        "median_ratio": round(statistics.median(ratios), 4) if ratios else None,
        "median_abs_error": round(statistics.median(errors), 4) if errors else None,
        "p90_abs_error": round(errors[int(0.9 * (len(errors) - 1))], 4) if errors else None,
        "within_10pct": round(sum(e <= 0.10 for e in errors) / len(errors), 4) if errors else None,
        # steps that carried under a tenth of their rate: stalls, not shaping error
        "stalled_steps": sum(r < 0.1 for r in ratios),
        "trace_mean_mbps": round(statistics.fmean(s["trace_mbps"] for s in steps), 3),
        "achieved_mean_mbps": round(statistics.fmean(s["achieved_mbps"] for s in steps), 3),
    }


def rate_replay(
    ref: str, seconds: float, rtt_ms: float, settle_s: float, bin_s: float = 0.1
) -> dict[str, Any]:
    trace = load_trace_ref(ref)
    with Emulation(symmetric_spec(trace=trace, rtt_ms=rtt_ms, down_rate_mbit=1000)) as emu:
        run = measure_rate(emu, seconds, bin_s=bin_s)
        lag = [c.done_s - c.change.at_s for c in emu.applied]
    steps = per_step(run, trace, settle_s)
    return {
        "trace": ref,
        "rtt_ms": rtt_ms,
        "seconds": seconds,
        "settle_s": settle_s,
        "bin_s": bin_s,
        "summary": _steps_summary(steps),
        "change_lag_ms": {
            "median": round(statistics.median(lag) * 1000, 2) if lag else None,
            "max": round(max(lag) * 1000, 2) if lag else None,
        },
        "per_step": steps,
        # the raw receiver bins, to look into any stall: bin k starts at offset_s + k*bin_s
        "offset_s": round(run.offset_s, 4),
        "bins_mbps": [round(x, 3) for x in run.mbps],
    }


def fixed_rates(rates: list[float], rtt_ms: float, seconds: float) -> list[dict[str, Any]]:
    out = []
    for rate in rates:
        with Emulation(symmetric_spec(rate_mbit=rate, rtt_ms=rtt_ms)) as emu:
            run = measure_rate(emu, seconds, bin_s=0.1)
        achieved = run.mean_mbps(skip_s=1.0)
        out.append(
            {
                "rate_mbit": rate,
                "rtt_ms": rtt_ms,
                "achieved_mbps": round(achieved, 3),
                "ratio": round(achieved / rate, 4),
            }
        )
    return out


def rtts(requested: list[tuple[float, float]], count: int) -> list[dict[str, Any]]:
    out = []
    for rtt, jitter in requested:
        with Emulation(symmetric_spec(rtt_ms=rtt, jitter_ms=jitter)) as emu:
            probes = measure_rtt_loss(emu, count, 0.01)
        out.append({"requested_ms": rtt, "jitter_ms_per_direction": jitter, **probes})
    return out


def losses(requested: list[float], count: int) -> list[dict[str, Any]]:
    out = []
    for p in requested:
        with Emulation(symmetric_spec(loss=p)) as emu:
            probes = measure_rtt_loss(emu, count, 0.001)
        expected = 1 - (1 - p) ** 2
        sd = (expected * (1 - expected) / count) ** 0.5
        out.append(
            {
                "loss_per_direction": p,
                "expected_round_trip_loss": round(expected, 5),
                "measured_round_trip_loss": round(probes["round_trip_loss"], 5),
                "binomial_sd": round(sd, 5),
                "probes": count,
            }
        )
    return out


def cpu(shares: list[float], additions: int) -> list[dict[str, Any]]:
    out = []
    for share in shares:
        with Emulation(symmetric_spec(device_cpu=share)) as emu:
            assert emu.cpu is not None
            result: dict[str, Any] = dict(measure_cpu(emu, additions))
            result["cgroup"] = emu.cpu.version
            result["throttled_periods"] = emu.cpu.stat().get("nr_throttled")
        out.append(result)
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Measured by `edgeoffload bench emulation` on {result['machine']['cores']} cores "
        f"({result['machine']['cpu']}), load average {result['load_before']} before and "
        f"{result['load_after']} after; {result['wall_s']} s.",
        "",
        "**Rate against a replayed trace** (one TCP stream, device -> edge; each trace step "
        "after its first settle_s; ratio = achieved / trace):",
        "",
        "| trace | RTT ms | steps | median ratio | median abs error | p90 abs error "
        "| within 10 % | stalled steps | trace mean Mbit/s | achieved mean "
        "| change lag ms (median/max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rate_replay"]:
        s = r["summary"]
        lines.append(
            f"| {r['trace']} ({r['seconds']:g} s) | {r['rtt_ms']:g} | {s['steps']} "
            f"| {s['median_ratio']} | {s['median_abs_error']} | {s['p90_abs_error']} "
            f"| {s['within_10pct']} | {s['stalled_steps']} | {s['trace_mean_mbps']} "
            f"| {s['achieved_mean_mbps']} "
            f"| {r['change_lag_ms']['median']}/{r['change_lag_ms']['max']} |"
        )
    lines += [
        "",
        "**Fixed rates** (mean after the first second):",
        "",
        "| requested Mbit/s | RTT ms | achieved | ratio |",
        "|---|---|---|---|",
    ]
    for r in result["fixed_rates"]:
        lines.append(
            f"| {r['rate_mbit']:g} | {r['rtt_ms']:g} | {r['achieved_mbps']} | {r['ratio']} |"
        )
    lines += [
        "",
        "**RTT** (UDP probes every 10 ms, idle link; jitter is per direction):",
        "",
        "| requested ms | jitter ms | min | p50 | mean | p95 | max | stdev | lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rtt"]:
        q = r["rtt_ms"]
        lines.append(
            f"| {r['requested_ms']:g} | {r['jitter_ms_per_direction']:g} | {q['min']} "
            f"| {q['p50']} | {q['mean']} | {q['p95']} | {q['max']} | {q['stdev']} "
            f"| {r['sent'] - r['received']}/{r['sent']} |"
        )
    lines += [
        "",
        "**Loss** (UDP probes every 1 ms; the same loss each way):",
        "",
        "| per direction | expected round trip | measured | binomial sd |",
        "|---|---|---|---|",
    ]
    for r in result["loss"]:
        lines.append(
            f"| {r['loss_per_direction']:g} | {r['expected_round_trip_loss']} "
            f"| {r['measured_round_trip_loss']} | {r['binomial_sd']} |"
        )
    lines += [
        "",
        "**CPU cap** (a loop of additions, free and under the cap; slowdown = capped wall / "
        "free wall; against idle = capped wall / free CPU time, the slowdown an otherwise "
        "idle core would show; CPU share = CPU seconds per wall second):",
        "",
        "| share | cgroup | free wall s | free CPU share | capped wall s | capped CPU share "
        "| slowdown | against idle | throttled periods |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["cpu"]:
        lines.append(
            f"| {r['cpu_share']:g} | {r['cgroup']} | {r['free_wall_s']} | {r['free_cpu_share']} "
            f"| {r['capped_wall_s']} | {r['capped_cpu_share']} | {r['slowdown']} "
            f"| {r['slowdown_vs_idle']} | {r['throttled_periods']} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench emulation")
    parser.add_argument("--trace", default=TRACE, help=f"trace to replay (default {TRACE})")
    parser.add_argument("--seconds", type=float, default=20.0, help="replay length")
    parser.add_argument("--settle-s", type=float, default=0.3, help="per step, left out")
    parser.add_argument("--additions", type=int, default=20_000_000, help="CPU loop length")
    args = parser.parse_args(argv)
    reason = available()
    if reason:
        print(f"edgeoffload bench emulation: cannot run: {reason}")
        return 2
    start = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    result: dict[str, Any] = {"machine": machine(), "load_before": load_before}
    result["rate_replay"] = [
        rate_replay(args.trace, args.seconds, 0.0, args.settle_s),
        rate_replay(args.trace, args.seconds, 40.0, args.settle_s),
        # Norway 3G: 0.15-8 Mbit/s in steps of about 0.4 s (so finer bins, less settling)
        rate_replay(TRACE_3G, args.seconds, 0.0, 0.1, bin_s=0.05),
    ]
    result["fixed_rates"] = fixed_rates([5, 20, 50], 0.0, 4.0) + fixed_rates([20], 40.0, 4.0)
    result["rtt"] = rtts([(0, 0), (10, 0), (20, 0), (40, 0), (100, 0), (40, 5)], 200)
    result["loss"] = losses([0.01, 0.05], 2000)
    result["cpu"] = cpu([0.25, 0.5], args.additions)
    result["load_after"] = round(os.getloadavg()[0], 2)
    result["wall_s"] = round(time.monotonic() - start, 1)
    path = write_json("emulation.json", result)
    update_doc_section("emulation.md", "emulation", markdown(result))
    print(markdown(result))
    print(f"wrote {path}")
    return 0
