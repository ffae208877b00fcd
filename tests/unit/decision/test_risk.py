"""The risk-aware policy (decision/risk.py): upload scenarios, budgets, the shipped
calibration, on synthetic contexts (no simulator)."""

from __future__ import annotations

import numpy as np

from edgeoffload.decision.costs import option_costs
from edgeoffload.decision.features import Context
from edgeoffload.decision.policies import CostModel
from edgeoffload.decision.registry import resolve
from edgeoffload.decision.risk import (
    PROBABILITY_EDGES,
    RiskAware,
    UploadCalibration,
    load_calibration,
    predicted_upload,
    upload_quantiles,
)

from .synthetic import random_context

SCENARIOS = len(PROBABILITY_EDGES) - 1


def calibration(spread: float, failure_rate: float = 0.0) -> UploadCalibration:
    """The same log-ratio quantiles in every bin: from -spread to +spread."""
    row = tuple(np.linspace(-spread, spread, SCENARIOS).tolist())
    return UploadCalibration((row, row, row), failure_rate)


def test_scenarios_scale_the_cost_model_s_upload_and_their_masses_sum_to_one() -> None:
    ctx = random_context(50, 2)
    cal = calibration(1.0)
    q = upload_quantiles(ctx, cal)
    assert q.shape == (50, 2, SCENARIOS)
    np.testing.assert_allclose(q[:, :, 0], predicted_upload(ctx) * np.exp(-1.0))
    assert (np.diff(q, axis=2) > 0).all()
    assert cal.weights.sum() == 1.0


def test_a_certain_link_gives_the_cost_model_s_choices() -> None:
    ctx = random_context(300, 3)
    ours = RiskAware(calibration(0.0), fallback=False).decide_context(ctx)
    theirs = CostModel().decide_context(ctx)
    assert (ours.target == theirs.target).mean() > 0.95
    assert ours.fallback_s is None


def test_a_fading_link_keeps_more_tasks_local_and_offloads_get_budgets() -> None:
    ctx = random_context(300, 3)
    steady = RiskAware(calibration(0.0), fallback=False).decide_context(ctx)
    fading = RiskAware(calibration(4.0, failure_rate=0.05), fallback=False).decide_context(ctx)
    assert (fading.target == -1).sum() > (steady.target == -1).sum()
    timed = RiskAware(calibration(4.0, failure_rate=0.05)).decide_context(ctx)
    assert timed.fallback_s is not None
    offloaded = timed.target >= 0
    assert offloaded.any()
    assert np.isinf(timed.fallback_s[~offloaded]).all()  # a local task has no timer
    budgets = timed.fallback_s[offloaded]
    assert (budgets[np.isfinite(budgets)] > 0).all()
    # with the timer, an offload's worst case is bounded: the policy dares more
    assert (timed.target >= 0).sum() >= (fading.target >= 0).sum()


def test_no_node_means_local() -> None:
    ctx = random_context(5, 1)
    none = Context(ctx.tasks, ctx.device, ctx.nodes[:, :0])
    d = RiskAware(calibration(1.0)).decide_context(none)
    assert (d.target == -1).all()
    latency, _, _ = option_costs(ctx)
    np.testing.assert_allclose(d.expected_latency_s, latency[:, 0])


def test_the_shipped_calibration_loads_and_the_named_policy_decides() -> None:
    cal = load_calibration()
    assert len(cal.log_ratio) == len(cal.bins_s) + 1
    assert all(len(row) == SCENARIOS for row in cal.log_ratio)
    assert 0.0 <= cal.failure_rate < 1.0 and cal.samples > 0
    policy = resolve("risk_aware")
    d = policy.decide_context(random_context(100, 2))
    assert d.target.shape == (100,) and d.fallback_s is not None
