"""The numpy paths (rounds, batched node arrivals, held-back finishes, many links at
once) give the scalar paths' numbers bit for bit: the same world run with
``SimOptions(fast_paths=False)`` and with the numpy paths forced onto its small batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.policies import AlwaysEdge, CostModel, Policy
from edgeoffload.errors import ConfigError
from edgeoffload.sim.links import LinkArrays, LinkDirection, TraceTable
from edgeoffload.sim.options import SimOptions
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


def _run(scenario: Any, policy: Policy, options: SimOptions) -> tuple[Any, ...]:
    sim = Simulation(scenario, policy, options=options)
    sim.run()
    outputs = (sim.tasks.arrays(), list(sim.dev.battery_j), sim.engine.events, sim.engine.now)
    return outputs, sim.numpy_rows


def _lossy_world(burst: int) -> Any:
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
    return small(devices=groups, nodes=nodes, duration_s=8.0, view_phases=2)


@pytest.mark.parametrize("burst", [1, 3])
@pytest.mark.parametrize("policy", [CostModel, AlwaysEdge])
def test_fast_paths_change_nothing(policy: type[Policy], burst: int) -> None:
    scenario = _lossy_world(burst)
    fast, used = _run(scenario, policy(), SimOptions(numpy_min_rows=3))
    slow, unused = _run(scenario, policy(), SimOptions(fast_paths=False))
    # Each numpy path did carry out rows in the fast run, none in the slow one.
    assert used["arrivals"] > 0 and used["finishes"] > 0
    assert (used["rounds"] > 0) == (burst == 1)  # bursts: several tasks per device
    assert unused == {"rounds": 0, "arrivals": 0, "finishes": 0}
    for name, column in fast[0].items():
        assert np.array_equal(column, slow[0][name], equal_nan=True), name
    assert fast[1:] == slow[1:]


def test_the_default_thresholds_keep_small_batches_scalar() -> None:
    """On the small world the default thresholds leave every arrival batch scalar (the
    reason the test above forces them down)."""
    _, used = _run(_lossy_world(1), CostModel(), SimOptions())
    assert used["arrivals"] == 0


def test_modes_that_need_every_task_turn_the_numpy_paths_off() -> None:
    scenario = _lossy_world(1)
    for options in (
        SimOptions(capture=True, numpy_min_rows=3),
        SimOptions(report_closed=True, numpy_min_rows=3),
    ):
        _, used = _run(scenario, CostModel(), options)
        assert used == {"rounds": 0, "arrivals": 0, "finishes": 0}, options


def test_report_closed_lists_every_task_once() -> None:
    sim = Simulation(small(duration_s=3.0), CostModel(), options=SimOptions(report_closed=True))
    sim.run()
    assert sim.closed is not None
    assert sorted(sim.closed) == list(range(sim.tasks.size))
    assert Simulation(small(), CostModel()).closed is None


def test_numpy_min_rows_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="numpy_min_rows"):
        SimOptions(numpy_min_rows=0)
    assert SimOptions().min_rows(16) == 16
    assert SimOptions(numpy_min_rows=2).min_rows(16) == 2
