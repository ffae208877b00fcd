"""Random quantities in scenarios: a plain number, or a distribution by name.

In a scenario file a quantity is either a number (``cpu_cycles: 2.0e9``) or a table
tagged with ``dist`` (``cpu_cycles: {dist: lognormal, median: 2.0e9, sigma: 0.3}``).
:func:`sample` draws ``n`` values at once from a seeded generator, so per-task
attributes cost one numpy call per interval, not one per task.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np

from ..decision.features import F64, I64

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class Uniform(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="uniform", tag_field="dist"
):
    """Uniform on [low, high)."""

    low: float
    high: float


class LogNormal(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="lognormal", tag_field="dist"
):
    """Log-normal with the given median and log-space standard deviation ``sigma``."""

    median: Positive
    sigma: NonNegative


class Exponential(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="exponential", tag_field="dist"
):
    """Exponential with the given mean (Poisson-process gaps, M/M/c service)."""

    mean: Positive


class Choice(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="choice", tag_field="dist"
):
    """One of ``values``, with ``weights`` (default: equally likely)."""

    values: Annotated[list[float], msgspec.Meta(min_length=1)]
    weights: list[NonNegative] | None = None


Distribution = Uniform | LogNormal | Exponential | Choice
#: A scenario quantity: a constant or a distribution.
Value = float | Distribution


def sample(value: Value, rng: np.random.Generator, n: int) -> F64:
    """``n`` draws of ``value`` (a constant is repeated without touching ``rng``)."""
    if isinstance(value, (int, float)):
        return np.full(n, float(value))
    if isinstance(value, Uniform):
        return rng.uniform(value.low, value.high, n)
    if isinstance(value, LogNormal):
        return value.median * np.exp(value.sigma * rng.standard_normal(n))
    if isinstance(value, Exponential):
        return rng.exponential(value.mean, n)
    weights = None
    if value.weights is not None:
        total = float(sum(value.weights))
        weights = np.asarray(value.weights, dtype=np.float64) / total
    return rng.choice(np.asarray(value.values, dtype=np.float64), size=n, p=weights)


def mean(value: Value) -> float:
    """The expected value (for sizing and for the views' initial estimates)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Uniform):
        return (value.low + value.high) / 2.0
    if isinstance(value, LogNormal):
        return float(value.median * np.exp(value.sigma**2 / 2.0))
    if isinstance(value, Exponential):
        return value.mean
    weights = np.ones(len(value.values)) if value.weights is None else np.asarray(value.weights)
    return float(np.dot(value.values, weights) / weights.sum())


def lower_bound(value: Value) -> float:
    """The smallest value a draw can take (to refuse negative sizes on load)."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Uniform):
        return min(value.low, value.high)
    if isinstance(value, Choice):
        return min(value.values)
    return 0.0


class Zipf:
    """Bounded Zipf popularity over ``items`` keys (rank ``k`` has weight ``k**-s``), the
    usual model of content popularity (Breslau et al., INFOCOM 1999)."""

    def __init__(self, items: int, s: float) -> None:
        weights = np.arange(1, items + 1, dtype=np.float64) ** -s
        self._cdf = np.cumsum(weights) / weights.sum()

    def sample(self, rng: np.random.Generator, n: int) -> I64:
        """``n`` keys in ``0..items-1`` (0 the most popular)."""
        keys = np.searchsorted(self._cdf, rng.random(n), side="right")
        return np.asarray(np.minimum(keys, self._cdf.size - 1), dtype=np.int64)
