"""The report's tables cell by cell, and quality without labels."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.compress.report import Measurement, quality, speedup, text_table


def test_the_text_table_aligns_names_left_and_figures_right() -> None:
    rows = {
        "fp32": Measurement(150_000, 0.2, 2.0, 0.97, agreement=1.0),
        "int8-static": Measurement(45_000, 0.1, 0.5, 0.965, agreement=0.99),
    }
    lines = text_table(rows, "fp32").splitlines()
    assert len(lines) == 3
    assert lines[0].split() == [
        "model", "size", "of", "ref", "b1", "ms", "b32", "ms", "b32", "speed-up",
        "accuracy", "vs", "ref", "agree",
    ]  # fmt: skip
    assert lines[1].split() == [
        "fp32", "150.0", "KB", "100%", "0.2000", "2.0000", "1.00x", "0.9700", "+0.0", "pt",
        "1.0000",
    ]  # fmt: skip
    assert lines[2].split()[:4] == ["int8-static", "45.0", "KB", "30%"]
    assert lines[2].split()[-4:] == ["0.9650", "-0.5", "pt", "0.9900"]
    assert lines[1].startswith("fp32 ") and len({len(line) for line in lines}) == 1


def test_a_regression_table_shows_errors_instead_of_accuracy() -> None:
    rows = {
        "fp32": Measurement(2_500_000, 1.0, None, mae=0.1, deviation=0.0),
        "small": Measurement(500_000, 0.25, None, mae=0.125, deviation=0.03125),
    }
    lines = text_table(rows, "fp32").splitlines()
    assert "accuracy" not in lines[0] and "mae" in lines[0]
    assert lines[1].split() == [
        "fp32",
        "2.50",
        "MB",
        "100%",
        "1.0000",
        "n/a",
        "n/a",
        "0.1000",
        "0.00000",
    ]
    assert lines[2].split()[-2:] == ["0.1250", "0.03125"]


def test_speedup_of_a_zero_time_is_missing() -> None:
    assert speedup(1.0, 0.0) is None


def test_quality_without_labels_treats_class_scores_as_a_classifier() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
    ref = np.array([[0.6, 0.4], [0.7, 0.3]], np.float32)
    q = quality(scores, None, ref)
    assert (q.accuracy, q.agreement) == (None, 0.5)
    assert q.deviation == pytest.approx(0.4)
    # One number per sample without labels: not a classifier, only the deviation.
    r = quality(np.array([[1.0], [2.0]], np.float32), None, np.array([[1.5], [2.0]], np.float32))
    assert (r.accuracy, r.agreement, r.mae, r.deviation) == (None, None, None, 0.25)


def test_integer_outputs_have_no_deviation() -> None:
    labels = np.array([1, 0, 2])
    q = quality(labels, np.array([1, 1, 2]), np.array([1, 0, 0]))
    assert q.accuracy == pytest.approx(2 / 3) and q.agreement == pytest.approx(2 / 3)
    assert q.deviation is None  # differences of class numbers mean nothing
