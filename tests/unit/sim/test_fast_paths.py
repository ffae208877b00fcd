"""The numpy paths (rounds, held-back finishes, many links at once) give the scalar
paths' numbers bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.policies import AlwaysEdge, CostModel, Policy
from edgeoffload.sim import arrivals, rounds
from edgeoffload.sim.arrivals import ArrivalStream
from edgeoffload.sim.links import LinkArrays, LinkDirection, TraceTable
from edgeoffload.sim.simulation import Simulation
from edgeoffload.traces import Trace

from .conftest import small


def test_link_arrays_equal_the_scalar_transfers() -> None:
    rng = np.random.default_rng(3)
    tables = [
        TraceTable.of(Trace("a", "x", np.array([0.0, 1.0, 2.5]), np.array([4.0, 0.0, 9.0]), 4.0)),
        TraceTable.of(Trace("b", "x", np.array([0.0, 0.5]), np.array([2.0, 30.0]), 1.5)),
    ]

    def fleet() -> list[LinkDirection]:
        return [
            LinkDirection(tables[i % 2], float(o), float(s))
            for i, (o, s) in enumerate(zip(rng.random(40) * 3, 0.5 + rng.random(40), strict=True))
        ]

    state = rng.bit_generator.state
    scalar = fleet()
    rng.bit_generator.state = state
    vector = fleet()
    arrays = LinkArrays(vector)
    index = np.arange(40)
    for step in range(30):
        t = step * 0.2 + rng.random(40) * 0.1
        bits = rng.choice([0.0, 1e4, 3e5, 2e6], 40)
        expected = [link.transfer(a, b) for link, a, b in zip(scalar, t, bits, strict=True)]
        start, end, done = arrays.transfer(index, t, bits)
        for i in np.flatnonzero(~done):  # rows left to the scalar method
            start[i], end[i] = vector[i].transfer(float(t[i]), float(bits[i]))
        assert start.tolist() == [s for s, _ in expected]
        assert end.tolist() == [e for _, e in expected]
        assert [v.free_bits for v in vector] == [s.free_bits for s in scalar]


def _table(
    scenario: Any,
    policy: Policy,
    fast: bool,
    monkeypatch: pytest.MonkeyPatch,
    rounds_expected: bool = True,
) -> Any:
    calls: list[int] = []
    batches: list[int] = []
    carry_out = rounds.carry_out
    batch = ArrivalStream._batch
    with monkeypatch.context() as patch:
        patch.setattr(rounds, "carry_out", lambda *a: calls.append(1) or carry_out(*a))
        patch.setattr(ArrivalStream, "_batch", lambda s, b: batches.append(len(b)) or batch(s, b))
        if fast:
            patch.setattr(arrivals, "MIN_ROWS", 3)  # the small scenario's batches are small
        else:
            patch.setattr(rounds, "MIN_ROWS", 10**9)
        sim = Simulation(scenario, policy)
        sim.start()
        assert sim._finishes is not None
        if not fast:
            sim._finishes = None
        sim.run()
    assert bool(batches) == fast
    if rounds_expected:
        assert bool(calls) == fast
    return sim.tasks.arrays(), sim.dev.battery_j, sim.engine.events, sim.engine.now


@pytest.mark.parametrize("burst", [1, 3])
@pytest.mark.parametrize("policy", [CostModel, AlwaysEdge])
def test_fast_paths_change_nothing(
    policy: type[Policy], burst: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = small().devices[0]
    link = {"dataset": "ghent_4g", "uplink_scale": 0.5, "rtt_ms": 20, "loss": 0.05}
    groups = [
        {
            "count": 60,
            "cpu_hz": 1.5e9,
            "load": 0.1,
            "battery_j": 500.0,
            "dvfs_levels": [0.5, 0.75, 1.0],
            "link": link,
            # burst > 1: several tasks per transfer (and no round of one task per device)
            "workload": [
                {"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 8, "burst": burst}}
            ],
        }
    ]
    assert device.count == 8  # the small scenario, made larger and lossy
    failures = {"mtbf_s": 3.0, "mttr_s": 0.5}
    # Full queues with one task per transfer; room for batches of arrivals with three.
    room = 30 if burst == 1 else 300
    nodes = [{"count": 2, "cores": 4, "speed_hz": 3e9, "max_pending": room, "failures": failures}]
    scenario = small(devices=groups, nodes=nodes, duration_s=8.0, view_phases=2)
    fast = _table(scenario, policy(), True, monkeypatch, burst == 1)
    slow = _table(scenario, policy(), False, monkeypatch, burst == 1)
    for name, column in fast[0].items():
        assert np.array_equal(column, slow[0][name], equal_nan=True), name
    assert fast[1:] == slow[1:]
