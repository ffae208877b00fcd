from __future__ import annotations

from collections import Counter

import pytest

from edgeoffload.client.placement import (
    Candidate,
    LatencyAware,
    LeastInFlight,
    LeastLoaded,
    PowerOfTwo,
    TaskCost,
    expected_completion_s,
    make_placement,
)

NO_TASK = TaskCost()


def test_least_in_flight_then_rtt_then_name() -> None:
    p = LeastInFlight()
    assert p.choose([], NO_TASK) is None
    assert p.choose([Candidate("a", 3), Candidate("b", 1), Candidate("c", 2)], NO_TASK) == "b"
    assert p.choose([Candidate("a", 1, 0.002), Candidate("b", 1, 0.001)], NO_TASK) == "b"
    assert p.choose([Candidate("b", 0), Candidate("a", 0)], NO_TASK) == "a"


def test_least_loaded_uses_the_node_report_per_worker() -> None:
    busy = Candidate("busy", in_flight=0, queued=40, running=2, workers=2)  # 21 per worker
    big = Candidate("big", in_flight=30, queued=10, running=8, workers=8)  # 3.75 per worker
    assert LeastLoaded().choose([busy, big], NO_TASK) == "big"
    assert LeastInFlight().choose([busy, big], NO_TASK) == "busy"  # blind to the others' load


def test_power_of_two_avoids_the_most_loaded_and_is_seeded() -> None:
    nodes = [Candidate(f"n{i}", in_flight=0, queued=i * 10, workers=1) for i in range(5)]
    picks = Counter(PowerOfTwo(seed=1).choose(nodes, NO_TASK) for _ in range(500))
    assert picks["n4"] == 0  # never the worst: it always loses its pair
    assert picks["n0"] > picks["n3"]


def test_power_of_two_is_reproducible_with_a_seed() -> None:
    nodes = [Candidate(f"n{i}", in_flight=0, queued=i, workers=1) for i in range(6)]
    a, b = PowerOfTwo(seed=7), PowerOfTwo(seed=7)
    assert [a.choose(nodes, NO_TASK) for _ in range(50)] == [
        b.choose(nodes, NO_TASK) for _ in range(50)
    ]


def test_latency_aware_weighs_speed_queue_and_transfer() -> None:
    task = TaskCost(cpu_cycles=2e9, input_bytes=1e6)
    fast_far = Candidate("fast_far", 0, rtt_s=0.05, workers=4, speed_hz=4e9, up_bps=1e8)
    slow_near = Candidate("slow_near", 0, rtt_s=0.001, workers=4, speed_hz=1e9, up_bps=1e8)
    # 0.05 + 0.08 + 0.5 = 0.63 s against 0.001 + 0.08 + 2.0 s
    assert expected_completion_s(fast_far, task) == pytest.approx(0.63)
    assert LatencyAware().choose([fast_far, slow_near], task) == "fast_far"
    queued = Candidate("fast_far", 0, rtt_s=0.05, queued=40, workers=4, speed_hz=4e9, up_bps=1e8)
    assert LatencyAware().choose([queued, slow_near], task) == "slow_near"  # 10 per worker ahead
    tiny = TaskCost(cpu_cycles=1e3, input_bytes=10)
    assert LatencyAware().choose([fast_far, slow_near], tiny) == "slow_near"  # round trip rules


def test_make_placement_names() -> None:
    assert make_placement("least_loaded").name == "least_loaded"
    with pytest.raises(ValueError, match="unknown placement 'nope'"):
        make_placement("nope")
