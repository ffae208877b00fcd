"""Training the bandwidth predictor: its pairs, its files, its evaluation (tiny runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeoffload.decision.estimators import KIND, LearnedPredictor
from edgeoffload.decision.modelfile import ModelFiles
from edgeoffload.decision.train.predictor import (
    PredictorConfig,
    TrainedPredictor,
    evaluate,
    one_second_series,
    train,
    training_pairs,
)
from edgeoffload.errors import ConfigError
from edgeoffload.traces import Trace

TINY = PredictorConfig(window=6, k=2, hidden=4, epochs=2, stride=2, batch_size=64)


def test_one_second_series_are_exact_means_of_each_second() -> None:
    trace = Trace("t", "file", np.array([0.0, 1.5]), np.array([2.0, 4.0]), 3.0)
    (series,) = one_second_series([trace])
    assert series.tolist() == [2.0, 3.0, 4.0]


def test_training_pairs_are_log_ratios_to_the_window_harmonic_mean() -> None:
    x = np.arange(1.0, 21.0)
    cfg = PredictorConfig(window=4, k=2, horizons_s=(1, 5))
    inputs, targets = training_pairs([x], cfg)
    # Every window with 5 s of future behind it: 20 - 4 + 1 - 5.
    assert inputs.shape == (12, 4) and targets.shape == (12, 2)
    s = 2 / (1 / 3 + 1 / 4)  # harmonic mean of the first window's last two samples
    np.testing.assert_allclose(inputs[0], np.log(np.array([1.0, 2.0, 3.0, 4.0]) / s))
    np.testing.assert_allclose(targets[0], [np.log(5.0 / s), np.log(7.0 / s)])


def test_training_pairs_skip_short_series_and_outages() -> None:
    cfg = PredictorConfig(window=4, k=2, horizons_s=(1,))
    short = np.ones(4)  # needs window + horizon = 5 samples
    x = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 2.0, 2.0])
    inputs, targets = training_pairs([short, x], cfg)
    # Windows ending at t = 3, 4, 5; the first has a zero next second: dropped.
    assert inputs.shape == (2, 4)
    assert np.isfinite(targets).all()


def series(n: int = 4, length: int = 120) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.exp(np.cumsum(rng.normal(0, 0.2, length))) for _ in range(n)]


@pytest.fixture(scope="module")
def trained() -> TrainedPredictor:
    return train(series(), TINY)


def test_train_records_its_shape_and_losses(trained: TrainedPredictor) -> None:
    meta = trained.files.meta
    assert trained.files.kind == KIND
    assert (meta["window"], meta["k"], meta["horizons_s"], meta["hidden"]) == (6, 2, [1, 5], 4)
    pairs = 4 * (120 - 6 + 1 - 5)
    assert meta["training_windows"] == (pairs + 1) // 2  # every other window
    assert len(trained.losses) == 2 and meta["train_loss"] == trained.losses
    assert all(loss > 0 for loss in trained.losses)
    assert (
        meta["features"][0] == "log(x[t-5] / hm2)" and meta["features"][-1] == "log(x[t-0] / hm2)"
    )
    graph = onnx.load_from_string(trained.onnx).graph
    assert [i.name for i in graph.input] == ["x"] and [o.name for o in graph.output] == ["y"]


def test_train_is_seeded(trained: TrainedPredictor) -> None:
    again = train(series(), TINY)
    assert again.losses == trained.losses
    for name, value in trained.files.arrays.items():
        np.testing.assert_array_equal(again.files.arrays[name], value)


@pytest.fixture(scope="module")
def folder(trained: TrainedPredictor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("predictor")
    trained.files.save(path, trained.onnx)
    return path


def test_the_saved_model_loads_and_numpy_agrees_with_onnx(folder: Path) -> None:
    assert ModelFiles.load(folder, KIND).meta["window"] == 6
    w = np.exp(np.random.default_rng(1).normal(0, 0.3, (20, 6)))
    by_numpy = LearnedPredictor(folder, runtime="numpy").predict_windows(w)
    by_onnx = LearnedPredictor(folder, runtime="onnx").predict_windows(w)
    assert by_numpy.shape == (20, 2)
    np.testing.assert_allclose(by_onnx, by_numpy, rtol=1e-4)


def test_evaluate_scores_every_method_on_the_same_seconds(folder: Path) -> None:
    predictor = LearnedPredictor(folder, runtime="numpy")
    flat = np.full(30, 5.0)
    result = evaluate(predictor, [flat, np.ones(3)])  # the 3-s series is too short
    assert set(result) == {"1s", "5s"}
    for horizon in result.values():
        assert set(horizon) == {"learned", "harmonic_mean", "ewma", "last"}
        assert {row["n"] for row in horizon.values()} == {30 - 6 + 1 - 5}
        # A constant link: every baseline is exact.
        for name in ("harmonic_mean", "ewma", "last"):
            assert horizon[name]["mape"] == pytest.approx(0.0, abs=1e-12)
            assert horizon[name]["rmse"] == pytest.approx(0.0, abs=1e-12)


def test_evaluate_leaves_outages_out_of_mape_but_not_of_rmse(folder: Path) -> None:
    predictor = LearnedPredictor(folder, runtime="numpy")
    x = np.full(30, 5.0)
    x[20] = 0.0  # one second of outage: the 1-s mean ahead of t = 19 is 0
    row = evaluate(predictor, [x])["1s"]["last"]
    assert row["n"] == 20 - 1  # of 20 seconds, the one before the outage is skipped
    assert row["mape"] > 0  # the seconds after it still differ
    assert row["rmse"] > 0


def test_series_too_short_for_any_window_are_a_config_error(folder: Path) -> None:
    # Found while writing these tests: numpy's "need at least one array to concatenate"
    # used to reach the user instead.
    cfg = PredictorConfig(window=4, horizons_s=(1, 5))
    with pytest.raises(ConfigError, match=r"no series of at least 9 s \(window 4 \+ 5 s ahead\)"):
        training_pairs([np.ones(8)], cfg)
    with pytest.raises(ConfigError, match=r"no series of at least 11 s \(window 6 \+ 5 s ahead\)"):
        evaluate(LearnedPredictor(folder, runtime="numpy"), [np.ones(10)])


def test_mape_is_finite_on_a_trace_whose_median_is_zero(folder: Path) -> None:
    """Issue 15: the outage floor was 1 % of each trace's own median, 0 for a trace
    mostly in outage, so its zero seconds were kept and the MAPE was inf or NaN. The
    floor is now relative to the pooled median of the non-zero seconds."""
    predictor = LearnedPredictor(folder, runtime="numpy")
    outage = np.zeros(40)
    outage[5:15] = 4.0  # 10 s of link, 30 s of nothing: the median is 0
    for series in ([outage], [outage, np.full(30, 5.0)]):
        result = evaluate(predictor, series)
        for horizon in result.values():
            for row in horizon.values():
                assert np.isfinite(row["mape"]) and np.isfinite(row["rmse"]), row
                assert row["n"] > 0


def test_outage_floor_pools_the_non_zero_seconds() -> None:
    from edgeoffload.decision.train.predictor import outage_floor

    assert outage_floor([np.array([0.0, 0.0, 0.0, 4.0]), np.array([6.0, 0.0])]) == 0.05
    with pytest.raises(ConfigError, match="every second of the traces has 0 throughput"):
        outage_floor([np.zeros(30)])
