"""The validation module's own pieces: Erlang C against textbook values, the M/M/c
scenario it builds, the checks' derived figures, and the conservation count on
hand-made records (every way a record can be wrong, one at a time)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeoffload.sim.table import Outcome, Reason
from edgeoffload.sim.validation import (
    EnergyCheck,
    QueueCheck,
    conservation,
    erlang_c_wait,
    mmc_scenario,
)


def test_erlang_c_matches_the_closed_forms_of_mm1_and_mm2() -> None:
    # M/M/1: Wq = rho / (mu - lambda) = 0.5 / 1.
    assert erlang_c_wait(1.0, 2.0, 1) == pytest.approx(0.5)
    # M/M/2 at lambda = mu = 1 (rho 0.5): Lq = 2 rho^3 / (1 - rho^2) = 1/3, Wq = Lq / lambda.
    assert erlang_c_wait(1.0, 1.0, 2) == pytest.approx(1 / 3)
    # More cores at the same load per core wait less.
    assert erlang_c_wait(4.0, 1.0, 8) < erlang_c_wait(2.0, 1.0, 4) < erlang_c_wait(1.0, 1.0, 2)


def test_erlang_c_is_infinite_at_and_beyond_saturation() -> None:
    assert erlang_c_wait(2.0, 1.0, 2) == math.inf
    assert erlang_c_wait(3.0, 1.0, 2) == math.inf


def test_the_mmc_scenario_is_one_poisson_device_on_an_instant_link() -> None:
    s = mmc_scenario(arrival_hz=50.0, service_hz=20.0, cores=3, jobs=1000, seed=4)
    assert (s.name, s.duration_s, s.seed) == ("mm3", 20.0, 4)
    (device,) = s.devices
    assert device.count == 1 and device.link.rtt_ms == 0.0
    (work,) = device.workload
    assert (work.app, work.arrivals.process, work.arrivals.rate_hz) == ("job", "poisson", 50.0)
    (node,) = s.nodes
    assert (node.cores, node.speed_hz) == (3, 1e9)
    app = s.apps["job"]
    assert (app.input_bytes, app.output_bytes) == (0.0, 0.0)
    assert app.cpu_cycles.mean == pytest.approx(5e7)  # type: ignore[union-attr]
    assert s.batching.enabled is False and s.view_phases == 1
    assert s.view_interval_s == 2.0  # 100 arrivals' worth
    assert mmc_scenario(1000.0, 2000.0, 1, 10).view_interval_s == 1.0  # at least a second


def test_the_checks_derived_figures() -> None:
    q = QueueCheck(1, 1.0, 2.0, 10, measured_wait_s=0.55, theory_wait_s=0.5)
    assert q.relative_error == pytest.approx(0.1)
    e = EnergyCheck(1e9, 1e5, 1.0, 0.4, local_theory_j=0.3, offload_theory_j=0.5)
    assert e.offload_saves and not e.theory_says_offload_saves


DONE, DROPPED, FAILED = int(Outcome.DONE), int(Outcome.DROPPED), int(Outcome.FAILED)
PENDING = int(Outcome.PENDING)


def records(
    outcome: list[int], reason: list[int], created: list[float], end: list[float]
) -> dict[str, np.ndarray]:
    return {
        "outcome": np.array(outcome),
        "reason": np.array(reason),
        "created_s": np.array(created),
        "end_s": np.array(end),
    }


def test_conservation_counts_outcomes_and_every_inconsistency() -> None:
    r = records(
        outcome=[DONE, DONE, DROPPED, DROPPED, FAILED, PENDING],
        reason=[
            0,
            int(Reason.LINK_LOST),
            int(Reason.DEADLINE_EXPIRED),
            0,
            int(Reason.MAX_ATTEMPTS),
            0,
        ],
        created=[0.0, 0.0, 1.0, 1.0, 1.0, 2.0],
        end=[0.5, 0.5, 0.9, 1.5, 1.5, math.nan],
    )
    assert conservation(r) == {
        "tasks": 6,
        "done": 2,
        "dropped": 2,
        "failed": 1,
        "unended": 1,
        "done_with_reason": 1,  # the second: done, yet a reason
        "not_done_without_reason": 1,  # the second drop (a pending task is not counted)
        "end_before_creation": 1,  # the first drop ended at 0.9, created at 1.0
    }


def test_a_clean_run_conserves_every_task() -> None:
    from edgeoffload.sim import run

    from .conftest import small

    result = run(small(duration_s=2.0), "cost_model", seed=2)
    c = conservation(result.records)
    assert c["tasks"] == result.n_tasks > 0
    assert c["done"] + c["dropped"] + c["failed"] == c["tasks"]
    assert c["unended"] == c["done_with_reason"] == c["not_done_without_reason"] == 0
    assert c["end_before_creation"] == 0
