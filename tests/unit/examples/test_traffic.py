"""The traffic example: its workload (seeded, sized as documented) and its tasks
(Webster's plan, the Kalman queue estimate, the plan search), on small inputs."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from examples.traffic import tasks as tr
from examples.traffic import workload as wl

from edgeoffload.protocol.codec import Codec
from edgeoffload.tasks import spec_of


def digest(request: wl.Request) -> str:
    return hashlib.blake2b(request.args[0].tobytes()).hexdigest()


def test_the_workload_is_seeded_and_sized() -> None:
    a, b = wl.workload(120, seed=4), wl.workload(120, seed=4)
    assert len(a) == 120
    assert [(r.at_s, r.task, digest(r)) for r in a] == [(r.at_s, r.task, digest(r)) for r in b]
    assert [digest(r) for r in wl.workload(120, seed=5)] != [digest(r) for r in a]
    assert [r.at_s for r in a] == sorted(r.at_s for r in a)
    assert wl.intersections_for(120) == 11 and wl.intersections_for(10**6) == 60


def test_readings_every_second_and_plans_every_cycle() -> None:
    requests = wl.workload(660, seed=0)  # 60 intersections, one cycle
    estimates = [r for r in requests if r.task == "traffic_estimate"]
    plans = [r for r in requests if r.task == "traffic_plan"]
    assert len(estimates) == 600 and len(plans) == 60
    assert {r.at_s for r in estimates} == {float(t) for t in range(tr.WINDOW_S)}
    assert {r.at_s for r in plans} == {0.0}  # a coordinated network: all at once
    assert {r.group for r in estimates} == {"reading"} and {r.group for r in plans} == {"cycle"}
    assert {r.deadline_s for r in requests} == {wl.DEADLINE_S}
    for r in estimates[:5]:
        (w,) = r.args
        assert w.shape == (tr.WINDOW_S, tr.LANES, 3) and w.dtype == np.uint16
    for r in plans[:5]:
        assert r.args[0].shape == (tr.PLAN_WINDOW_S, tr.LANES, 3)
    # Sizes on the wire (README, "Sizes"): about 0.5 kB a reading, 2.9 kB a plan.
    codec = Codec()
    assert 400 < len(codec.encode_value(list(estimates[0].args))) < 600
    assert 2500 < len(codec.encode_value(list(plans[0].args))) < 3200


def test_the_repetitive_variant_repeats_its_readings() -> None:
    fresh = wl.workload(660, seed=1)
    night = wl.workload(660, seed=1, repeat=True)
    assert len({digest(r) for r in fresh}) == len(fresh)
    distinct = len({(r.task, digest(r)) for r in night})
    assert 0.2 * len(night) < distinct < 0.5 * len(night)  # about two in three repeat


def test_a_negative_n_is_refused() -> None:
    assert wl.workload(0) == []
    with pytest.raises(ValueError, match="n must be at least 0"):
        wl.workload(-1)


@pytest.mark.parametrize(
    "y", [[0.1, 0.1, 0.1, 0.1], [0.3, 0.05, 0.2, 0.1], [0.0, 0.0, 0.0, 0.0], [0.5, 0.3, 0.2, 0.1]]
)
def test_webster_greens_sum_to_the_cycle_less_the_lost_time(y: list[float]) -> None:
    lost = 16.0
    cycle, greens = tr.webster(np.array(y), lost)
    assert tr.CYCLE_MIN_S <= cycle <= tr.CYCLE_MAX_S
    assert greens.sum() == pytest.approx(cycle - lost)
    assert (greens >= tr.MIN_GREEN_S - 1e-9).all()


def test_webster_cycle_is_the_formula_and_saturation_takes_the_longest() -> None:
    cycle, greens = tr.webster(np.array([0.1, 0.1, 0.1, 0.1]), 16.0)
    assert cycle == pytest.approx((1.5 * 16 + 5) / (1 - 0.4))
    np.testing.assert_allclose(greens, (cycle - 16.0) / 4)
    assert tr.webster(np.array([0.4, 0.3, 0.2, 0.1]), 16.0)[0] == tr.CYCLE_MAX_S
    # A busier phase gets the longer green.
    _, g = tr.webster(np.array([0.3, 0.05, 0.2, 0.1]), 16.0)
    assert g[0] > g[2] > g[3] > g[1]


def test_the_queue_estimate_is_input_output_without_a_camera() -> None:
    w = np.zeros((5, tr.LANES, 3), dtype=np.uint16)
    w[:, :, 2] = tr.NO_OBSERVATION
    w[:, 0, 0] = [2, 1, 0, 3, 0]  # arrivals
    w[:, 0, 1] = [0, 1, 1, 0, 1]  # departures
    w[:, 1, 1] = 1  # departures from an empty lane: never below zero
    q = tr.estimate_queues(w)
    assert q.shape == (tr.LANES, 2)
    assert q[0, 0] == pytest.approx(3.0) and q[1, 0] == 0.0


def test_the_camera_corrects_the_estimate() -> None:
    w = np.zeros((10, tr.LANES, 3), dtype=np.uint16)
    w[:, :, 0] = 1  # counts say the queue grows by one a second...
    w[:, :, 2] = 2  # ...the camera keeps seeing two
    q = tr.estimate_queues(w)
    # Counts alone would give 12 (2 seen, then 10 arrivals); the filter stays near the
    # camera, as sure of it as of a camera count or surer.
    assert (q[:, 0] > 2.0).all() and (q[:, 0] < 5.0).all()
    assert (q[:, 1] < tr.CAMERA_VAR).all()


def test_bad_readings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"shape \(seconds, 8, 3\)"):
        tr.estimate_queues(np.zeros((10, 4, 3), dtype=np.uint16))
    with pytest.raises(ValueError, match="integer counts"):
        tr.signal_plan(np.zeros((10, 8, 3)))


def test_the_plan_is_feasible_and_no_worse_than_webster() -> None:
    plans = [r for r in wl.workload(110, seed=2) if r.task == "traffic_plan"]
    assert plans
    for r in plans:
        p = tr.signal_plan(*r.args)
        assert sum(p["green_s"]) == pytest.approx(p["cycle_s"] - p["lost_s"], abs=0.01)
        assert tr.CYCLE_MIN_S <= p["cycle_s"] <= tr.CYCLE_MAX_S
        assert min(p["green_s"]) >= tr.MIN_GREEN_S - 0.01
        assert len(p["green_s"]) == len(tr.PHASE_LANES) == len(p["flow_ratio"])


def test_check_accepts_the_right_answer_only() -> None:
    requests = wl.workload(22, seed=3)
    estimate = next(r for r in requests if r.task == "traffic_estimate")
    plan = next(r for r in requests if r.task == "traffic_plan")
    right = tr.estimate_queues(*estimate.args)
    assert wl.check(estimate, right)
    assert not wl.check(estimate, right + 1.0)
    good = tr.signal_plan(*plan.args)
    assert wl.check(plan, good)
    assert not wl.check(plan, {**good, "cycle_s": good["cycle_s"] + 5})
    assert not wl.check(plan, "nonsense")


def test_the_hints_are_the_measured_figures() -> None:
    r = wl.workload(12, seed=0)
    est, plan = spec_of("traffic_estimate"), spec_of("traffic_plan")
    assert est is not None and plan is not None
    assert est.cacheable and plan.cacheable and est.idempotent and plan.idempotent
    h = est.hints(r[0].args)
    assert (h.cpu_cycles, h.input_bytes) == (tr.ESTIMATE_CYCLES, r[0].args[0].nbytes + 34)
    assert plan.hints(r[1].args).cpu_cycles == tr.PLAN_CYCLES
