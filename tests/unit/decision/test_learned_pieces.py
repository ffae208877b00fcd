"""The learned policy's small pieces: softmax over options, reductions, bounds, the
one-task network, the threshold rule and the scorer cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision.learned import (
    CLIP_PERCENTILES,
    DEFAULT_MODEL,
    LearnedPolicy,
    OneTaskNet,
    ThresholdPolicy,
    input_bounds,
    load_scorer,
    masked_softmax,
    row_reduce,
)
from edgeoffload.decision.nn import Mlp

from .synthetic import random_context


def test_masked_softmax_gives_absent_options_zero() -> None:
    scores = np.array([[0.0, np.log(3.0), 5.0], [1.0, 1.0, 1.0]])
    available = np.array([[1, 1, 0], [1, 1, 1]])
    prob = masked_softmax(scores, available)
    np.testing.assert_allclose(prob, [[0.25, 0.75, 0.0], [1 / 3, 1 / 3, 1 / 3]])


def test_masked_softmax_is_stable_for_large_scores() -> None:
    prob = masked_softmax(np.array([[1000.0, 1001.0]]), np.ones((1, 2)))
    np.testing.assert_allclose(prob, [[1 / (1 + np.e), np.e / (1 + np.e)]])


def test_row_reduce_matches_numpy_reductions() -> None:
    a = np.random.default_rng(0).standard_normal((7, 4))
    np.testing.assert_array_equal(row_reduce(np.maximum, a), a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(row_reduce(np.add, a), a.sum(axis=1, keepdims=True))
    one = a[:, :1]
    np.testing.assert_array_equal(row_reduce(np.minimum, one), one)
    assert row_reduce(np.minimum, one) is not one  # a copy: callers write into it


def test_input_bounds_are_the_clip_percentiles() -> None:
    rows = np.column_stack([np.arange(1001.0), -np.arange(1001.0)])
    bounds = input_bounds(rows)
    assert CLIP_PERCENTILES == (0.1, 99.9)
    np.testing.assert_allclose(bounds["inputs.low"], [1.0, -999.0])
    np.testing.assert_allclose(bounds["inputs.high"], [999.0, -1.0])


def small_mlp() -> Mlp:
    rng = np.random.default_rng(1)
    return Mlp(
        (rng.standard_normal((3, 4)), rng.standard_normal((4, 2))),
        (rng.standard_normal(4), rng.standard_normal(2)),
    )


def test_one_task_net_scores_as_the_mlp_first_output() -> None:
    mlp = small_mlp()
    x = np.random.default_rng(2).standard_normal((3, 3))
    rows = np.hstack([x, np.ones((3, 1))]).reshape(-1).tolist()
    net = OneTaskNet.of(mlp, None)
    np.testing.assert_allclose(net(rows, 3), mlp(x)[:, 0])


def test_one_task_net_clips_to_its_bounds_and_keeps_the_constant_input() -> None:
    mlp = small_mlp()
    low, high = np.full(3, -0.5), np.full(3, 0.5)
    x = np.array([[2.0, -3.0, 0.1], [0.0, 0.0, 0.0]])
    rows = np.hstack([x, np.ones((2, 1))]).reshape(-1).tolist()
    scores = OneTaskNet.of(mlp, (low, high))(rows, 2)
    np.testing.assert_allclose(scores, mlp(np.clip(x, low, high))[:, 0])


@pytest.fixture(scope="module")
def shipped() -> LearnedPolicy:
    return LearnedPolicy(load_scorer())


def test_the_scorer_is_loaded_once_per_folder() -> None:
    assert load_scorer() is load_scorer(DEFAULT_MODEL)
    assert load_scorer(str(DEFAULT_MODEL)) is load_scorer(Path(str(DEFAULT_MODEL)))


def test_threshold_offloads_only_above_the_threshold(shipped: LearnedPolicy) -> None:
    ctx = random_context(300, 3, seed=11)
    prob, _, _ = shipped.probabilities(ctx)
    d = ThresholdPolicy(shipped, threshold=0.7).decide_context(ctx)
    offload = 1.0 - prob[:, 0] > 0.7
    assert ((d.target >= 0) == offload).all()
    np.testing.assert_array_equal(d.target[offload], np.argmax(prob[offload, 1:], axis=1))
    np.testing.assert_allclose(d.confidence[~offload], prob[~offload, 0])
    np.testing.assert_allclose(d.confidence[offload], 1.0 - prob[offload, 0])
    # Threshold 1: nothing is ever confident enough; threshold -1: everything goes.
    assert (ThresholdPolicy(shipped, threshold=1.0).decide_context(ctx).target == -1).all()
    assert (ThresholdPolicy(shipped, threshold=-1.0).decide_context(ctx).target >= 0).all()


def test_threshold_without_nodes_runs_locally(shipped: LearnedPolicy) -> None:
    d = ThresholdPolicy(shipped).decide_context(random_context(4, 0))
    assert d.target.tolist() == [-1] * 4 and d.confidence.tolist() == [1.0] * 4
