"""Bandwidth and RTT estimators: online objects, whole-series forms, the learned model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision.estimators import (
    HM_K,
    WINDOW,
    BandwidthPredictor,
    Ewma,
    HarmonicMean,
    IntervalCalibrator,
    RttEstimator,
    blend,
    ewma_series,
    future_mean,
    harmonic_series,
    prediction_error,
    upload_quantiles,
    upload_seconds,
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
    series = {
        name: [np.exp(np.cumsum(rng.normal(0, 0.2, 200))) for _ in range(2)]
        for name in ("a", "b", "c")
    }
    trained = train(series, PredictorConfig(hidden=8, epochs=1, members=1))
    folder = tmp_path_factory.mktemp("bw")
    trained.files.save(folder)
    return folder


def test_predictor_quantiles_are_ordered_and_scale_free(tiny_model: Path) -> None:
    p = BandwidthPredictor(tiny_model)
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 5.0, (20, WINDOW))
    out = p.outputs(w)
    assert out.shape == (20, len(p.horizons_s), 4)
    assert (out > 0).all()
    assert (np.diff(out[:, :, 1:], axis=2) >= 0).all()  # p10 <= p50 <= p90
    np.testing.assert_allclose(p.outputs(w * 30.0), 30.0 * out, rtol=1e-6)


def test_predictor_online_matches_batch_and_times_fall_as_bandwidth_rises(
    tiny_model: Path,
) -> None:
    p = BandwidthPredictor(tiny_model)
    x = np.random.default_rng(2).uniform(1.0, 4.0, WINDOW + 3)
    assert np.isnan(p.predict())
    for v in x:
        p.observe(float(v))
    batch = p.outputs(x[None, -WINDOW:])[0]
    assert p.quantiles(1)[1] == pytest.approx(batch[0, 2])  # the median is the model's
    t10, t50, t90 = p.upload_quantiles(1_000_000, rtt_s=0.01)
    assert 0.01 < t10 <= t50 <= t90
    with pytest.raises(ConfigError, match="horizon 7"):
        p.predict(7)


def test_the_online_point_is_the_folders_blend_of_the_methods(
    tiny_model: Path, tmp_path: Path
) -> None:
    """predict() blends the learned point, the last sample, the harmonic mean and the
    EWMA with the folder's weights: the same figure the evaluation scores."""
    files = ModelFiles.load(tiny_model, "bandwidth_quantile")
    files.meta["point"] = {"1": {"learned": 0.3, "last": 0.7}, "5": "ewma"}
    p = BandwidthPredictor(files.save(tmp_path / "blend"))
    x = np.random.default_rng(3).uniform(1.0, 4.0, WINDOW + 3)
    for v in x:
        p.observe(float(v))
    learned = p.outputs(x[None, -WINDOW:])[0][:, 0]
    assert p.predict(1) == pytest.approx(learned[0] ** 0.3 * x[-1] ** 0.7)
    assert p.predict(5) == pytest.approx(ewma_series(x)[-1])
    hm = HM_K / np.sum(1.0 / x[-HM_K:])
    files.meta["point"] = {"1": "harmonic_mean", "5": {"last": 1.0}}
    q = BandwidthPredictor(files.save(tmp_path / "hm"))
    for v in x:
        q.observe(float(v))
    assert q.predict(1) == pytest.approx(hm) and q.predict(5) == x[-1]
    both = blend(np.array([[learned[0]], [x[-1]], [hm], [1.0]]), np.array([0.5, 0, 0.5, 0]))
    assert both[0] == pytest.approx(np.sqrt(learned[0] * hm))
    assert blend(np.array([[0.0], [4.0], [4.0], [4.0]]), np.array([0.5, 0.5, 0, 0]))[0] > 0


@pytest.mark.parametrize(
    ("point", "match"),
    [
        ({"1": {"learned": 0.5, "last": 0.4}, "5": "last"}, "sum to 1"),
        ({"1": {"learned": 1.5, "last": -0.5}, "5": "last"}, ">= 0"),
        ({"1": {"oracle": 1.0}, "5": "last"}, "methods of"),
        ({"1": "last"}, "one blend of"),
    ],
)
def test_a_bad_point_blend_is_a_config_error(
    tiny_model: Path, tmp_path: Path, point: dict[str, object], match: str
) -> None:
    files = ModelFiles.load(tiny_model, "bandwidth_quantile")
    files.meta["point"] = point
    with pytest.raises(ConfigError, match=match):
        BandwidthPredictor(files.save(tmp_path / "bad"))


def test_interval_calibration_widens_after_misses() -> None:
    cal = IntervalCalibrator(gamma=0.2)
    before = cal.interval(1.0, 2.0, 4.0)
    for _ in range(10):
        low, high = cal.interval(1.0, 2.0, 4.0)
        cal.update(low, high, 10.0)  # above every interval: the high tail missed
    low, high = cal.interval(1.0, 2.0, 4.0)
    assert high > before[1] and low >= before[0]


def test_upload_seconds_of_an_outage_is_infinite() -> None:
    t = upload_seconds(np.array([0.0, 1.0, 2.0]), 125_000)  # 1 Mbit
    assert t.tolist() == [0.5, 1.0, float("inf")]


def test_shipped_predictor_loads_and_gives_upload_quantiles() -> None:
    t10, t50, t90 = upload_quantiles([2.0] * 10 + [1.0] * 5, 500_000)
    assert 0 < t10 <= t50 <= t90 < 60
    with pytest.raises(ConfigError, match="at least one"):
        upload_quantiles([], 1)


def test_bad_model_folders_are_config_errors(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        BandwidthPredictor(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"meta\.json"):
        BandwidthPredictor(tmp_path)
    ModelFiles("policy_mlp", {}, {}).save(tmp_path / "other")
    with pytest.raises(ConfigError, match="policy_mlp"):
        BandwidthPredictor(tmp_path / "other")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "meta.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"cannot read meta\.json"):
        BandwidthPredictor(tmp_path / "broken")
