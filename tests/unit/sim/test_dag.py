"""sim.dag: task graphs, a stage decided and placed on its own, on a diamond worked by
hand (src -> left, right -> join): on the device the stages queue on its CPU in commit
order; on a node the data stays there between stages, only the first input goes up and
only the sink's output comes down."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.sim.results import SimResult
from edgeoffload.sim.runner import run
from edgeoffload.sim.table import Outcome

from .conftest import small

# 1 GHz everywhere: src 0.1 s, left 0.2 s, right 0.3 s, join 0.1 s. 8 Mbit/s, no RTT:
# 1 byte = 1 us on the wire; every transfer adds 66 header bytes.
APPS = {
    "dag": {
        "input_bytes": 1000.0,
        "stages": [
            {"name": "src", "cpu_cycles": 1e8, "output_bytes": 100.0},
            {"name": "left", "cpu_cycles": 2e8, "output_bytes": 10.0, "after": ["src"]},
            {"name": "right", "cpu_cycles": 3e8, "output_bytes": 20.0, "after": ["src"]},
            {"name": "join", "cpu_cycles": 1e8, "output_bytes": 5.0, "after": ["left", "right"]},
        ],
    }
}
DEVICES = [
    {
        "count": 1,
        "cpu_hz": 1e9,
        "link": {"constant_mbps": 8.0, "rtt_ms": 0},
        "workload": [{"app": "dag", "arrivals": {"process": "periodic", "rate_hz": 1}}],
    }
]


def simulate(policy: str, duration_s: float = 1.0) -> SimResult:
    """One frame a second: one job in the first second."""
    scenario = small(
        duration_s=duration_s, apps=APPS, devices=DEVICES, nodes=[{"cores": 4, "speed_hz": 1e9}]
    )
    return run(scenario, policy, seed=1)


def first_job(result: SimResult) -> dict[str, Any]:
    """The first job's rows, by stage, times relative to its creation."""
    r = result.records
    rows = np.flatnonzero(r["job"] == r["job"][0])
    rows = rows[np.argsort(r["stage"][rows])]
    t0 = r["created_s"][rows[0]]
    out = {k: r[k][rows].tolist() for k in ("stage", "target", "input_bytes", "up_bytes")}
    out.update({k: (r[k][rows] - t0).round(6).tolist() for k in ("created_s", "finish_s", "end_s")})
    out["down_bytes"] = r["down_bytes"][rows].tolist()
    out["outcome"] = r["outcome"][rows].tolist()
    return out


@pytest.fixture(scope="module")
def local() -> dict[str, Any]:
    return first_job(simulate("always_local"))


@pytest.fixture(scope="module")
def edge() -> dict[str, Any]:
    return first_job(simulate("always_edge"))


def test_every_stage_is_a_task_of_the_same_job(local: dict[str, Any]) -> None:
    assert local["stage"] == [0, 1, 2, 3]
    assert local["outcome"] == [int(Outcome.DONE)] * 4
    # A stage reads the outputs of those it comes after: 100 from src, 10 + 20 for join.
    assert local["input_bytes"] == [1000.0, 100.0, 100.0, 30.0]


def test_on_the_device_stages_queue_on_its_cpu_in_commit_order(local: dict[str, Any]) -> None:
    assert local["target"] == [-1, -1, -1, -1]
    assert local["created_s"] == [0.0, 0.1, 0.1, 0.6]  # join once both inputs are done
    assert local["finish_s"] == [0.1, 0.3, 0.6, 0.7]  # right waits for left
    assert local["end_s"] == local["finish_s"]  # nothing to bring back
    assert local["up_bytes"] == local["down_bytes"] == [0.0] * 4


def test_on_a_node_data_stays_put_and_only_the_sink_comes_back(edge: dict[str, Any]) -> None:
    up = (1000 + 66) * 8 / 8e6  # the app's input, once
    down = (5 + 66) * 8 / 8e6  # the join's output, once
    assert edge["target"] == [0, 0, 0, 0]
    assert edge["up_bytes"] == [1066.0, 0.0, 0.0, 0.0]
    assert edge["down_bytes"] == [0.0, 0.0, 0.0, 71.0]
    # left and right run side by side on the node's cores; join after the slower.
    assert edge["created_s"] == pytest.approx([0.0, up + 0.1, up + 0.1, up + 0.4])
    assert edge["finish_s"] == pytest.approx([up + 0.1, up + 0.3, up + 0.4, up + 0.5])
    assert edge["end_s"] == pytest.approx([up + 0.1, up + 0.3, up + 0.4, up + 0.5 + down])


def test_a_stage_queues_behind_tasks_committed_before_it_even_on_an_idle_cpu() -> None:
    # The documented simplification: the device CPU serves in commit order. The second
    # job's first stage (created 1.0 s after the first) is committed at the view that
    # draws its arrival, before the first job's join exists; the join, created at 0.6 s
    # with the CPU idle, runs after it: from 1.1 s to 1.2 s, not from 0.6 s to 0.7 s.
    r = simulate("always_local", duration_s=2.0).records
    t0 = r["created_s"][0]
    join = np.flatnonzero((r["job"] == r["job"][0]) & (r["stage"] == 3))[0]
    assert round(r["created_s"][join] - t0, 6) == 0.6
    assert round(r["start_s"][join] - t0, 6) == 1.1
    assert round(r["finish_s"][join] - t0, 6) == 1.2


def test_a_later_job_is_the_same_shape() -> None:
    r = simulate("always_edge", duration_s=2.0).records
    jobs = np.unique(r["job"])
    assert jobs.size == 2  # one frame a second for 2 s
    for job in jobs:
        rows = np.flatnonzero(r["job"] == job)
        assert sorted(r["stage"][rows].tolist()) == [0, 1, 2, 3]
        assert r["up_bytes"][rows].sum() == 1066.0 and r["down_bytes"][rows].sum() == 71.0
