"""Measuring model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeoffload.compress.data import Dataset
from edgeoffload.compress.measure import Settings, inputs_for, measure, op_times
from edgeoffload.models.runtime import OnnxModel


def test_measure_reports_size_latency_accuracy_and_agreement(
    cnn: Path, digits8: tuple[Dataset, Dataset]
) -> None:
    test = digits8[1]
    rows = measure({"a": cnn, "b": cnn}, test, Settings(repeats=2, warmup=1), reference="a")
    expected = float((OnnxModel(cnn).predict(test.x) == test.y).mean())
    for m in rows.values():
        assert m.size_bytes == cnn.stat().st_size
        assert m.accuracy == expected and m.agreement == 1.0
        assert m.latency_ms_b1 is not None and m.latency_ms_b32 is not None
        assert 0 < m.latency_ms_b1 < m.latency_ms_b32 * 32


def test_without_data_models_are_timed_on_random_inputs(cnn: Path) -> None:
    x = inputs_for(OnnxModel(cnn), None, 32)
    assert x.shape == (32, 1, 8, 8) and x.dtype == np.float32
    m = measure({"m": cnn}, None, Settings(repeats=1, warmup=1))["m"]
    assert m.accuracy is None and m.agreement is None and m.latency_ms_b32 is not None


def test_the_profile_names_the_kernels_run(cnn: Path, digits8: tuple[Dataset, Dataset]) -> None:
    profile = op_times(cnn, digits8[1].x[:32], runs=5)
    assert "Conv" in profile and all(us >= 0 for us in profile.values())
