"""Before/after figures of compressed models, and their tables (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Measurement:
    """One model file's figures.

    Attributes:
        size_bytes: the file size.
        latency_ms_b1: median time of one call with one sample (None: batch fixed).
        latency_ms_b32: the same with 32 samples per call.
        accuracy: share of labelled samples predicted right (None: no labels).
        agreement: share of samples classified as the reference (uncompressed) model
            classifies them (None: no data, no reference, or not a classifier).
        mae: mean absolute error against float targets (regression models).
        deviation: mean absolute difference of the first output from the reference's,
            for any model (how far compression moved the numbers).
        cpu_ms_b1, cpu_ms_b32: the calling thread's CPU time per call (median), which
            leaves out time spent waiting for a core (see :mod:`.measure`).
    """

    size_bytes: int
    latency_ms_b1: float | None
    latency_ms_b32: float | None
    accuracy: float | None = None
    agreement: float | None = None
    mae: float | None = None
    deviation: float | None = None
    cpu_ms_b1: float | None = None
    cpu_ms_b32: float | None = None

    def as_json(self) -> dict[str, float | int | None]:
        """The four figures of ``bench/results/compress.json`` (accuracy a fraction)."""
        return {
            "size_bytes": self.size_bytes,
            "latency_ms_b1": _round(self.latency_ms_b1, 4),
            "latency_ms_b32": _round(self.latency_ms_b32, 4),
            "accuracy": _round(self.accuracy, 4),
        }


def predictions(output: np.ndarray) -> np.ndarray:
    """Class labels from a model's first output.

    - integer output (e.g. scikit-learn converters' label output): the labels;
    - scores with two or more columns: the argmax of the last axis;
    - one score per sample: 1 above 0.5 when the scores are probabilities in [0, 1],
      above 0 otherwise (logits).
    """
    if np.issubdtype(output.dtype, np.integer):
        return output.reshape(len(output), -1)[:, 0]
    if output.ndim >= 2 and output.shape[-1] >= 2:
        labels: np.ndarray = output.argmax(axis=-1).reshape(len(output), -1)[:, 0]
        return labels
    flat = output.reshape(len(output))
    cut = 0.5 if flat.size and flat.min() >= 0.0 and flat.max() <= 1.0 else 0.0
    return (flat > cut).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Quality:
    """How well one model's outputs match the labels and the reference's outputs."""

    accuracy: float | None = None
    agreement: float | None = None
    mae: float | None = None
    deviation: float | None = None


def quality(output: np.ndarray, y: np.ndarray | None, ref: np.ndarray | None) -> Quality:
    """Score a model's first output on a data set.

    Integer labels make it a classifier (accuracy, agreement with the reference's
    classes); float targets a regression (mean absolute error). Without labels, an
    output of class scores or labels is taken as a classifier's.
    """
    if y is not None:
        classes = bool(np.issubdtype(y.dtype, np.integer))
    else:
        scores = output.ndim >= 2 and output.shape[-1] > 1
        classes = bool(np.issubdtype(output.dtype, np.integer)) or scores
    accuracy = agreement = mae = deviation = None
    if classes:
        if y is not None:
            accuracy = float((predictions(output) == y.reshape(len(y))).mean())
        if ref is not None:
            agreement = float((predictions(output) == predictions(ref)).mean())
    elif y is not None and y.size == output.size:
        mae = float(np.abs(output.reshape(y.shape).astype(np.float64) - y).mean())
    if ref is not None and ref.shape == output.shape and np.issubdtype(ref.dtype, np.floating):
        deviation = float(np.abs(output.astype(np.float64) - ref).mean())
    return Quality(accuracy, agreement, mae, deviation)


def speedup(before: float | None, after: float | None) -> float | None:
    """``before / after`` (how many times faster), None if either is missing."""
    if before is None or after is None or after <= 0:
        return None
    return before / after


#: A result slower than the reference by less than this is not warned about: on the
#: shared machine the bench's speed-up ratios moved by about 15 % between runs.
SLOWER_THAN = 0.9


def slowdown_warning(
    rows: Mapping[str, Measurement],
    final: str,
    reference: str,
    label: str,
    advice: Mapping[str, str],
    note: str = "",
) -> str | None:
    """A warning when the compressed model is slower than the original at batch 32.

    Compression is done for speed as much as for size, and some combinations lose it
    (pruned + dynamic INT8 on the digits CNN ran at 0.17x): say so, with the faster of
    the variants measured (``advice`` says how to get each: "drop --int8"), rather than
    let a table be misread.

    Args:
        rows: the measured variants; ``final`` is the written one, ``reference`` the
            original. label: how to name ``final`` ("pruned 30% + int8 dynamic").
        note: a reason to add (why this combination is slow), or "".
    """
    ref, got = rows[reference], rows[final]
    ratio = speedup(ref.latency_ms_b32, got.latency_ms_b32)
    if ratio is None or ratio >= SLOWER_THAN:
        return None
    assert ref.latency_ms_b32 is not None and got.latency_ms_b32 is not None
    text = (
        f"warning: {label} is slower than the {reference} model: {ratio:.2f}x its speed at "
        f"batch 32 ({got.latency_ms_b32:.4f} ms against {ref.latency_ms_b32:.4f} ms)."
    )
    others = {
        name: r
        for name in rows
        if name != final and (r := speedup(ref.latency_ms_b32, rows[name].latency_ms_b32))
    }
    if others:
        best = max(others, key=others.__getitem__)
        how = advice.get(best, "")
        text += f" Faster here: {best} ({others[best]:.2f}x)" + (f": {how}." if how else ".")
    return text + (f" {note}" if note else "")


def text_table(rows: Mapping[str, Measurement], reference: str) -> str:
    """A plain table for the terminal, each row compared with ``reference``."""
    ref = rows[reference]
    regression = any(m.mae is not None for m in rows.values())
    quality = ("mae", "|out diff|") if regression else ("accuracy", "vs ref", "agree")
    header = ("model", "size", "of ref", "b1 ms", "b32 ms", "b32 speed-up", *quality)
    lines = [header]
    for name, m in rows.items():
        scores: tuple[str, ...]
        if regression:
            scores = (_num(m.mae, 4), _num(m.deviation, 5))
        else:
            scores = (_num(m.accuracy, 4), _points(m.accuracy, ref.accuracy), _num(m.agreement, 4))
        lines.append(
            (
                name,
                _size(m.size_bytes),
                f"{100 * m.size_bytes / ref.size_bytes:.0f}%",
                _num(m.latency_ms_b1, 4),
                _num(m.latency_ms_b32, 4),
                _times(speedup(ref.latency_ms_b32, m.latency_ms_b32)),
                *scores,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def markdown_table(rows: Mapping[str, Measurement], reference: str) -> str:
    """The docs table for one model: variants as rows, ``reference`` as the baseline."""
    ref = rows[reference]
    out = [
        "| variant | size | of fp32 | batch 1 (ms) | speed-up | batch 32 (ms) | speed-up "
        "| accuracy | change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows.items():
        out.append(
            f"| {name} | {_size(m.size_bytes)} | {100 * m.size_bytes / ref.size_bytes:.0f} % "
            f"| {_num(m.latency_ms_b1, 4)} | {_times(speedup(ref.latency_ms_b1, m.latency_ms_b1))} "
            f"| {_num(m.latency_ms_b32, 4)} "
            f"| {_times(speedup(ref.latency_ms_b32, m.latency_ms_b32))} "
            f"| {_num(m.accuracy, 4)} | {_points(m.accuracy, ref.accuracy)} |"
        )
    return "\n".join(out)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _points(value: float | None, ref: float | None) -> str:
    """The change in percentage points (accuracy is a fraction)."""
    if value is None or ref is None:
        return "n/a"
    return f"{100 * (value - ref):+.1f} pt"


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.2f} MB"
    return f"{n / 1e3:.1f} KB"
