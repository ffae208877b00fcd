"""Means with 95 % intervals: Student's t, checked against values from tables."""

from __future__ import annotations

import math

import pytest

from edgeoffload.stats import mean_ci95


def test_interval_of_five_values_uses_students_t() -> None:
    ci = mean_ci95([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.7764 (tables): half-width 1.9632
    assert ci.mean == pytest.approx(3.0)
    assert ci.half == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5), rel=1e-4)
    assert (ci.low, ci.high) == pytest.approx((3.0 - ci.half, 3.0 + ci.half))
    assert ci.n == 5


def test_one_value_has_no_interval_and_missing_values_are_left_out() -> None:
    ci = mean_ci95([2.0, None, float("nan")])
    assert (ci.mean, ci.n) == (2.0, 1)
    assert math.isnan(ci.half)
    empty = mean_ci95([None])
    assert empty.n == 0 and math.isnan(empty.mean)


def test_identical_values_have_a_zero_width_interval() -> None:
    assert mean_ci95([0.25] * 4).half == 0.0
