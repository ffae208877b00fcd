"""Fitting the learned policies: labels, targets, the saved files (tiny, 1-3 epochs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeoffload.decision.costs import CostWeights
from edgeoffload.decision.evaluation import Labelled
from edgeoffload.decision.learned import OPTION_FEATURES, Scorer
from edgeoffload.decision.modelfile import Scaler
from edgeoffload.decision.train.policy import (
    FITTERS,
    FitConfig,
    fit_gbdt,
    fit_mlp,
    log_excess,
    prepare,
)
from edgeoffload.models.runtime import open_session

from ..synthetic import random_context, synthetic_labelled

WEIGHTS = CostWeights()
TINY = FitConfig(hidden=(8,), epochs=2, batch_size=64)


def hand_labelled(latency: list[list[float]]) -> Labelled:
    """Two-node decisions without deadlines whose energy equals their latency, so each
    option's cost is proportional to its latency."""
    n = len(latency)
    ctx = random_context(n, 2, seed=0)
    ctx.tasks[:, 5] = np.inf
    lat = np.array(latency)
    return Labelled(
        ctx,
        lat,
        lat.copy(),
        np.tile(np.arange(2), (n, 1)),
        np.zeros(n, dtype=np.int64),
        np.arange(n, dtype=np.float64),
    )


def test_log_excess_is_the_log_cost_ratio_to_the_best_capped_at_10() -> None:
    labelled = hand_labelled([[1.0, 2.0, np.exp(30.0)], [2.0, 2.0, np.nan], [1.0, np.inf, 4.0]])
    excess = log_excess(labelled, WEIGHTS)
    np.testing.assert_allclose(excess[0], [0.0, np.log(2.0), 10.0])
    np.testing.assert_allclose(excess[1], [0.0, 0.0, 10.0])  # absent: 10
    # A failed offload costs what running locally twice would.
    np.testing.assert_allclose(excess[2], [0.0, np.log(2.0), np.log(4.0)])


def test_prepare_spreads_the_target_over_tied_optimal_options() -> None:
    labelled = hand_labelled([[3.0, 1.0, 2.0], [2.0, 2.0, np.nan], [1.0, 1.0, 1.0]])
    labelled.ctx.nodes[1, 1, 0] = np.nan  # the second node is absent from decision 1
    x, available, target = prepare(labelled, WEIGHTS)
    assert x.shape == (3, 3, len(OPTION_FEATURES))
    assert available.tolist() == [[1, 1, 1], [1, 1, 0], [1, 1, 1]]
    np.testing.assert_allclose(target, [[0, 1, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.fixture(scope="module")
def labelled() -> Labelled:
    return synthetic_labelled(300, 2, seed=3)


def test_fit_mlp_files_say_how_they_were_made(labelled: Labelled) -> None:
    fitted = fit_mlp(labelled, WEIGHTS, TINY)
    files = fitted.files
    assert files.kind == "policy_mlp"
    meta = files.meta
    assert (meta["model"], meta["training_decisions"]) == ("mlp", 300)
    assert meta["fit"]["hidden"] == [8] and meta["fit"]["epochs"] == 2
    assert meta["cost"] == {"latency_weight": 0.5, "deadline_penalty": 10.0}
    assert len(meta["train_loss"]) == 2 and "pca_explained_variance" not in meta
    f = len(OPTION_FEATURES)
    assert files.arrays["mlp.w0"].shape == (f, 8) and files.arrays["mlp.w1"].shape == (8, 1)
    graph = onnx.load_from_string(fitted.onnx).graph
    assert graph.input[0].type.tensor_type.shape.dim[-1].dim_value == f


def test_fit_mlp_is_seeded_and_the_regret_term_changes_the_fit(labelled: Labelled) -> None:
    a = fit_mlp(labelled, WEIGHTS, TINY).files
    b = fit_mlp(labelled, WEIGHTS, TINY).files
    np.testing.assert_array_equal(a.arrays["mlp.w0"], b.arrays["mlp.w0"])
    regret = fit_mlp(labelled, WEIGHTS, FitConfig(hidden=(8,), epochs=2, regret_weight=1.0))
    assert regret.files.meta["train_loss"] != a.meta["train_loss"]


def test_pca_is_folded_into_the_first_layer(labelled: Labelled, tmp_path: Path) -> None:
    config = FitConfig(hidden=(8,), epochs=1, pca_components=3)
    fitted = fit_mlp(labelled, WEIGHTS, config)
    f = len(OPTION_FEATURES)
    # The projection (f -> 3) and the first layer (3 -> 8) are saved as one f -> 8 layer.
    assert fitted.files.arrays["mlp.w0"].shape == (f, 8)
    assert "mlp.w2" not in fitted.files.arrays
    assert 0.0 < fitted.files.meta["pca_explained_variance"] <= 1.0
    # The folded numpy weights score options as the exported (unfolded) network does.
    fitted.files.save(tmp_path, fitted.onnx)
    x, _, _ = prepare(labelled, WEIGHTS)
    x = x[:20]  # 60 option rows: under ONNX_FROM_ROWS, so the numpy path
    by_numpy = Scorer(tmp_path).scores(x)
    arrays = fitted.files.arrays
    clipped = np.clip(x, arrays["inputs.low"], arrays["inputs.high"])  # as the runtime does
    scaled = Scaler.from_files(fitted.files)(clipped).reshape(-1, f).astype(np.float32)
    by_onnx = open_session(fitted.onnx).run(None, {"x": scaled})[0].reshape(20, 3)
    np.testing.assert_allclose(by_numpy, by_onnx, rtol=1e-4, atol=1e-5)


def test_fit_gbdt_feeds_input_x_and_keeps_the_scaler(labelled: Labelled) -> None:
    fitted = fit_gbdt(labelled, WEIGHTS, FitConfig(gbdt_iterations=5, gbdt_depth=2))
    assert fitted.files.kind == "policy_gbdt"
    assert fitted.files.meta["model"] == "gbdt"
    assert {"scaler.mean", "scaler.scale"} <= set(fitted.files.arrays)
    graph = onnx.load_from_string(fitted.onnx).graph
    assert [i.name for i in graph.input] == ["x"]
    assert all("X" not in node.input for node in graph.node)


def test_every_model_kind_has_a_fitter() -> None:
    assert {"mlp": fit_mlp, "gbdt": fit_gbdt, "lstm": FITTERS["lstm"]} == FITTERS
    assert FITTERS["lstm"].__name__ == "fit_lstm"
