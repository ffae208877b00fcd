"""Means with 95 % confidence intervals, for figures aggregated over simulation seeds.

A sweep or an evaluation runs each configuration over a handful of seeds; a mean alone
hides how much the seeds disagree. The interval is Student's t on the per-seed values
(few seeds, unknown variance: the normal quantile would make it too narrow below about
30 values). scipy supplies the t quantile, imported only when an interval is computed
(it is in the ``sim`` and ``train`` extras).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple


class Interval(NamedTuple):
    """A mean and its 95 % interval ``mean +- half`` over ``n`` finite values (``half``
    is NaN below two values; ``mean`` is NaN with none)."""

    mean: float
    half: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half


def mean_ci95(values: Iterable[float | None]) -> Interval:
    """The mean of the finite values and Student's t 95 % half-width; ``None`` and NaN
    (a figure a run did not have, e.g. no task with a deadline) are left out."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, 0)
    mean = math.fsum(xs) / n
    if n == 1:
        return Interval(mean, math.nan, 1)
    from scipy.stats import t

    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    return Interval(mean, float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n), n)


def plus_minus(mean: float, half: float, fmt: str, *, percent: bool = False) -> str:
    """``mean ± half`` as one table cell, the same in every table that shows intervals
    (the sweep's and ``evaluate --seeds``): ``fmt`` formats both numbers, ``percent``
    scales them by 100 and adds `` %``; the mean alone when there is no interval (one
    seed) and ``–`` when there is no value."""
    if math.isnan(mean):
        return "–"
    scale, unit = (100.0, " %") if percent else (1.0, "")
    body = fmt.format(scale * mean)
    if not math.isnan(half):
        body += f" ± {fmt.format(scale * half)}"
    return body + unit
