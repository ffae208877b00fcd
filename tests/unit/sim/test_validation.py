"""The simulator against closed forms: M/M/1, M/M/c (Erlang C), Kumar and Lu (2010).

The sample mean of M/M/1 waits has a relative standard error of about
sqrt(21 / jobs) at rho = 0.3 (see edgeoffload.sim.validation): 300,000 jobs give 0.85 %,
so the quick checks allow 3 % (3.5 standard errors); the long runs (marked slow) use 2
million jobs and the issue's 2 %."""

from __future__ import annotations

import pytest

from edgeoffload.sim.scenario import DevicePower
from edgeoffload.sim.validation import erlang_c_wait, kumar_lu_check, mmc_check


def test_erlang_c_reduces_to_mm1() -> None:
    assert erlang_c_wait(0.3, 1.0, 1) == pytest.approx(0.3 / 0.7)
    assert erlang_c_wait(2.0, 1.0, 2) == float("inf")
    # Two servers, a = 1: P(wait) = 1/3, Wq = (1/3) / (2 - 1).
    assert erlang_c_wait(1.0, 1.0, 2) == pytest.approx(1 / 3)


@pytest.mark.parametrize(("arrival_hz", "cores"), [(0.3, 1), (2.4, 4)])
def test_mmc_mean_wait_quick(arrival_hz: float, cores: int) -> None:
    check = mmc_check(arrival_hz, 1.0, cores, jobs=300_000, seed=1)
    assert check.jobs == pytest.approx(300_000, rel=0.01)
    assert abs(check.relative_error) < 0.03, check


@pytest.mark.slow
@pytest.mark.parametrize(("arrival_hz", "cores"), [(0.3, 1), (0.5, 1), (2.4, 4)])
def test_mmc_mean_wait_long_run(arrival_hz: float, cores: int) -> None:
    check = mmc_check(arrival_hz, 1.0, cores, jobs=2_000_000, seed=2)
    assert abs(check.relative_error) < 0.02, check


@pytest.mark.parametrize(
    ("cycles", "input_bytes"),
    [(1e9, 1e5), (1e9, 1e6), (1e8, 1e6), (4e9, 2e6), (3e8, 5e4)],
)
def test_kumar_lu_energy_and_condition(cycles: float, input_bytes: float) -> None:
    check = kumar_lu_check(cycles, input_bytes)
    assert check.local_j == pytest.approx(check.local_theory_j, rel=1e-9)
    assert check.offload_j == pytest.approx(check.offload_theory_j, rel=1e-9)
    assert check.offload_saves == check.theory_says_offload_saves


def test_kumar_lu_boundary_moves_with_bandwidth_and_power() -> None:
    # Same task: on a slow link offloading costs more energy, on a fast one it saves.
    slow = kumar_lu_check(1e9, 1e6, bandwidth_mbps=2.0)
    fast = kumar_lu_check(1e9, 1e6, bandwidth_mbps=50.0)
    assert not slow.offload_saves and fast.offload_saves
    # A radio that costs more per second moves the balance back to local.
    hungry = kumar_lu_check(1e9, 1e6, bandwidth_mbps=50.0, power=DevicePower(transmit_w=8.0))
    assert hungry.offload_j > fast.offload_j


def test_node_waits_equal_the_kiefer_wolfowitz_recursion_exactly() -> None:
    import heapq

    import numpy as np

    from edgeoffload.decision.policies import AlwaysEdge
    from edgeoffload.sim.simulation import Simulation
    from edgeoffload.sim.validation import mmc_scenario

    sim = Simulation(mmc_scenario(2.4, 1.0, 4, 20_000, seed=3), AlwaysEdge())
    sim.run()
    r = sim.tasks.arrays()
    arrival, service, start = r["node_arrival_s"], r["service_s"], r["start_s"]
    free = [0.0] * 4
    expected = np.empty(arrival.size)
    for i in np.argsort(arrival, kind="stable"):
        expected[i] = max(arrival[i], free[0])
        heapq.heapreplace(free, expected[i] + service[i])
    np.testing.assert_array_equal(start, expected)
