"""decision.costs: the analytic model on a case worked by hand, its edge cases (a busy
CPU, absent candidates, no candidates) and the float fast path against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.decision.costs import (
    CostWeights,
    cost_of,
    cost_one,
    costs_of,
    energy_weight,
    option_costs,
    option_costs_one,
    weighted_cost,
)
from edgeoffload.decision.features import (
    TASK_FEATURES,
    Columns,
    Context,
    DeviceState,
    NodeFeatures,
    TaskBatch,
)

from .synthetic import random_context

# The hand-worked case: 1e9 cycles, 1000 bytes up, 500 bytes down, on a 1 GHz device
# half busy, against one 4 GHz node 0.25 s behind, 80 kbit/s up, 40 kbit/s down, 50 ms RTT.
#   local:   T = 1e9 / (1e9 * 0.5) = 2 s;   E = 1e-27 * (1e9)^2 * 1e9 = 1 J
#   offload: up = 8000 / 8e4 = 0.1 s, down = 4000 / 4e4 = 0.1 s,
#            wait = 0.05 + 0.25 + 1e9 / 4e9 = 0.55 s  =>  T = 0.75 s
#            E = 1.3 * 0.1 + 0.3 * 0.55 + 1.0 * 0.1 = 0.395 J
TASK = TaskBatch.of(cpu_cycles=1e9, input_bytes=1000.0, output_bytes=500.0, deadline_s=1.0)
DEVICE = DeviceState(cpu_hz=1e9, load=0.5)


def node(**kw: float) -> NodeFeatures:
    values = dict(speed_hz=4e9, cores=1.0, queue_s=0.25, load=0.0, up_bps=8e4, down_bps=4e4)
    values.update(rtt_s=0.05)
    values.update(kw)
    return NodeFeatures(("a",), **{k: np.array([v]) for k, v in values.items()})


def test_the_hand_worked_case() -> None:
    latency, energy, transfer = option_costs(Context.of(TASK, DEVICE, node()))
    np.testing.assert_allclose(latency, [[2.0, 0.75]])
    np.testing.assert_allclose(energy, [[1.0, 0.395]])
    np.testing.assert_allclose(transfer, [[0.0, 0.2]])


def test_the_float_path_gives_the_same_figures() -> None:
    latency, energy, transfer = option_costs_one(TASK, DEVICE, node())
    assert latency == pytest.approx([2.0, 0.75])
    assert energy == pytest.approx([1.0, 0.395])
    assert transfer == pytest.approx([0.0, 0.2])


def test_the_device_backlogs_add_to_each_side() -> None:
    busy = DeviceState(cpu_hz=1e9, load=0.5, local_queue_s=1.0, uplink_queue_s=0.5)
    latency, energy, _ = option_costs(Context.of(TASK, busy, node()))
    np.testing.assert_allclose(latency, [[3.0, 1.25]])
    np.testing.assert_allclose(energy, [[1.0, 0.395]])  # waiting costs no energy here
    assert option_costs_one(TASK, busy, node())[0] == pytest.approx([3.0, 1.25])


@pytest.mark.parametrize("load", [1.0, 1.5])
def test_a_saturated_cpu_counts_as_a_thousandth_free(load: float) -> None:
    device = DeviceState(cpu_hz=1e9, load=load)
    latency, _, _ = option_costs(Context.of(TASK, device, node()))
    assert latency[0, 0] == pytest.approx(1000.0)
    assert option_costs_one(TASK, device, node())[0][0] == pytest.approx(1000.0)


def test_an_absent_candidate_costs_infinity_both_ways() -> None:
    absent = node(speed_hz=math.nan)
    latency, energy, _ = option_costs(Context.of(TASK, DEVICE, absent))
    assert latency[0, 1] == energy[0, 1] == np.inf
    lat1, en1, _ = option_costs_one(TASK, DEVICE, absent)
    assert lat1[1] == en1[1] == math.inf


def test_no_candidates_leaves_the_device_column_only() -> None:
    latency, energy, transfer = option_costs(Context.of(TASK, DEVICE, NodeFeatures.empty()))
    assert latency.tolist() == [[2.0]] and energy.tolist() == [[1.0]]
    assert transfer.tolist() == [[0.0]]
    assert option_costs_one(TASK, DEVICE, NodeFeatures.empty()) == ([2.0], [1.0], [0.0])


def test_the_float_path_agrees_with_numpy_on_random_contexts() -> None:
    ctx = random_context(50, 3, seed=7)
    latency, energy, transfer = option_costs(ctx)
    for i in range(len(ctx)):
        t, d, nd = ctx.tasks[i], ctx.device[i], ctx.nodes[i]
        one = option_costs_one(
            TaskBatch.of(**{f: float(v) for f, v in zip(TASK_FEATURES, t, strict=True)}),
            DeviceState(
                cpu_hz=d[0], load=d[1], battery=d[2], local_queue_s=d[7], uplink_queue_s=d[8]
            ),
            NodeFeatures(tuple("abc"), *(nd[:, j].copy() for j in range(7))),
        )
        np.testing.assert_allclose(one[0], latency[i], rtol=1e-12)
        np.testing.assert_allclose(one[1], energy[i], rtol=1e-12)
        np.testing.assert_allclose(one[2], transfer[i], rtol=1e-12)


def test_columns_from_a_call_give_the_same_costs_as_the_context() -> None:
    tasks = TaskBatch.of(cpu_cycles=[1e8, 1e9, 1e10], input_bytes=[1e3, 1e5, 1e6])
    nodes = NodeFeatures(
        ("a", "b"),
        np.array([2e9, 4e9]),
        np.array([1.0, 4.0]),
        np.array([0.0, 0.5]),
        np.array([0.0, 0.3]),
        np.array([1e6, 1e7]),
        np.array([1e6, 2e7]),
        np.array([0.01, 0.05]),
    )
    direct = costs_of(Columns.of(tasks, DEVICE, nodes))
    via = option_costs(Context.of(tasks, DEVICE, nodes))
    for a, b in zip(direct, via, strict=True):
        np.testing.assert_array_equal(a, b)


def test_energy_weight_grows_as_the_battery_drains_capped_at_twenty_times() -> None:
    assert energy_weight(1.0, 0.5) == pytest.approx(0.5)
    assert energy_weight(0.25, 0.5) == pytest.approx(2.0)
    assert energy_weight(0.0, 0.5) == pytest.approx(10.0)  # 0.5 / 0.05
    np.testing.assert_allclose(energy_weight(np.array([1.0, 0.5]), 0.8), [0.2, 0.4])


def test_the_weighted_cost_of_the_hand_worked_case() -> None:
    # w_t = 0.5, w_e = 0.5 at full battery; the local option is 1 s late (penalty 10).
    latency, energy = [2.0, 0.75], [1.0, 0.395]
    expected = [0.5 * 2.0 + 0.5 * 1.0 + 10.0 * 1.0, 0.5 * 0.75 + 0.5 * 0.395]
    assert cost_one(latency, energy, 1.0, 1.0, 0.5, 10.0) == pytest.approx(expected)
    got = cost_of(np.array([latency]), np.array([energy]), 1.0, np.array([[1.0]]), 0.5, 10.0)
    np.testing.assert_allclose(got, [expected])
    ctx = Context.of(TASK, DEVICE, node())
    weights = CostWeights()
    assert (weights.latency_weight, weights.deadline_penalty) == (0.5, 10.0)
    via_ctx = weighted_cost(np.array([latency]), np.array([energy]), ctx, 0.5, 10.0)
    np.testing.assert_allclose(via_ctx, [expected])


def test_a_low_battery_makes_energy_dominate() -> None:
    # At 1 % battery (capped at 5 %) energy weighs 10 per J: the cheap-energy option wins.
    costs = cost_one([1.0, 2.0], [1.0, 0.1], math.inf, 0.01, 0.5, 10.0)
    assert costs == pytest.approx([0.5 + 10.0, 1.0 + 1.0])
    assert costs.index(min(costs)) == 1


def test_infinite_options_cost_infinity_never_nan() -> None:
    # inf latency against no deadline is inf - inf inside: it must not become NaN.
    latency = np.array([[1.0, np.inf, np.nan]])
    energy = np.array([[1.0, np.inf, 0.0]])
    got = cost_of(latency, energy, 1.0, np.array([[np.inf]]), 0.5, 10.0)
    assert got.tolist() == [[1.0, np.inf, np.inf]]
    assert cost_one([1.0, math.inf], [1.0, math.inf], math.inf, 1.0, 0.5, 10.0) == [1.0, math.inf]


@pytest.mark.parametrize("field", ["up_bps", "down_bps", "speed_hz"])
def test_a_zero_rate_costs_infinity_both_ways(field: str) -> None:
    """A link in outage (or a node reporting no speed) makes its option unreachable in
    the one-task form too: it used to raise ZeroDivisionError there, where the batch
    form (and the compiled kernel, error_model="numpy") gave inf."""
    zero = node(**{field: 0.0})
    with np.errstate(divide="ignore", invalid="ignore"):
        latency, energy, _ = option_costs(Context.of(TASK, DEVICE, zero))
    assert latency[0, 1] == energy[0, 1] == np.inf
    lat1, en1, _ = option_costs_one(TASK, DEVICE, zero)
    assert lat1 == [2.0, math.inf] and en1 == [1.0, math.inf]
