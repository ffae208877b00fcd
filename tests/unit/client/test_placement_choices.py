"""Every placement policy's exact choice on small candidate sets: the load formula, each
tie-break in order, the empty set, and the latency model term by term."""

from __future__ import annotations

import random

import pytest

from edgeoffload.client.placement import (
    DEFAULT_SPEED_HZ,
    PLACEMENTS,
    Candidate,
    LatencyAware,
    LeastInFlight,
    LeastLoaded,
    PowerOfTwo,
    TaskCost,
    expected_completion_s,
    make_placement,
)

NONE = TaskCost()


def test_load_is_the_larger_of_report_and_own_count_per_worker() -> None:
    assert Candidate("a", in_flight=3, queued=1, running=1, workers=2).load == 1.5
    assert Candidate("a", in_flight=1, queued=4, running=2, workers=2).load == 3.0
    # Zero workers (not reported yet) counts as one, not a division by zero.
    assert Candidate("a", in_flight=2, workers=0).load == 2.0
    assert Candidate("a", in_flight=0).load == 0.0


@pytest.mark.parametrize("name", PLACEMENTS)
def test_every_policy_returns_none_without_candidates(name: str) -> None:
    assert make_placement(name, seed=1).choose([], NONE) is None


@pytest.mark.parametrize("name", PLACEMENTS)
def test_every_policy_takes_the_only_candidate(name: str) -> None:
    assert make_placement(name, seed=1).choose([Candidate("x", in_flight=99)], NONE) == "x"


def test_least_in_flight_ignores_the_nodes_report() -> None:
    busy_by_report = Candidate("a", in_flight=0, queued=50, workers=1)
    ours = Candidate("b", in_flight=1)
    assert LeastInFlight().choose([busy_by_report, ours], NONE) == "a"
    # ...where least_loaded sees the report.
    assert LeastLoaded().choose([busy_by_report, ours], NONE) == "b"


def test_ties_break_by_rtt_then_by_node_id() -> None:
    for policy in (LeastInFlight(), LeastLoaded(), LatencyAware()):
        by_rtt = [Candidate("a", 0, rtt_s=0.02), Candidate("b", 0, rtt_s=0.01)]
        assert policy.choose(by_rtt, NONE) == "b", policy.name
        by_name = [Candidate("b", 0, rtt_s=0.01), Candidate("a", 0, rtt_s=0.01)]
        assert policy.choose(by_name, NONE) == "a", policy.name


def test_least_loaded_divides_by_workers() -> None:
    # 6 tasks on 4 workers (1.5 each) beats 2 tasks on 1 worker.
    wide = Candidate("wide", in_flight=0, queued=4, running=2, workers=4)
    narrow = Candidate("narrow", in_flight=2, workers=1)
    assert LeastLoaded().choose([narrow, wide], NONE) == "wide"


def test_power_of_two_with_two_candidates_is_least_loaded_and_uses_no_randomness() -> None:
    policy = PowerOfTwo(seed=0)
    state = policy._rng.getstate()
    pair = [Candidate("a", 3), Candidate("b", 1)]
    assert [policy.choose(pair, NONE) for _ in range(5)] == ["b"] * 5
    assert policy._rng.getstate() == state


def test_power_of_two_picks_the_lighter_of_the_seeded_pair() -> None:
    nodes = [
        Candidate(name, in_flight=load) for name, load in zip("abcde", [4, 0, 3, 1, 2], strict=True)
    ]
    policy = PowerOfTwo(seed=7)
    got = [policy.choose(nodes, NONE) for _ in range(20)]
    # The same draws, made by hand: the lighter of each sampled pair.
    rng = random.Random(7)
    expected = [min(rng.sample(nodes, 2), key=lambda c: c.in_flight).node_id for _ in range(20)]
    assert got == expected
    # The heaviest node only ever wins a pair it is not in, i.e. never.
    assert "a" not in got


def test_expected_completion_term_by_term() -> None:
    node = Candidate("n", in_flight=2, rtt_s=0.01, workers=1, speed_hz=1e9, up_bps=8e6)
    task = TaskCost(cpu_cycles=1e8, input_bytes=500_000, output_bytes=500_000)
    # rtt 0.01 + transfer 1e6 B * 8 / 8e6 b/s = 1.0 + (load 2 + 1) * compute 0.1
    assert expected_completion_s(node, task) == pytest.approx(0.01 + 1.0 + 3 * 0.1)


def test_unknown_speed_and_bandwidth_fall_back() -> None:
    node = Candidate("n", in_flight=0)
    task = TaskCost(cpu_cycles=DEFAULT_SPEED_HZ, input_bytes=1e9)
    # One second of compute at the default speed; no transfer term without a bandwidth.
    assert expected_completion_s(node, task) == pytest.approx(1.0)


def test_without_cycles_the_observed_run_time_is_the_compute() -> None:
    node = Candidate("n", in_flight=1, speed_hz=1e12)
    assert expected_completion_s(node, TaskCost(observed_run_s=0.2)) == pytest.approx(0.4)
    assert expected_completion_s(node, TaskCost()) == 0.0


def test_latency_aware_trades_speed_against_queue_and_transfer() -> None:
    task = TaskCost(cpu_cycles=1e9, input_bytes=1e6)
    fast_busy = Candidate("fast", in_flight=3, speed_hz=4e9, up_bps=1e8)  # 0.08 + 4*0.25 = 1.08
    slow_idle = Candidate("slow", in_flight=0, speed_hz=1e9, up_bps=1e8)  # 0.08 + 1.0 = 1.08
    far_fast = Candidate("far", in_flight=0, speed_hz=4e9, up_bps=1e7)  # 0.8 + 0.25 = 1.05
    assert LatencyAware().choose([fast_busy, slow_idle, far_fast], task) == "far"
    # Equal expectations: the tie goes to the lower rtt, then the name (fast < slow).
    assert LatencyAware().choose([slow_idle, fast_busy], task) == "fast"


def test_make_placement_names_and_refusal() -> None:
    for name in PLACEMENTS:
        assert make_placement(name).name == name
    with pytest.raises(ValueError, match="unknown placement") as err:
        make_placement("round_robin")
    assert str(err.value) == (
        "unknown placement 'round_robin'; choose from "
        "least_in_flight, least_loaded, power_of_two, latency_aware"
    )
