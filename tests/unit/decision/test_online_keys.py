"""The online policy's bookkeeping, exactly: keys, corrections, batched EWMA steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.decision.online import LOCAL_KEY, OnlineCostModel
from edgeoffload.decision.policies import CostModel

from .synthetic import random_context


def test_key_matrix_numbers_names_in_first_seen_order_and_pads_with_the_row_local() -> None:
    policy = OnlineCostModel()
    keys = policy.key_matrix([[LOCAL_KEY, "a", "b"], [LOCAL_KEY, "b"], []])
    assert keys.tolist() == [[0, 1, 2], [0, 2, 0], [0, 0, 0]]
    assert list(policy.state()) == ["local", "a", "b"]
    assert policy.state()["a"] == (1.0, 1.0, 0)  # nothing observed: no correction


def test_one_observation_moves_the_correction_by_alpha_in_log_space() -> None:
    policy = OnlineCostModel(alpha=0.25)
    (key,) = policy.key_matrix([["a"]])[0]
    policy.observe_keys(
        np.array([key]), np.array([1.0]), np.array([2.0]), np.array([4.0]), np.array([1.0])
    )
    lat, energy, count = policy.state()["a"]
    assert lat == pytest.approx(math.exp(0.25 * math.log(4.0)))
    assert energy == pytest.approx(math.exp(0.25 * math.log(0.5)))
    assert count == 1
    f_lat, f_energy = policy.corrections(np.array([[key, key]]))
    np.testing.assert_allclose(f_lat, [[lat, lat]])
    np.testing.assert_allclose(f_energy, [[energy, energy]])


def test_a_batch_of_observations_moves_as_far_as_that_many_steps() -> None:
    # Three equal residuals at once: 1 - (1 - alpha)^3 of the way, like three EWMA steps.
    policy = OnlineCostModel(alpha=0.5)
    keys = np.zeros(3, dtype=np.int64)
    policy.key_matrix([["n"]])
    ones = np.ones(3)
    policy.observe_keys(keys, ones, ones, np.full(3, math.e), ones)
    assert policy.state()["n"][0] == pytest.approx(math.exp(1 - 0.5**3))
    assert policy.state()["n"][2] == 3


def test_failed_and_unmeasured_outcomes_are_skipped() -> None:
    policy = OnlineCostModel(alpha=1.0)
    policy.key_matrix([["a", "b"]])
    policy.observe_keys(
        np.array([0, 1, 1]),
        np.array([1.0, 1.0, 0.0]),  # the third has no expectation
        np.array([1.0, 1.0, 1.0]),
        np.array([np.nan, 2.0, 5.0]),  # the first failed
        np.array([3.0, np.nan, 1.0]),  # the second's energy was not measured
    )
    state = policy.state()
    assert state["a"] == (1.0, 1.0, 0)
    assert state["b"][0] == pytest.approx(2.0) and state["b"][1:] == (1.0, 1)
    policy.observe_keys(
        np.array([0]), np.array([1.0]), np.array([1.0]), np.array([np.nan]), np.array([1.0])
    )
    assert policy.state()["a"][2] == 0


def test_without_exploration_and_corrections_it_decides_as_the_cost_model() -> None:
    ctx = random_context(200, 3, seed=7)
    online = OnlineCostModel(epsilon=0.0).decide_context(ctx)
    base = CostModel().decide_context(ctx)
    np.testing.assert_array_equal(online.target, base.target)
    np.testing.assert_allclose(online.expected_latency_s, base.expected_latency_s)


def test_exploration_picks_only_available_options_with_zero_confidence() -> None:
    ctx = random_context(400, 3, seed=8)
    ctx.nodes[:, 1, 0] = np.nan  # node column 1 is absent everywhere
    policy = OnlineCostModel(epsilon=1.0, seed=3)
    d = policy.decide_context(ctx)
    assert (d.confidence == 0.0).all()
    assert 1 not in set(d.target.tolist())
    assert set(d.target.tolist()) == {-1, 0, 2}  # every available option gets probed


def test_context_keys_are_node_columns() -> None:
    policy = OnlineCostModel(epsilon=0.0)
    policy.decide_context(random_context(5, 2))
    assert list(policy.state()) == [LOCAL_KEY, "#0", "#1"]
