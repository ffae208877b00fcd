"""The hindsight label on hand-made costs: the weighted cost of every option, the
default energy weight, NaN padding never chosen, an unreachable node (inf) never
chosen, and ties going to the earlier column (local before any node)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.sim.oracle import OracleRecords

NAN, INF = math.nan, math.inf


def records(latency: list[list[float]], energy: list[list[float]]) -> OracleRecords:
    n, options = len(latency), len(latency[0])
    ids = np.arange(n, dtype=np.int64)
    return OracleRecords(
        scenario="hand",
        policy="cost_model",
        seed=0,
        task=ids,
        device_id=np.zeros(n, dtype=np.int64),
        created_s=np.zeros(n),
        tasks=np.zeros((n, 7)),
        device=np.zeros((n, 1)),
        nodes=np.zeros((n, options - 1, 1)),
        node_index=np.tile(np.arange(options - 1, dtype=np.int64), (n, 1)),
        node_names=[f"n{i}" for i in range(options - 1)],
        latency_s=np.array(latency),
        energy_j=np.array(energy),
        chosen=np.full(n, -1, dtype=np.int64),
        outcome_latency_s=np.zeros(n),
        outcome_energy_j=np.zeros(n),
        unforeseen=np.zeros((n, options), dtype=bool),
    )


def test_cost_weights_latency_and_energy_and_defaults_to_complementary_weights() -> None:
    rec = records([[1.0, 0.2]], [[0.5, 2.0]])
    np.testing.assert_allclose(rec.cost(0.5), [[0.75, 1.1]])
    np.testing.assert_allclose(rec.cost(1.0), [[1.0, 0.2]])  # energy weight 0
    np.testing.assert_allclose(rec.cost(0.5, energy_weight=2.0), [[1.5, 4.1]])
    assert len(rec) == 1


def test_the_target_is_the_cheapest_option_local_as_minus_one() -> None:
    rec = records(
        [[1.0, 0.2, 0.3], [0.1, 0.5, 0.4], [1.0, 0.9, 0.2]],
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 5.0]],
    )
    assert rec.oracle_target(1.0).tolist() == [0, -1, 1]
    # With energy counting, row 2's cheap-but-costly node loses to the other node.
    assert rec.oracle_target(0.5).tolist() == [0, -1, 0]


def test_padding_and_unreachable_nodes_are_never_the_target() -> None:
    rec = records(
        [[5.0, NAN, 1.0], [5.0, INF, NAN]],
        [[0.0, NAN, 0.0], [0.0, 0.0, NAN]],
    )
    assert rec.oracle_target(0.5).tolist() == [1, -1]


def test_ties_go_to_the_earlier_option() -> None:
    rec = records([[0.3, 0.3, 0.3], [0.7, 0.2, 0.2]], [[0.0] * 3, [0.0] * 3])
    assert rec.oracle_target(1.0).tolist() == [-1, 0]
    assert rec.oracle_target(1.0).dtype == np.int64


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
def test_the_target_minimises_the_cost_it_reports(weight: float) -> None:
    rng = np.random.default_rng(5)
    rec = records(rng.uniform(0, 1, (50, 4)).tolist(), rng.uniform(0, 1, (50, 4)).tolist())
    target = rec.oracle_target(weight)
    cost = rec.cost(weight)
    np.testing.assert_array_equal(cost[np.arange(50), target + 1], cost.min(axis=1))
