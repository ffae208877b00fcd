"""``bench e2e``'s report: the plots (matplotlib, the ``sim`` extra) and the section of
docs/evaluation.md, from one run's results (:mod:`.e2e`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import DEST, _repo, update_doc_section

LABELS = {
    "always_local": "local-only",
    "always_edge": "edge-only",
    "cost_model": "cost model",
    "auto": "auto (learned)",
}


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
        f"`edgeoffload bench e2e --example {setup.name} --trace {setup.trace_ref} "
        f"--device-cpu {setup.device_cpu:g} --tasks {setup.n}`.",
        "",
        "| policy | p50 ms | p95 ms | p99 ms | deadline misses | throughput /s | uplink MB | "
        "device energy J | offload share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p, v in pol.items():
        lat = v["latency_ms"]
        lines.append(
            f"| {LABELS.get(p, p)} | {lat['p50']} | {lat['p95']} | {lat['p99']} | "
            f"{v['deadline_miss_rate']:.1%} | {v['throughput_per_s']} | "
            f"{v['uplink_bytes'] / 1e6:.2f} | {v['device_energy_j']} | {v['offload_share']:.0%} |"
        )
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
