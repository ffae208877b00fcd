"""The learned bandwidth predictor's folder checks and runtimes, on hand-made weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.estimators import KIND, LearnedPredictor
from edgeoffload.decision.modelfile import ModelFiles
from edgeoffload.decision.nn import Gru, Mlp
from edgeoffload.errors import ConfigError


def zero_gru(outputs: int, bias: float = 0.0) -> Gru:
    """A GRU whose read-out ignores its state: every output is ``bias``."""
    h = 2
    head = Mlp((np.zeros((h, outputs)),), (np.full(outputs, bias),))
    return Gru(np.zeros((3 * h, 1)), np.zeros((3 * h, h)), np.zeros(3 * h), np.zeros(3 * h), head)


def folder(path: Path, meta: dict[str, Any], gru: Gru) -> Path:
    ModelFiles(KIND, meta, gru.arrays()).save(path)
    return path


META = {"window": 4, "k": 2, "horizons_s": [1, 5]}


def test_predictions_are_the_harmonic_mean_times_exp_of_the_output(tmp_path: Path) -> None:
    p = LearnedPredictor(folder(tmp_path, META, zero_gru(2, np.log(2.0))), runtime="numpy")
    w = np.array([[1.0, 1.0, 3.0, 6.0]])
    s = 2 / (1 / 3 + 1 / 6)
    np.testing.assert_allclose(p.predict_windows(w), [[2 * s, 2 * s]])
    assert (p.window, p.k, p.horizons_s) == (4, 2, [1, 5])


def test_online_it_falls_back_to_the_harmonic_mean_until_a_window_is_full(
    tmp_path: Path,
) -> None:
    p = LearnedPredictor(folder(tmp_path, META, zero_gru(2)), runtime="numpy")
    assert np.isnan(p.predict())
    p.observe(4.0)
    assert p.predict() == 4.0
    p.observe(-1.0)  # a negative sample counts as 0, floored in the mean
    assert p.predict() < 1e-8
    p.observe(2.0)
    p.observe(2.0)
    # A full window with a zero output: the harmonic mean of its last k samples.
    assert p.predict() == pytest.approx(2.0)


def test_auto_runtime_without_an_onnx_file_uses_numpy(tmp_path: Path) -> None:
    p = LearnedPredictor(folder(tmp_path, META, zero_gru(2)))  # no model.onnx saved
    assert p.predict_windows(np.ones((3, 4))).shape == (3, 2)
    strict = LearnedPredictor(tmp_path, runtime="onnx")
    with pytest.raises(ConfigError, match=r"has no model\.onnx"):
        strict.predict_windows(np.ones((1, 4)))


def test_bad_folders_and_runtimes_are_refused(tmp_path: Path) -> None:
    good = folder(tmp_path / "good", META, zero_gru(2))
    with pytest.raises(ConfigError, match="runtime must be auto, onnx or numpy, not 'gpu'"):
        LearnedPredictor(good, runtime="gpu")
    few = folder(tmp_path / "few", META, zero_gru(3))
    with pytest.raises(ConfigError, match="3 outputs for 2 horizons"):
        LearnedPredictor(few)
    bad = folder(tmp_path / "bad", {"window": 4, "k": 2}, zero_gru(2))
    with pytest.raises(ConfigError, match=r"bad meta\.json \('horizons_s'\)"):
        LearnedPredictor(bad)
