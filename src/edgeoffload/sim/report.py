"""A report of one or more runs of a scenario: PNG plots and one HTML page.

Plots (matplotlib, object API, no global state): latency CDF per policy (of jobs,
then of their stages, for task graphs); device and
node energy per policy; offload share over time; node utilisation over time; and the
bandwidth trace under it all (the first device's uplink and downlink capacity; every
policy ran on the same one).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..decision.features import F64
from .results import SimResult
from .summary import job_latencies, summarize


def _figure(width: float = 7.0, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def legend_below(fig: Any, ax: Any) -> None:
    """The legend below the plot, outside it (constrained layout makes room), so it never
    hides a line whatever the data; one entry for every line drawn."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # As many columns as fit across the figure (about 70 small characters wide at 7 in).
        width = 70 * fig.get_figwidth() / 7.0
        ncols = max(1, min(len(handles), int(width // (max(map(len, labels)) + 6))))
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small")


def _save(fig: Any, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    fig.savefig(path, metadata={"Software": None})
    return path


def latency_series(result: SimResult) -> list[tuple[str, F64, str]]:
    """(label, sorted latencies in s, line style) to plot for one run: its tasks; in a
    scenario of task graphs its jobs first (creation to last result), then its stages
    (dashed, named as such)."""
    r = result.records
    lat = np.sort(r["latency_s"][np.isfinite(r["latency_s"])])
    if not np.any(r["stage"] >= 0):
        return [(result.policy, lat, "-")]
    return [
        (f"{result.policy} (jobs)", job_latencies(result), "-"),
        (f"{result.policy} (stages)", lat, "--"),
    ]


def latency_cdf(results: Sequence[SimResult]) -> Any:
    fig = _figure()
    ax = fig.subplots()
    dag = False
    for r in results:
        for k, (label, lat, style) in enumerate(latency_series(r)):
            dag = dag or k > 0
            if lat.size:
                color = None if k == 0 else ax.lines[-1].get_color() if ax.lines else None
                ax.plot(
                    lat * 1000.0,
                    np.arange(1, lat.size + 1) / lat.size,
                    style,
                    color=color,
                    label=label,
                )
    ax.set_xscale("log")
    what = "done jobs (solid) and their stages (dashed)" if dag else "done tasks"
    ax.set_xlabel(f"latency of {what} (ms)")
    ax.set_ylabel("share")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return fig


def energy(results: Sequence[SimResult]) -> Any:
    fig = _figure()
    left, right = fig.subplots(1, 2)
    names = [r.policy for r in results]
    device = [float(r.records["energy_j"].sum()) for r in results]
    node = [sum(n["dynamic_energy_j"] for n in r.nodes) for r in results]
    left.bar(names, device, color="tab:blue")
    left.set_title("device energy (J)")
    right.bar(names, node, color="tab:orange")
    right.set_title("node dynamic energy (J)")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=20)
    return fig


def offload_share(results: Sequence[SimResult]) -> Any:
    fig = _figure()
    ax = fig.subplots()
    for r in results:
        duration = r.scenario.duration_s
        width = max(r.scenario.view_interval_s, duration / 100.0)
        edges = np.arange(0.0, duration + width, width)
        decided = r.records["target"] >= -1
        created = r.records["created_s"][decided]
        remote = (r.records["target"][decided] >= 0).astype(np.float64)
        total, _ = np.histogram(created, edges)
        off, _ = np.histogram(created, edges, weights=remote)
        share = np.divide(off, total, out=np.full(total.size, np.nan), where=total > 0)
        ax.step(edges[:-1], share, where="post", label=r.policy)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("offload share")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return fig


def node_utilisation(results: Sequence[SimResult]) -> Any:
    fig = _figure()
    ax = fig.subplots()
    for r in results:
        if r.node_load.size:
            line = ax.plot(r.timeline_s, r.node_load.mean(axis=1), label=f"{r.policy} (mean)")
            ax.plot(
                r.timeline_s,
                r.node_load.max(axis=1),
                ls=":",
                color=line[0].get_color(),
                label=f"{r.policy} (busiest node)",
            )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("busy share of cores")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return fig


def bandwidth(results: Sequence[SimResult]) -> Any:
    fig = _figure(7.0, 2.8)
    ax = fig.subplots()
    r = results[0]
    ax.step(r.link_times_s, r.link_down_mbps, where="post", label="downlink")
    ax.step(r.link_times_s, r.link_up_mbps, where="post", label="uplink")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("capacity (Mbit/s)")
    ax.set_title(f"device 0 link: {r.link_name}", fontsize=9)
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return fig


#: Each plot's drawing function (a Figure from the runs), in the page's order.
DRAW = {
    "latency_cdf": latency_cdf,
    "energy": energy,
    "offload_share": offload_share,
    "node_utilisation": node_utilisation,
    "bandwidth": bandwidth,
}
PLOTS = tuple(DRAW)


_ROWS = [
    ("tasks", "tasks", "{:,}"),
    ("done", "done", "{:,}"),
    ("mean latency (ms)", "latency_s.mean", "ms"),
    ("p95 latency (ms)", "latency_s.p95", "ms"),
    ("p99 latency (ms)", "latency_s.p99", "ms"),
    ("deadline miss rate", "deadline_miss_rate", "%"),
    ("device energy (J)", "device_energy_j", "{:,.1f}"),
    ("node utilisation", "node_utilisation", "%"),
    ("offload share", "offload_share", "%"),
    ("input cache hit rate", "input_cache_hit_rate", "%"),
    ("result cache hit rate", "result_cache_hit_rate", "%"),
    ("uplink bytes saved", "uplink_saved_share", "%"),
    ("tasks per transfer", "tasks_per_transfer", "{:.2f}"),
    ("device DVFS saving", "device_dvfs_saving", "%"),
    ("node DVFS saving", "node_dvfs_saving", "%"),
    ("uplink MB", "uplink_bytes", "MB"),
]


#: Rows first in a scenario of task graphs: the jobs' own figures (the rows after
#: them count each stage as a task).
_JOB_ROWS = [
    ("jobs", "jobs.jobs", "{:,}"),
    ("jobs done", "jobs.done", "{:,}"),
    ("job p50 latency (ms)", "jobs.latency_s.p50", "ms"),
    ("job p95 latency (ms)", "jobs.latency_s.p95", "ms"),
    ("job deadline miss rate", "jobs.deadline_miss_rate", "%"),
]


_STAGE_LABELS = {
    "tasks": "stages",
    "done": "stages done",
    "mean latency (ms)": "mean stage latency (ms)",
    "p95 latency (ms)": "p95 stage latency (ms)",
    "p99 latency (ms)": "p99 stage latency (ms)",
    "deadline miss rate": "stage deadline miss rate",
    "offload share": "stages offloaded",
}


def _rows(summaries: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    if not any(s.get("jobs") for s in summaries):
        return _ROWS
    stages = [(_STAGE_LABELS.get(label, label), path, f) for label, path, f in _ROWS]
    return [*_JOB_ROWS, *stages]


def _cell(summary: dict[str, Any], path: str, fmt: str) -> str:
    value: Any = summary
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "–"
    if fmt == "%":
        return f"{100 * value:.1f} %"
    if fmt == "ms":
        return f"{1000 * value:.1f}"
    if fmt == "MB":
        return f"{value / 1e6:,.2f}"
    return fmt.format(value)


def write_report(results: Sequence[SimResult], out: Path) -> Path:
    """Write every plot and ``report.html`` into ``out``; returns the page."""
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in DRAW.items():
        _save(draw(results), out, name)
    summaries = [summarize(r) for r in results]
    scenario = results[0].scenario
    head = "".join(f"<th>{html.escape(s['policy'])}</th>" for s in summaries)
    rows = "".join(
        f"<tr><td>{label}</td>" + "".join(f"<td>{_cell(s, p, f)}</td>" for s in summaries) + "</tr>"
        for label, p, f in _rows(summaries)
    )
    images = "".join(f'<p><img src="{name}.png" alt="{name}"></p>' for name in PLOTS)
    sources = "".join(f"<li>{html.escape(s)}</li>" for s in scenario.sources)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(scenario.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
td,th{{padding:2px 10px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>{html.escape(scenario.name)}</h1><p>{html.escape(scenario.description)}</p>
<p>{scenario.duration_s:g} s simulated, seed {results[0].seed}.</p>
<table><tr><th></th>{head}</tr>{rows}</table>{images}
{"<h2>Sources</h2><ul>" + sources + "</ul>" if sources else ""}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
