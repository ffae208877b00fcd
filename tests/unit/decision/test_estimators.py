"""Bandwidth and RTT estimators: online objects, whole-series forms, the learned model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision.estimators import (
    Ewma,
    HarmonicMean,
    LearnedPredictor,
    RttEstimator,
    ewma_series,
    future_mean,
    harmonic_series,
    prediction_error,
    windows,
)
from edgeoffload.decision.modelfile import ModelFiles
from edgeoffload.errors import ConfigError


def test_ewma_and_its_series_agree() -> None:
    x = np.array([4.0, 2.0, 8.0, 8.0, 1.0])
    e = Ewma(alpha=0.5)
    online = []
    for v in x:
        e.observe(float(v))
        online.append(e.predict())
    assert online[:3] == [4.0, 3.0, 5.5]
    np.testing.assert_allclose(ewma_series(x, 0.5), online)


def test_harmonic_mean_is_robust_to_one_fast_sample() -> None:
    h = HarmonicMean(k=3)
    for v in (2.0, 2.0, 200.0):
        h.observe(v)
    assert h.predict() == pytest.approx(3 / (0.5 + 0.5 + 0.005))
    x = np.array([1.0, 2.0, 4.0, 0.0, 8.0])
    series = harmonic_series(x, 2, floor=1e-9)
    assert series[0] == 1.0
    assert series[2] == pytest.approx(2 / (1 / 2 + 1 / 4))
    assert series[3] < 1e-8  # an outage pulls it down at once
    online = HarmonicMean(k=2)
    for i, v in enumerate(x):
        online.observe(float(v))
        assert online.predict() == pytest.approx(series[i])


def test_rtt_estimator_follows_rfc_6298() -> None:
    r = RttEstimator()
    assert np.isnan(r.predict())
    r.observe(0.1)
    r.observe(0.18)
    assert r.predict() == pytest.approx(0.1 + 0.08 / 8)


def test_series_helpers() -> None:
    x = np.arange(6, dtype=float)
    np.testing.assert_allclose(future_mean(x, 2)[:4], [1.5, 2.5, 3.5, 4.5])
    assert np.isnan(future_mean(x, 2)[4:]).all()
    assert windows(x, 4).tolist() == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]
    err = prediction_error(np.array([1.0, 3.0, 5.0]), np.array([2.0, 3.0, 0.0]), 0.5)
    assert err == {"mape": 0.25, "rmse": pytest.approx(np.sqrt(0.5)), "n": 2}


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        Ewma(alpha=0.0)
    with pytest.raises(ConfigError):
        HarmonicMean(k=0)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgeoffload.decision.train.predictor import PredictorConfig, train

    rng = np.random.default_rng(0)
    series = [np.exp(np.cumsum(rng.normal(0, 0.2, 300))) for _ in range(6)]
    trained = train(series, PredictorConfig(window=8, hidden=8, epochs=2, stride=1))
    folder = tmp_path_factory.mktemp("bw")
    trained.files.save(folder, trained.onnx)
    return folder


def test_learned_predictor_online_matches_batch(tiny_model: Path) -> None:
    p = LearnedPredictor(tiny_model)
    x = np.array([1.0, 1.2, 0.9, 1.5, 2.0, 1.8, 1.7, 2.2, 2.5, 2.4])
    for v in x[:7]:
        p.observe(float(v))
    # Before a full window: the harmonic mean of the last k.
    assert p.predict() == pytest.approx(5 / np.sum(1 / x[2:7]))
    p.observe(float(x[7]))
    batch = p.predict_windows(x[None, :8])
    assert batch.shape == (1, 2)
    assert p.predict() == pytest.approx(batch[0, 0])
    assert (batch > 0).all()


def test_learned_predictor_is_scale_free(tiny_model: Path) -> None:
    p = LearnedPredictor(tiny_model)
    w = np.array([[1.0, 1.2, 0.9, 1.5, 2.0, 1.8, 1.7, 2.2]])
    np.testing.assert_allclose(p.predict_windows(w * 30.0), 30.0 * p.predict_windows(w))


def test_learned_predictor_numpy_matches_onnxruntime(tiny_model: Path) -> None:
    from edgeoffload.decision.train.predictor import time_inference

    timing = time_inference(tiny_model, repeats=3)  # asserts equal outputs inside
    assert set(timing) == {"numpy_1_us", "numpy_1000_us", "onnx_1_us", "onnx_1000_us"}


def test_bad_model_folders_are_config_errors(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        LearnedPredictor(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"meta\.json"):
        LearnedPredictor(tmp_path)
    ModelFiles("policy_mlp", {}, {}).save(tmp_path / "other")
    with pytest.raises(ConfigError, match="policy_mlp"):
        LearnedPredictor(tmp_path / "other")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "meta.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot read meta\.json"):
        LearnedPredictor(tmp_path / "broken")
