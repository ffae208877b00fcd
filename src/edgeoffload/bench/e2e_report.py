"""``bench e2e``'s report: the plots (matplotlib, the ``sim`` extra) and the section of
docs/evaluation.md, from one run's results (:mod:`.e2e`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .common import DEST, _repo, update_doc_section

LABELS = {
    "always_local": "local-only",
    "always_edge": "edge-only",
    "cost_model": "cost model",
    "auto": "auto (learned)",
}


def placed_on_nodes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests the client last placed on a node, answered or not: a frame given up
    at its deadline while on a node was still decided for the node and still uploaded
    (its bytes and radio time count). The client keeps a task's placement when it gives
    the task up (``TaskHandle.node``), so a given-up record names its node."""
    return [r for r in records if r.get("node") not in (None, "local")]


def offload_share(records: list[dict[str, Any]]) -> float:
    """Of the requests the client placed (here or on a node), the share it placed on a
    node: the decisions, as the simulator counts them, not only the answers that came
    back (an edge-only run whose every answer is late is still 100 % offloaded)."""
    placed = [r for r in records if r.get("node") is not None]
    return round(len(placed_on_nodes(records)) / len(placed), 4) if placed else 0.0


def in_time(record: dict[str, Any]) -> bool:
    """Completed: answered without error, and within its deadline if it has one. The
    complement, among requests with a deadline, is the deadline-miss rate."""
    if record.get("error") is not None or "end" not in record:
        return False
    deadline = record.get("deadline_s")
    return deadline is None or record["end"] - record["sent"] <= deadline


def throughput_per_s(records: list[dict[str, Any]], wall_s: float) -> float:
    """Completed requests (:func:`in_time`) per second of the run: a policy that misses
    every deadline completes nothing, whatever it computed late."""
    return round(sum(1 for r in records if in_time(r)) / wall_s, 3) if wall_s > 0 else 0.0


def _transfer(trace: Any, start_s: float, nbytes: float, horizon_s: float) -> tuple[float, float]:
    """(radio seconds, finish time) of moving ``nbytes`` from ``start_s`` over the trace:
    the bytes over the capacity, sample by sample, samples of zero capacity not counted
    as radio time (the link carries nothing then, and the radio waits)."""
    bits = 8.0 * float(nbytes)
    times, rates = trace.times_s, trace.mbps
    t, on, end = float(start_s), 0.0, float(start_s) + horizon_s
    while bits > 0 and t < end:
        phase = t % trace.duration_s
        i = int(np.searchsorted(times, phase, side="right")) - 1
        edge = times[i + 1] if i + 1 < len(times) else trace.duration_s
        span = max(min(float(edge - phase), end - t), 1e-9)
        rate = float(rates[i]) * 1e6
        if rate > 0:
            if bits <= rate * span:
                return on + bits / rate, t + bits / rate
            on += span
            bits -= rate * span
        t += span
    return on, t


def radio_seconds(trace: Any, start_s: float, nbytes: float, horizon_s: float = 600.0) -> float:
    """Seconds the radio transmits to move ``nbytes`` from ``start_s`` (on the trace's
    clock) over the trace (:func:`_transfer`): a frame sent into the 5G trace's first
    seconds at 0.0-0.1 Mbit/s counted minutes of transmit power at a fixed rate floor."""
    return _transfer(trace, start_s, nbytes, horizon_s)[0]


def link_radio_seconds(
    trace: Any, sends: list[tuple[float, float]], horizon_s: float = 600.0
) -> float:
    """Radio seconds of several transfers ``(start_s, nbytes)`` over one link: one after
    the other in start order, as the link's queue carries them, each from when it was
    sent or when the one before finished. Summing each transfer as if it had the link
    to itself counted the same seconds once per frame queued (83 J of radio over a 16-s
    run whose frames waited behind the 5G trace's dead first seconds)."""
    total, free_at = 0.0, float("-inf")
    for start, nbytes in sorted(sends):
        on, free_at = _transfer(trace, max(start, free_at), nbytes, horizon_s)
        total += on
    return total


def _save(fig: Any, name: str) -> str:
    """Save a figure into OUT/img (and docs/img with --update-docs); its docs path."""
    paths = [DEST.out / "img" / name]
    if DEST.update_docs:
        paths.append(_repo("docs", "img", name))
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        print(f"wrote {path}", flush=True)
    return f"img/{name}"


def plots(setup: Any, slug: str, runs: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    order = [p for p in LABELS if p in runs]
    made = []
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for p in order:
        recs = [r for r in runs[p]["records"] if r.get("error") is None and "end" in r]
        lat = np.sort([(r["end"] - r["sent"]) * 1000 for r in recs])
        if lat.size:
            ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=LABELS[p])
    deadlines = {r["deadline_s"] for r in runs[order[0]]["records"] if r.get("deadline_s")}
    for d in sorted(deadlines)[:1]:
        ax.axvline(d * 1000, color="grey", ls=":", lw=1, label=f"deadline {d * 1000:g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("share of requests")
    ax.set_title(f"{setup.name} on {setup.trace_ref}, device {setup.device_cpu:g} CPU")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    made.append(_save(fig, f"e2e-{setup.name}-{slug}-cdf.png"))
    plt.close(fig)

    fig, axes = plt.subplots(3, 1, figsize=(7.5, 6.4), sharex=True)
    length = max(r["t_end"] - r["t0"] for r in runs.values())
    t = np.linspace(0, length, 400)
    axes[0].step(t, setup.trace.capacity_at(t), where="post", color="k", lw=1)
    axes[0].set_ylabel("trace Mbit/s")
    for p in order:
        run = runs[p]
        recs = [r for r in run["records"] if r.get("error") is None and "end" in r]
        x = [r["sent"] - run["t0"] for r in recs]
        y = [(r["end"] - r["sent"]) * 1000 for r in recs]
        axes[1].plot(x, y, ".", ms=3, label=LABELS[p])
    axes[1].set_yscale("log")
    axes[1].set_ylabel("latency ms")
    axes[1].legend(fontsize=7, ncol=2)
    for row, p in enumerate(q for q in ("cost_model", "auto") if q in runs):
        run = runs[p]
        recs = [r for r in run["records"] if "end" in r]
        x = [r["sent"] - run["t0"] for r in recs]
        y = [row + (0.3 if r.get("node") not in (None, "local") else -0.3) for r in recs]
        c = ["tab:orange" if r.get("node") not in (None, "local") else "tab:blue" for r in recs]
        axes[2].scatter(x, y, c=c, s=6)
    axes[2].set_yticks([-0.3, 0.3, 0.7, 1.3])
    axes[2].set_yticklabels(["cost: local", "cost: edge", "auto: local", "auto: edge"], fontsize=7)
    axes[2].set_xlabel("seconds from the first request (trace replayed from its start)")
    axes[1].grid(alpha=0.3)
    axes[0].grid(alpha=0.3)
    fig.suptitle(f"{setup.name}: decisions, bandwidth and latency over time", fontsize=10)
    made.append(_save(fig, f"e2e-{setup.name}-{slug}-timeline.png"))
    plt.close(fig)
    return made


def _pct(a: float, b: float) -> str:
    return "n/a" if not b else f"{(a - b) / b * 100:+.0f} %"


def _failover_where(extra: dict[str, Any] | None) -> str:
    """Where the tasks ended, so a reader sees whether the kill hit tasks in flight."""
    if not extra:
        return ""
    on = extra["finished_on"]
    return (
        f" (answered by: device {on['local']}, edge0 {on['edge0']}, edge1 {on['edge1']}; "
        f"placed again after the kill: {extra['resubmitted']})"
    )


def markdown(setup: Any, result: dict[str, Any], images: list[str]) -> str:
    js = result["json"]
    m = js["machine"]
    pol = js["policies"]
    lines = [
        f"**{setup.name} over {setup.trace_ref}** (trace mean "
        f"{setup.trace.mean_mbps():.1f} Mbit/s, RTT +{setup.rtt_ms:g} ms), device capped at "
        f"{setup.device_cpu:g} CPU (measured share {m['cpu_probe']['capped_cpu_share']}: "
        f"{m['device_hz'] / 1e9:.2f} GHz of the {m['host_hz'] / 1e9:.1f}-GHz reference "
        f"core), {setup.n} requests, seed {setup.seed}; two edge "
        f"nodes. Load average {' '.join(m['loadavg_before'])} before, "
        f"{' '.join(m['loadavg_after'])} after; {m['seconds']} s. Command: "
        f"`edgeoffload bench e2e --example {setup.example} --trace {setup.trace_ref} "
        f"--device-cpu {setup.device_cpu:g} --tasks {setup.n}`.",
        "",
        "| policy | p50 ms | p95 ms | p99 ms | deadline misses | in time /s | uplink MB | "
        "device energy J | placed on nodes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    legend = (
        "In time /s: answers within their deadline per second of the run "
        "(`throughput_per_s`); placed on nodes: the share of requests the client sent to a "
        "node, answered in time or not (`offload_share`); energy counts every upload's "
        "radio time."
    )
    for p, v in pol.items():
        lat = v["latency_ms"]
        lines.append(
            f"| {LABELS.get(p, p)} | {lat['p50']} | {lat['p95']} | {lat['p99']} | "
            f"{v['deadline_miss_rate']:.1%} | {v['throughput_per_s']} | "
            f"{v['uplink_bytes'] / 1e6:.2f} | {v['device_energy_j']} | {v['offload_share']:.0%} |"
        )
    lines += ["", legend]
    if "auto" in pol:
        a = pol["auto"]
        lines.append("")
        for base in ("always_local", "always_edge"):
            if base in pol:
                b = pol[base]
                speed = (
                    b["latency_ms"]["p50"] / a["latency_ms"]["p50"] if a["latency_ms"]["p50"] else 0
                )
                lines.append(
                    f"- auto against {LABELS[base]}: p50 {speed:.2f}x "
                    f"({a['latency_ms']['p50']} vs {b['latency_ms']['p50']} ms), p95 "
                    f"{_pct(a['latency_ms']['p95'], b['latency_ms']['p95'])}, device energy "
                    f"{_pct(a['device_energy_j'], b['device_energy_j'])}."
                )
    f = js["failover"]
    if f:
        lines.append(
            f"- Node killed halfway (auto, two nodes): {f['tasks']} tasks, {f['completed']} "
            f"completed, {f['lost']} lost, {f['duplicates']} duplicates"
            + _failover_where(result["detail"].get("failover_extra"))
            + "."
        )
    c = js["cache"]
    if c.get("hit_rate") is None:
        lines.append("- Cache on/off: not measured (the nodes have no runtime cache yet).")
    else:
        lines.append(
            f"- Cache on/off (`workload(repeat=True)`, edge-only): hit rate {c['hit_rate']:.0%}, "
            f"uplink saved {c['uplink_bytes_saved'] / 1e6:.2f} MB, p50 latency saved "
            f"{c['latency_saved_ms']} ms."
        )
    sim = result.get("sim")
    if sim:
        lines += ["", sim["markdown"]]
    lines.append("")
    for img in images:
        lines.append(f"![{Path(img).stem}]({img})")
    return "\n".join(lines)


def report(setup: Any, slug: str, result: dict[str, Any]) -> None:
    runs = {p: r for p, r in result["detail"]["runs"].items() if p in LABELS}
    images = plots(setup, slug, runs) if runs else []
    update_doc_section("evaluation.md", f"e2e-{setup.name}-{slug}", markdown(setup, result, images))
