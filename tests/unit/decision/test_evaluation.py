"""decision.evaluation: the hindsight oracle, its tie rule, failure fallbacks and the
metrics on small hand-made sets whose answers are worked out in the comments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.costs import CostWeights
from edgeoffload.decision.evaluation import (
    Labelled,
    columns_of,
    evaluate_online,
    evaluate_policy,
    score,
)
from edgeoffload.decision.features import Context, Decisions

INF, NAN = np.inf, np.nan
W = CostWeights(latency_weight=0.5, deadline_penalty=10.0)


@dataclass
class Records:
    tasks: Any
    device: Any
    nodes: Any
    latency_s: Any
    energy_j: Any
    node_index: Any
    device_id: Any
    created_s: Any
    unforeseen: Any = None


def labelled(
    latency: list[list[float]],
    energy: list[list[float]],
    deadline: list[float],
    battery: float = 1.0,
    created: list[float] | None = None,
    device_id: list[int] | None = None,
    unforeseen: list[list[bool]] | None = None,
) -> Labelled:
    """Rows of realised option costs; the context carries only deadlines and battery
    (all the realised cost reads), seven device columns as older records have."""
    n, width = len(latency), len(latency[0])
    tasks = np.zeros((n, 7))
    tasks[:, 5] = deadline
    device = np.zeros((n, 7))
    device[:, 2] = battery
    return Labelled.of(
        Records(
            tasks=tasks,
            device=device,
            nodes=np.zeros((n, width - 1, 7)),
            latency_s=np.array(latency, dtype=float),
            energy_j=np.array(energy, dtype=float),
            node_index=np.tile(np.arange(width - 1), (n, 1)),
            device_id=np.array(device_id or [0] * n),
            created_s=np.array(created or [0.0] * n, dtype=float),
            unforeseen=None if unforeseen is None else np.array(unforeseen, dtype=bool),
        )
    )


# At full battery cost = 0.5 T + 0.5 E + 10 max(0, T - deadline).
#   row 0: local (T 1, E 1) costs 1.0; node (0.5, 0.5) 0.5             -> oracle: node
#   row 1: local (1, 0) 0.5; node failed (inf): fallback 2 x local
#          = (2, 0), 1.0, and it counts as a deadline miss             -> oracle: local
#   row 2: local and node (2, 0), deadline 1.5: both 1.0 + 10 x 0.5 = 6 -> a tie: local
SET = labelled(
    latency=[[1.0, 0.5], [1.0, INF], [2.0, 2.0]],
    energy=[[1.0, 0.5], [0.0, 0.0], [0.0, 0.0]],
    deadline=[INF, INF, 1.5],
)


def test_records_without_the_backlog_columns_are_padded_with_zeros() -> None:
    assert SET.ctx.device.shape == (3, 9)
    assert SET.ctx.device[:, 7:].tolist() == [[0.0, 0.0]] * 3
    assert len(SET) == 3


def test_realised_costs_replace_failures_by_the_local_fallback() -> None:
    cost, latency, energy = SET.realised(W)
    assert cost.tolist() == [[1.0, 0.5], [0.5, 1.0], [6.0, 6.0]]
    assert latency[1].tolist() == [1.0, 2.0]
    assert energy[1].tolist() == [0.0, 0.0]


def test_the_oracle_takes_the_cheapest_and_the_first_of_a_tie() -> None:
    assert SET.oracle(W).tolist() == [1, 0, 0]
    assert SET.optimal(W).tolist() == [[False, True], [True, False], [True, True]]


def test_near_ties_within_a_billionth_are_both_optimal() -> None:
    near = labelled([[1.0, 1.0 + 1e-12], [1.0, 1.001]], [[0.0, 0.0], [0.0, 0.0]], [INF, INF])
    assert near.optimal(W).tolist() == [[True, True], [True, False]]


def test_an_absent_option_is_never_the_oracle() -> None:
    absent = labelled([[5.0, NAN]], [[5.0, NAN]], [INF])
    cost, _, _ = absent.realised(W)
    assert cost.tolist() == [[5.0, INF]]
    assert absent.oracle(W).tolist() == [0]


def test_score_of_always_offloading() -> None:
    # c_best = 0.5 + 0.5 + 6 = 7; chosen = 0.5 + 1.0 + 6 = 7.5: regret 0.5 / 7.
    got = score(SET, np.array([1, 1, 1]), W)
    assert got == pytest.approx(
        {
            "agreement": 2 / 3,  # rows 0 and 2 (a tie)
            "mean_cost": 7.5 / 3,
            "regret": 0.5 / 7.0,
            # row 1's node was already down when it was decided (records without the
            # flag): every excess counts as avoidable
            "avoidable_regret": 0.5 / 7.0,
            "unavoidable_regret": 0.0,
            # per-task excess 0, 0.5, 0 (linear interpolation between order statistics)
            "excess_p50": 0.0,
            "excess_p95": 0.45,
            "excess_p99": 0.49,
            # without the worst 1 % of tasks: none of 3 (1 % rounds down)
            "trimmed_regret": 0.5 / 7.0,
            "deadline_miss": 2 / 3,  # row 1 failed, row 2 late
            "energy_j": 0.5 / 3,
            "offload_share": 1.0,
            "fallback_share": 0.0,  # no fallback budgets given
            "n": 3,
        }
    )


def test_excess_on_a_node_that_failed_after_the_decision_is_unavoidable() -> None:
    same = labelled(
        latency=[[1.0, 0.5], [1.0, INF], [2.0, 2.0]],
        energy=[[1.0, 0.5], [0.0, 0.0], [0.0, 0.0]],
        deadline=[INF, INF, 1.5],
        unforeseen=[[False, False], [False, True], [False, False]],
    )
    got = score(same, np.array([1, 1, 1]), W)
    assert got["regret"] == pytest.approx(0.5 / 7.0)
    assert got["unavoidable_regret"] == pytest.approx(0.5 / 7.0)
    assert got["avoidable_regret"] == 0.0
    # The same failure, avoided by staying local: no excess of either kind there.
    local = score(same, np.array([1, 0, 0]), W)
    assert local["regret"] == local["unavoidable_regret"] == 0.0


def test_choosing_an_option_that_does_not_exist_is_refused() -> None:
    """It used to count as no excess at all (its cost is inf), lowering regret."""
    absent = labelled([[5.0, NAN], [1.0, 1.0]], [[5.0, NAN], [1.0, 1.0]], [INF, INF])
    with pytest.raises(ValueError, match="row 0 chose column 1, an option that does not exist"):
        score(absent, np.array([1, 1]), W)


def test_score_of_the_oracle_itself_is_perfect() -> None:
    got = score(SET, SET.oracle(W), W)
    assert got["agreement"] == 1.0 and got["regret"] == 0.0
    assert got["deadline_miss"] == pytest.approx(1 / 3)  # row 2 is late whatever one does
    assert got["offload_share"] == pytest.approx(1 / 3)


def test_score_of_staying_local() -> None:
    got = score(SET, np.array([0, 0, 0]), W)
    assert got["agreement"] == pytest.approx(2 / 3)
    assert got["regret"] == pytest.approx(0.5 / 7.0)
    assert got["deadline_miss"] == pytest.approx(1 / 3)
    assert got["energy_j"] == pytest.approx(1 / 3)
    assert got["offload_share"] == 0.0


def test_a_low_battery_changes_the_oracle() -> None:
    # Local (T 1, E 1) against a node (T 3, E 0.1). Full battery: 1.0 vs 1.55 -> local.
    # At 10 %: energy weighs 5: 0.5 + 5 = 5.5 vs 1.5 + 0.5 = 2.0 -> the node.
    latency, energy = [[1.0, 3.0]], [[1.0, 0.1]]
    assert labelled(latency, energy, [INF]).oracle(W).tolist() == [0]
    assert labelled(latency, energy, [INF], battery=0.1).oracle(W).tolist() == [1]


def test_regret_is_nan_when_the_oracle_costs_nothing() -> None:
    free = labelled([[0.0, 1.0]], [[0.0, 1.0]], [INF])
    assert np.isnan(score(free, np.array([1]), W)["regret"])


def test_columns_of_decisions() -> None:
    d = Decisions(np.array([-1, 0, 2]), np.ones(3), np.zeros(3), np.zeros(3))
    assert columns_of(d).tolist() == [0, 1, 3]


def test_concat_pads_narrower_sets_with_absent_options() -> None:
    wide = labelled([[1.0, 2.0, 0.5]], [[0.0, 0.0, 0.0]], [INF], device_id=[7])
    both = Labelled.concat([SET, wide])
    assert len(both) == 4 and both.ctx.k == 2
    assert np.isnan(both.latency_s[0, 2]) and np.isnan(both.ctx.nodes[0, 1]).all()
    assert both.node_index[:, 1].tolist() == [-1, -1, -1, 1]
    assert both.device_id.tolist() == [0, 0, 0, 7]
    assert both.oracle(W).tolist() == [1, 0, 0, 2]
    assert Labelled.concat([SET]).latency_s.shape == (3, 2)


def test_rows_selects_every_array() -> None:
    sub = SET.rows(np.array([2, 0]))
    assert sub.latency_s.tolist() == [[2.0, 2.0], [1.0, 0.5]]
    assert sub.ctx.tasks[:, 5].tolist() == [1.5, INF]


def test_evaluate_policy_scores_chunk_by_chunk() -> None:
    sizes: list[int] = []

    def local(ctx: Context) -> Decisions:
        sizes.append(len(ctx))
        n = len(ctx)
        return Decisions(np.full(n, -1), np.ones(n), np.zeros(n), np.zeros(n))

    got = evaluate_policy(SET, local, W, chunk=2)
    assert sizes == [2, 1]
    assert got == score(SET, np.array([0, 0, 0]), W)


class Offloader:
    """A fake online policy: offloads everything, records what it is told."""

    def __init__(self) -> None:
        self.decided: list[int] = []
        self.observed: list[tuple[list[str], list[float], list[float]]] = []

    def key_matrix(self, names: list[list[str]]) -> Any:
        return np.array(names, dtype=object)

    def decide_keys(self, ctx: Context, keys: Any) -> Decisions:
        n = len(ctx)
        self.decided.append(n)
        return Decisions(np.zeros(n, dtype=np.int64), np.ones(n), np.ones(n), np.ones(n))

    def observe_keys(self, keys: Any, exp_t: Any, exp_e: Any, real_t: Any, real_e: Any) -> None:
        self.observed.append((list(keys), real_t.tolist(), real_e.tolist()))


def test_evaluate_online_replays_in_time_windows_and_feeds_back_realised_costs() -> None:
    # Created out of order: 1.2 s, 0.0 s, 0.5 s -> sorted, then windows [0, 1) and [1, 2).
    data = labelled(
        latency=[[2.0, 2.0], [1.0, 0.5], [1.0, INF]],
        energy=[[0.0, 0.0], [1.0, 0.5], [0.0, 0.0]],
        deadline=[1.5, INF, INF],
        created=[1.2, 0.0, 0.5],
        device_id=[2, 0, 1],
    )
    policy = Offloader()
    got = evaluate_online(data, policy, W, step_s=1.0)
    assert policy.decided == [2, 1]
    assert policy.observed == [
        (["0", "0"], [0.5, 2.0], [0.5, 0.0]),  # the failure observed as its fallback
        (["0"], [2.0], [0.0]),
    ]
    assert got == pytest.approx(score(SET, np.array([1, 1, 1]), W))


def test_evaluate_online_keys_each_devices_cpu_apart() -> None:
    data = labelled([[1.0, 1.0]] * 2, [[0.0, 0.0]] * 2, [INF, INF], device_id=[3, 4])

    class Local(Offloader):
        def decide_keys(self, ctx: Context, keys: Any) -> Decisions:
            n = len(ctx)
            return Decisions(np.full(n, -1), np.ones(n), np.ones(n), np.ones(n))

    policy = Local()
    evaluate_online(data, policy, W)
    assert policy.observed[0][0] == ["local:3", "local:4"]


def test_trimmed_regret_leaves_out_the_worst_one_percent() -> None:
    # 200 tasks: local costs 1 (T 1, E 1), the node 0.5, except two rows where the node
    # fails (fallback 2 x local: cost 2, excess 1 over local when chosen).
    latency = [[1.0, 0.5]] * 198 + [[1.0, INF]] * 2
    energy = [[1.0, 0.5]] * 198 + [[1.0, 0.0]] * 2
    rows = labelled(latency, energy, [INF] * 200)
    got = score(rows, np.ones(200, dtype=np.int64), W)
    total_best = 198 * 0.5 + 2 * 1.0
    assert got["regret"] == pytest.approx(2 * 1.0 / total_best)
    assert got["trimmed_regret"] == 0.0  # the two outliers are the worst 1 %
    assert got["excess_p50"] == 0.0 and got["excess_p99"] > 0.0


def test_over_seeds_gives_means_intervals_and_paired_differences() -> None:
    from edgeoffload.decision.evaluation import over_seeds

    def m(cost: float, regret: float) -> dict[str, float]:
        return {"mean_cost": cost, "regret": regret, "n": 100}

    per_seed = [
        {"a": {"s": m(1.0, 0.1)}, "b": {"s": m(1.5, 0.2)}},
        {"a": {"s": m(2.0, 0.3)}, "b": {"s": m(2.4, 0.4)}},
        {"a": {"s": m(3.0, 0.2)}, "b": {"s": m(3.6, 0.3)}},
    ]
    policies, paired = over_seeds(per_seed)
    a = policies["a"]["s"]
    assert a["mean_cost"] == pytest.approx(2.0) and a["regret"] == pytest.approx(0.2)
    assert a["seeds"] == 3 and a["n"] == 300
    low, high = a["ci95"]["mean_cost"]
    assert low < 2.0 < high
    # Paired: a - b per seed is -0.5, -0.4, -0.6; a wide spread across seeds (1, 2, 3)
    # cancels out, so the interval is narrow and excludes zero.
    d = paired["a_vs_b"]["s"]
    assert d["mean_diff"] == pytest.approx(-0.5)
    assert d["ci95"][1] < 0.0 and d["ci95"][0] > -1.0
    assert set(paired) == {"a_vs_b"}


def test_a_fallback_budget_bounds_a_fade_in_hindsight() -> None:
    """An offload slower than its budget is abandoned at the budget and run locally:
    budget plus the local run (the helper's records have no radio power: energy is the
    local run's); one within its budget, and the local option, are unchanged."""
    fade = labelled([[1.0, 10.0], [1.0, 0.5]], [[0.5, 0.1], [0.5, 0.1]], [INF, INF])
    budget = np.array([2.0, 2.0])
    _, latency, energy = fade.realised(W, budget)
    assert latency.tolist() == [[1.0, 3.0], [1.0, 0.5]]
    assert energy.tolist() == [[0.5, 0.5], [0.5, 0.1]]
    assert fade.fired(budget).tolist() == [[False, True], [False, False]]
    with_timer = score(fade, np.array([1, 1]), W, budget)
    without = score(fade, np.array([1, 1]), W)
    assert with_timer["fallback_share"] == 0.5
    assert with_timer["mean_cost"] < without["mean_cost"]
    # no budget (inf) is no timer
    assert not fade.fired(np.array([np.inf, np.inf])).any()
