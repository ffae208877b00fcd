"""Common random numbers: every policy sees the same tasks on the same seed.

``sim compare`` promises "same world, same tasks": a difference between two policies
must come from their choices, not from different draws. Every task attribute (arrival
time, kind, sizes, deadline, and a task graph's later stages) is drawn from streams that
the policy's choices cannot move (see ``docs/simulator.md``, "Common random numbers").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.sim.runner import run
from edgeoffload.sim.scenario import load_scenario, with_overrides

POLICIES = ("always_local", "always_edge", "random", "cost_model")

#: Attributes a task is created with (the job's deadline for later DAG stages, whose
#: own ``deadline_s`` is what is left of it when they start).
CREATED = ("device", "app", "created_s", "cpu_cycles", "mem_mb", "io_ops", "input_bytes")
CREATED += ("output_bytes", "deadline_s", "priority", "key")
LATER = ("device", "app", "cpu_cycles", "output_bytes", "priority")


def _tasks(scenario: str, policy: str, duration_s: float) -> dict[str, Any]:
    spec = with_overrides(load_scenario(scenario), {"duration_s": duration_s})
    return run(spec, policy, seed=3).records


def _first(rec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every task created by a device (a plain task or a job's first stage), in
    creation order."""
    rows = rec["stage"] <= 0
    return {name: rec[name][rows] for name in CREATED}


def _later(rec: dict[str, Any]) -> dict[tuple[int, int], tuple[float, ...]]:
    """A job's later stages, by (the job's rank among the created tasks, stage)."""
    first = np.flatnonzero(rec["stage"] <= 0)
    rank = {int(tid): k for k, tid in enumerate(first.tolist())}
    out = {}
    for tid in np.flatnonzero(rec["stage"] > 0).tolist():
        key = (rank[int(rec["job"][tid])], int(rec["stage"][tid]))
        out[key] = tuple(float(rec[name][tid]) for name in LATER)
    return out


@pytest.mark.parametrize(
    ("scenario", "duration_s"),
    [("manufacturing", 20.0), ("smart_city", 20.0), ("ultrasound", 30.0), ("stress", 0.3)],
)
def test_every_policy_sees_the_same_tasks(scenario: str, duration_s: float) -> None:
    runs = {p: _tasks(scenario, p, duration_s) for p in POLICIES}
    base = _first(runs[POLICIES[0]])
    later = _later(runs[POLICIES[0]])
    assert base["created_s"].size > 0
    for policy in POLICIES[1:]:
        other = _first(runs[policy])
        for name in CREATED:
            np.testing.assert_array_equal(other[name], base[name], err_msg=f"{policy}: {name}")
        stages = _later(runs[policy])
        common = later.keys() & stages.keys()
        assert all(stages[k] == later[k] for k in common), policy
        if later or stages:
            assert common, policy
