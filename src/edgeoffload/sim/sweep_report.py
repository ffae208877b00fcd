"""What a sweep writes beside its raw ``sweep.json``: a table of the seeds' means with
their 95 % intervals (one column per grid parameter), as CSV for spreadsheets and as an
HTML page with one plot per figure.

The rows come from :func:`~edgeoffload.sim.sweep.aggregate`. Each plot puts the first
grid parameter on the x axis and draws one line per policy (and per value of the other
parameters), with the interval as error bars, so an overlap of two lines' bars reads as
"not told apart by these seeds".
"""

from __future__ import annotations

import csv
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..stats import Interval, plus_minus
from .report import legend_below
from .sweep import METRICS

#: Column headings and formats of each figure (``%``: a share shown in per cent).
LABELS = {
    "p50_ms": ("p50 ms", "{:.1f}"),
    "p95_ms": ("p95 ms", "{:.1f}"),
    "deadline_miss_rate": ("deadline miss", "%"),
    "device_energy_j": ("device J", "{:.2f}"),
    "offload_share": ("offloaded", "%"),
}


def cell(ci: Interval, fmt: str) -> str:
    """``mean ± half`` (``–`` for no value, the mean alone for one seed); ``fmt`` ``"%"``
    is a percentage with one decimal."""
    if ci.n == 0:
        return "–"
    if fmt == "%":
        return plus_minus(ci.mean, ci.half, "{:.1f}", percent=True)
    return plus_minus(ci.mean, ci.half, fmt)


def table(
    rows: Sequence[dict[str, Any]], params: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """Headings and text cells: the grid parameters, policy, seeds, then each figure."""
    headers = [*params, "policy", "seeds", *(LABELS[m][0] for m in METRICS)]
    body = [
        [
            *(str(r[p]) for p in params),
            r["policy"],
            str(r["seeds"]),
            *(cell(r[m], LABELS[m][1]) for m in METRICS),
        ]
        for r in rows
    ]
    return headers, body


def write_csv(rows: Sequence[dict[str, Any]], params: Sequence[str], path: Path) -> Path:
    """One line per row: parameters, policy, seeds, and ``<figure>_mean``,
    ``<figure>_ci95_low``, ``<figure>_ci95_high`` (empty where there is no value)."""
    fields = [*params, "policy", "seeds"]
    for m in METRICS:
        fields += [f"{m}_mean", f"{m}_ci95_low", f"{m}_ci95_high"]
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(fields)
        for r in rows:
            line: list[Any] = [*(r[p] for p in params), r["policy"], r["seeds"]]
            for m in METRICS:
                ci: Interval = r[m]
                line += [_num(ci.mean), _num(ci.low), _num(ci.high)]
            out.writerow(line)
    return path


def _num(x: float) -> str:
    return "" if math.isnan(x) else repr(x)


def plot(rows: Sequence[dict[str, Any]], params: Sequence[str], metric: str, out: Path) -> Path:
    """One figure against the first grid parameter (or per policy with no grid)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    x_param = params[0] if params else None
    xs = list(dict.fromkeys(r[x_param] for r in rows)) if x_param else [""]
    lines: dict[str, list[tuple[int, Interval]]] = {}
    for r in rows:
        rest = ", ".join(f"{p}={r[p]}" for p in params[1:])
        name = f"{r['policy']} ({rest})" if rest else r["policy"]
        lines.setdefault(name, []).append((xs.index(r[x_param]) if x_param else 0, r[metric]))
    scale = 100.0 if LABELS[metric][1] == "%" else 1.0
    for k, (name, points) in enumerate(lines.items()):
        shift = 0.0 if x_param else k  # no grid: one bar-like point per policy
        ax.errorbar(
            [i + shift for i, _ in points],
            [scale * ci.mean for _, ci in points],
            yerr=[0.0 if math.isnan(ci.half) else scale * ci.half for _, ci in points],
            marker="o",
            capsize=3,
            label=name,
        )
    if x_param:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_xlabel(x_param)
    else:
        ax.set_xticks(range(len(lines)), list(lines))
    label = LABELS[metric][0] + (" (%)" if scale == 100.0 else "")
    ax.set_ylabel(f"{label}, mean and 95 % interval")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    path = out / f"sweep_{metric}.png"
    fig.savefig(path, metadata={"Software": None})
    return path


def write_html(
    rows: Sequence[dict[str, Any]], params: Sequence[str], title: str, out: Path
) -> Path:
    """``sweep.html``: the table and one plot per figure (PNG files beside it)."""
    headers, body = table(rows, params)
    images = "".join(
        f'<p><img src="{plot(rows, params, m, out).name}" alt="{m}"></p>' for m in METRICS
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    lines = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in body
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}
td,th{{padding:2px 10px;text-align:right}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Means over seeds with Student's t 95 % intervals (mean ± half-width).</p>
<table><tr>{head}</tr>{lines}</table>{images}
</body></html>
"""
    path = out / "sweep.html"
    path.write_text(page)
    return path
