"""Data-aware pruning's numerical pieces: activations, contributions, refits, shifts."""

from __future__ import annotations

import numpy as np
import onnx

from edgeoffload.compress.prune import prune
from edgeoffload.compress.reconstruct import (
    channel_rows,
    contribution,
    conv_mean_shift,
    prune_with_data,
    refit_dense,
    run_tensors,
)
from edgeoffload.compress.units import find_units, weights_of
from edgeoffload.models.runtime import open_session

from .conftest import mlp_model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    out: np.ndarray = open_session(model.SerializeToString()).run(None, {"x": x})[0]
    return out


def test_run_tensors_reads_hidden_tensors_across_batches() -> None:
    model = mlp_model([4, 5, 2], seed=1)
    w = weights_of(model)
    x = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)  # > one batch
    out = run_tensors(model, x, ["h0", "y"], "x")
    expected = np.maximum(x @ w["w0"].T + w["b0"], 0)
    np.testing.assert_allclose(out["h0"], expected, rtol=1e-5, atol=1e-5)
    assert out["y"].shape == (300, 2)
    # The model given is left with its own outputs.
    assert [o.name for o in model.graph.output] == ["y"]


def test_channel_rows_put_conv_channels_last() -> None:
    a = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    rows = channel_rows(a, conv=True)
    assert rows.shape == (8, 3)
    assert rows[0].tolist() == [0, 4, 8]  # sample 0, pixel 0, channels 0..2
    assert channel_rows(np.ones((5, 7)), conv=False).shape == (5, 7)


def test_contribution_is_energy_times_weight_norm_per_channel() -> None:
    rows = np.array([[1.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, 2.0]])
    w_in = np.array([[1.0, 1.0], [2.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    # E[a^2] = [1, 2, 0, 2]; |W|^2 = [2, 4, 50, 1]; channels own 2 features each.
    assert contribution(rows, w_in, 2).tolist() == [1 * 2 + 2 * 4, 0 * 50 + 2 * 1]


def test_refit_dense_recovers_an_exact_linear_map_and_its_intercept() -> None:
    rng = np.random.default_rng(2)
    kept = rng.standard_normal((400, 3))
    w_true = rng.standard_normal((3, 2))
    target = kept @ w_true + np.array([0.5, -1.0])
    w, b = refit_dense(kept, target, intercept=True, ridge=1e-12)
    assert w.dtype == np.float32 and b.dtype == np.float32
    np.testing.assert_allclose(w, w_true, atol=1e-4)
    np.testing.assert_allclose(b, [0.5, -1.0], atol=1e-4)
    w0, b0 = refit_dense(kept, kept @ w_true, intercept=False)
    assert b0.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(w0, w_true, atol=1e-3)


def test_refit_dense_ridge_shrinks_the_weights() -> None:
    kept = np.random.default_rng(3).standard_normal((50, 2))
    target = kept @ np.array([[2.0], [-3.0]])
    w_small, _ = refit_dense(kept, target, intercept=False, ridge=1e-9)
    w_big, _ = refit_dense(kept, target, intercept=False, ridge=1.0)
    assert np.abs(w_big).sum() < np.abs(w_small).sum()


def test_conv_mean_shift_sums_the_dropped_channels_contribution() -> None:
    w = np.zeros((2, 3, 2, 2), np.float32)
    w[0, 1] = 1.0  # output 0 reads channel 1 with four taps of weight 1
    w[1, 2] = 0.5  # output 1 reads channel 2 with four taps of weight 0.5
    means = np.array([10.0, 2.0, 4.0])
    shift = conv_mean_shift(w, np.array([1, 2]), means)
    assert shift.dtype == np.float32
    assert shift.tolist() == [4 * 2.0, 4 * 0.5 * 4.0]
    assert conv_mean_shift(w, np.array([0]), means).tolist() == [0.0, 0.0]


def test_prune_with_data_keeps_the_outputs_when_only_dead_channels_go() -> None:
    model = mlp_model([6, 8, 3], seed=4, dead=[1, 6])
    x = np.random.default_rng(5).standard_normal((200, 6)).astype(np.float32)
    pruned, kept = prune_with_data(model, find_units(model), 0.25, x, conv_align=1)
    assert kept == {"w0": (6, 8)}
    assert weights_of(pruned)["w0"].shape == (6, 6)
    np.testing.assert_allclose(run(pruned, x), run(model, x), atol=1e-3)
    assert weights_of(model)["w0"].shape == (8, 6)  # the original is untouched


def test_prune_with_data_refits_a_bias_free_gemm_consumer() -> None:
    # The consumer Gemm has no C input: the refit's intercept needs one, so one is added.
    model = mlp_model([6, 10, 3], seed=6)
    consumer = model.graph.node[-1]
    del consumer.input[2:]
    x = np.random.default_rng(7).standard_normal((300, 6)).astype(np.float32)
    pruned, kept = prune_with_data(model, find_units(model), 0.3, x, conv_align=1)
    assert kept == {"w0": (7, 10)}
    assert pruned.graph.node[-1].input[2] == "w1__bias"
    assert weights_of(pruned)["w1__bias"].shape == (3,)
    onnx.checker.check_model(pruned)
    # Refitted on the same inputs: closer to the original than a cut by weight norms.
    plain, _ = prune(model, 0.3)
    err = np.abs(run(pruned, x) - run(model, x)).mean()
    assert err < np.abs(run(plain, x) - run(model, x)).mean()
