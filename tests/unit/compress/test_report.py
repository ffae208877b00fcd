"""Figures and tables (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.compress.report import (
    Measurement,
    markdown_table,
    predictions,
    quality,
    speedup,
    text_table,
)


@pytest.mark.parametrize(
    ("output", "labels"),
    [
        (np.array([[0.1, 0.9], [0.8, 0.2]], np.float32), [1, 0]),
        (np.array([[0.7], [0.2]], np.float32), [1, 0]),  # probabilities: cut at 0.5
        (np.array([-1.0, 0.3], np.float32), [0, 1]),  # logits: cut at 0
        (np.array([3, 1], np.int64), [3, 1]),  # labels already
    ],
)
def test_predictions(output: np.ndarray, labels: list[int]) -> None:
    assert predictions(output).tolist() == labels


def test_speedup_and_missing_values() -> None:
    assert speedup(2.0, 0.5) == 4.0
    assert speedup(None, 1.0) is None and speedup(1.0, None) is None


def test_json_has_exactly_the_four_figures() -> None:
    m = Measurement(1000, 0.123456, 1.5, 0.97123, agreement=1.0)
    assert m.as_json() == {
        "size_bytes": 1000,
        "latency_ms_b1": 0.1235,
        "latency_ms_b32": 1.5,
        "accuracy": 0.9712,
    }


def test_tables_compare_each_row_with_the_reference() -> None:
    rows = {
        "fp32": Measurement(4_000_000, 1.0, 4.0, 0.98),
        "int8": Measurement(1_000_000, 0.5, 1.0, 0.975),
    }
    md = markdown_table(rows, "fp32")
    assert "| int8 | 1.00 MB | 25 % | 0.5000 | 2.00x | 1.0000 | 4.00x | 0.9750 | -0.5 pt |" in md
    text = text_table(rows, "fp32")
    assert "4.00x" in text and "n/a" in text  # no agreement measured


def test_quality_of_a_classifier_and_of_a_regression() -> None:
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], np.float32)
    ref = np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1]], np.float32)
    q = quality(scores, np.array([1, 0, 0]), ref)
    assert q.accuracy == pytest.approx(2 / 3) and q.agreement == pytest.approx(1 / 3)
    assert q.mae is None and q.deviation == pytest.approx(np.abs(scores - ref).mean())
    targets = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    r = quality(scores, targets, None)
    assert r.accuracy is None and r.agreement is None
    assert r.mae == pytest.approx(np.abs(scores - targets).mean())
