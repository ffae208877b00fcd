"""sim.world: the world drawn from a scenario before anything runs: devices spread
evenly over the edge nodes in a ring of cells, the cloud visible to all, one arrival
source per group and workload entry, crash windows merged, the same seed the same world."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim.world import World, _merge, build

from .conftest import small


def world(seed: int = 0, **overrides: Any) -> World:
    return build(small(**overrides), np.random.default_rng(seed))


def devices(**group: Any) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "count": 8,
        "cpu_hz": 1.5e9,
        "link": {"constant_mbps": 10.0},
        "workload": [{"app": "frame"}],
    }
    return [{**base, **group}]


def test_devices_nodes_and_sources() -> None:
    w = world()
    assert len(w.devices) == 8 and len(w.sources) == 1
    assert [n.name for n in w.nodes] == ["edge-0", "edge-1"]
    assert w.devices.cpu_hz == [1.5e9] * 8 and w.devices.load == [0.1] * 8
    assert list(w.devices.battery_j) == [5000.0] * 8 == w.devices.capacity_j
    assert w.devices.levels == [(0.5, 0.75, 1.0)] * 8
    assert w.devices.rtt_s == [0.02] * 8
    assert all(t.startswith("ghent_4g/") for t in w.devices.trace)
    assert w.failures == []


def test_every_device_may_use_every_edge_node_by_default_starting_at_its_home() -> None:
    w = world()
    assert sorted(set(w.devices.candidates)) == [(0, 1), (1, 0)]
    homes = Counter(c[0] for c in w.devices.candidates)
    assert homes == {0: 4, 1: 4}  # spread evenly


def test_nodes_per_device_gives_a_ring_of_cells() -> None:
    w = world(
        devices=devices(count=9, nodes_per_device=2),
        nodes=[{"count": 3}],
    )
    rings = {c for c in w.devices.candidates}
    assert rings <= {(0, 1), (1, 2), (2, 0)}
    assert Counter(c[0] for c in w.devices.candidates) == {0: 3, 1: 3, 2: 3}


def test_the_cloud_is_visible_to_every_device() -> None:
    w = world(
        devices=devices(count=4, nodes_per_device=1),
        cloud={"wan_mbps": 100.0, "wan_rtt_ms": 30.0},
    )
    cloud = w.nodes[-1]
    assert (cloud.name, cloud.tier, cloud.index) == ("cloud", "cloud", 2)
    assert cloud.wan_bps == 1e8 and cloud.wan_rtt_s == pytest.approx(0.03)
    assert all(c[-1] == 2 and len(c) == 2 for c in w.devices.candidates)


def test_without_edge_nodes_a_device_has_only_the_cloud_or_nothing() -> None:
    assert world(nodes=[], cloud={}).devices.candidates == [(0,)] * 8
    assert world(nodes=[]).devices.candidates == [()] * 8


def test_mains_powered_devices_have_an_infinite_battery() -> None:
    w = world(devices=devices(count=2))
    assert list(w.devices.battery_j) == [float("inf")] * 2


def test_the_same_seed_draws_the_same_world() -> None:
    spec = devices(count=16, cpu_hz={"dist": "uniform", "low": 1e9, "high": 2e9})
    a, b, c = world(1, devices=spec), world(1, devices=spec), world(2, devices=spec)
    assert a.devices.cpu_hz == b.devices.cpu_hz != c.devices.cpu_hz
    assert a.devices.candidates == b.devices.candidates
    assert len(set(a.devices.cpu_hz)) == 16


def test_refresh_phases_stagger_devices() -> None:
    w = world(view_phases=3)
    assert w.phase_of.tolist() == [0, 1, 2, 0, 1, 2, 0, 1]


def test_a_link_match_that_finds_no_trace_is_named() -> None:
    link = {"dataset": "ghent_4g", "match": "no-such-trace"}
    with pytest.raises(ConfigError, match=r"devices\[0\]\.link\.match: no trace of ghent_4g"):
        world(devices=devices(link=link))


def test_fixed_failure_windows_become_sorted_crash_and_recovery_events() -> None:
    w = world(
        nodes=[
            {"name": "a", "failures": {"at_s": [[5.0, 8.0], [1.0, 2.0]]}},
            {"name": "b", "failures": {"at_s": [[1.5, 3.0], [2.0, 4.0]]}},  # overlapping
        ]
    )
    assert w.failures == [
        (1.0, 0, True), (1.5, 1, True), (2.0, 0, False), (4.0, 1, False),
        (5.0, 0, True), (8.0, 0, False),
    ]  # fmt: skip


def test_random_failures_fall_within_the_run_and_alternate() -> None:
    w = world(5, nodes=[{"count": 3, "failures": {"mtbf_s": 4.0, "mttr_s": 1.0}}])
    assert w.failures, "expected failures in 20 s at a 4 s MTBF"
    for node in range(3):
        mine = [(t, crash) for t, n, crash in w.failures if n == node]
        assert [crash for _, crash in mine] == [True, False] * (len(mine) // 2)
        assert all(t < 20.0 for t, crash in mine if crash)
    assert w.failures == sorted(w.failures)
    again = world(5, nodes=[{"count": 3, "failures": {"mtbf_s": 4.0, "mttr_s": 1.0}}])
    assert again.failures == w.failures


@pytest.mark.parametrize(
    ("windows", "merged"),
    [
        ([], []),
        ([(1.0, 2.0)], [(1.0, 2.0)]),
        ([(3.0, 4.0), (1.0, 2.0)], [(1.0, 2.0), (3.0, 4.0)]),
        ([(1.0, 3.0), (2.0, 4.0)], [(1.0, 4.0)]),
        ([(1.0, 5.0), (2.0, 3.0)], [(1.0, 5.0)]),  # contained
        ([(1.0, 2.0), (2.0, 3.0)], [(1.0, 3.0)]),  # touching
    ],
)
def test_merge(windows: list[tuple[float, float]], merged: list[tuple[float, float]]) -> None:
    assert _merge(windows) == merged
