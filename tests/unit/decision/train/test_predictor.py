"""Training the bandwidth predictor (decision/train/predictor.py): one-second series,
windows with their futures and baselines, the outage floor, a seeded fit, leave-one-
dataset-out and the point method it chooses, and a MAPE that stays finite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision.estimators import KIND, WINDOW, BandwidthPredictor
from edgeoffload.decision.train.predictor import (
    PredictorConfig,
    TrainedPredictor,
    choose_point,
    collect,
    evaluate,
    one_second_series,
    outage_floor,
    train,
)
from edgeoffload.errors import ConfigError
from edgeoffload.traces import Trace

TINY = PredictorConfig(hidden=8, epochs=2, members=1)


def test_one_second_series_are_exact_means_of_each_second() -> None:
    trace = Trace("t", "file", np.array([0.0, 1.5]), np.array([2.0, 4.0]), 3.0)
    (series,) = one_second_series([trace])
    assert series.tolist() == [2.0, 3.0, 4.0]


def test_windows_carry_their_future_means_and_the_baselines() -> None:
    x = np.arange(1.0, WINDOW + 11.0)  # WINDOW + 10 seconds
    data = collect([x, np.ones(WINDOW)], (1, 5))  # the second is too short: skipped
    # every full window with 5 s of future after it
    assert data.w.shape == (WINDOW + 10 - WINDOW + 1 - 5, WINDOW)
    np.testing.assert_array_equal(data.w[0], x[:WINDOW])
    assert data.actual[0].tolist() == [x[WINDOW], x[WINDOW : WINDOW + 5].mean()]
    assert data.last[0] == x[WINDOW - 1]
    assert set(data.series.tolist()) == {0}


def test_series_too_short_for_any_window_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=rf"no series of at least {WINDOW + 5} s"):
        collect([np.ones(WINDOW + 4)], (1, 5))


def test_outage_floor_pools_the_non_zero_seconds() -> None:
    assert outage_floor([np.array([0.0, 0.0, 0.0, 4.0]), np.array([6.0, 0.0])]) == 0.05
    with pytest.raises(ConfigError, match="every second of the traces has 0 throughput"):
        outage_floor([np.zeros(30)])


def sets() -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        name: [np.exp(np.cumsum(rng.normal(0, 0.2, 150))) * scale for _ in range(2)]
        for name, scale in (("slow", 1.0), ("fast", 20.0))
    }


@pytest.fixture(scope="module")
def trained() -> TrainedPredictor:
    return train(sets(), TINY)


def test_train_is_seeded_and_records_its_held_out_figures(trained: TrainedPredictor) -> None:
    again = train(sets(), TINY)
    for name, value in trained.files.arrays.items():
        np.testing.assert_array_equal(value, again.files.arrays[name])
    meta = trained.files.meta
    assert trained.files.kind == KIND
    assert set(meta["lodo"]) == {"slow", "fast"}
    assert set(meta["point"]) == {"1", "5"}


def test_the_saved_model_loads_and_evaluates_every_method(
    trained: TrainedPredictor, tmp_path: Path
) -> None:
    predictor = BandwidthPredictor(trained.files.save(tmp_path))
    result = evaluate(predictor, collect(sets()["slow"], predictor.horizons_s))
    assert set(result) == {"1s", "5s"}
    for row in result.values():
        for method in ("learned", "learned_p50", "last", "harmonic_mean", "ewma"):
            assert np.isfinite(row[method]["mape"]) and row[method]["n"] > 0
        assert 0.0 <= row["coverage"] <= 1.0


def test_mape_is_finite_on_a_trace_whose_median_is_zero(
    trained: TrainedPredictor, tmp_path: Path
) -> None:
    """Issue 15: the outage floor is relative to the pooled median of the non-zero
    seconds, so a trace mostly in outage keeps a finite MAPE."""
    predictor = BandwidthPredictor(trained.files.save(tmp_path))
    outage = np.zeros(WINDOW + 40)
    outage[WINDOW : WINDOW + 10] = 4.0
    for row in evaluate(predictor, collect([outage], (1, 5))).values():
        for method in ("learned", "last"):
            assert np.isfinite(row[method]["mape"]) and np.isfinite(row[method]["rmse"])


def test_the_point_method_is_learned_only_where_it_won_everywhere() -> None:
    def row(learned: float, last: float) -> dict[str, dict[str, float]]:
        return {
            "learned": {"mape": learned},
            "last": {"mape": last},
            "harmonic_mean": {"mape": 1.0},
            "ewma": {"mape": 1.0},
        }

    lodo = {
        "a": {"1s": row(0.1, 0.2), "5s": row(0.3, 0.2)},
        "b": {"1s": row(0.1, 0.2), "5s": row(0.1, 0.5)},
    }
    # 1 s: learned wins on both; 5 s: it loses on a, and its geometric mean
    # (sqrt(0.03)) is below last's (sqrt(0.1))
    assert choose_point(lodo, (1, 5)) == {"1": "learned", "5": "learned"}
    lodo["b"]["5s"] = row(0.6, 0.1)
    assert choose_point(lodo, (1, 5))["5"] == "last"
