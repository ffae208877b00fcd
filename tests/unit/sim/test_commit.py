"""Carrying decisions out (sim/commit.py): shared transfers per instant and node up to
max_items, the batching window, the compute-by time, bad targets named, and a numpy
round equal to the task-by-task code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.features import LOCAL_INDEX
from edgeoffload.errors import InvalidState
from edgeoffload.sim.commit import Commit
from edgeoffload.sim.device import DeviceCpu
from edgeoffload.sim.radio import Radio
from edgeoffload.sim.state import SimState

from .conftest import Recorder, add_tasks, small, state_of


def _commit(st: SimState) -> tuple[Commit, Recorder]:
    rec = Recorder()
    device = DeviceCpu(st, rec.close, rec.local_done_hook)
    return Commit(st, device, Radio(st, rec.close, rec.arrive)), rec


def _sent(st: SimState) -> list[tuple[int, list[int]]]:
    assert st.arrivals is not None
    return [(node, tids) for _, node, tids in st.arrivals]


def test_tasks_of_one_instant_share_a_transfer_per_node_up_to_max_items() -> None:
    st = state_of(small(batching={"max_items": 2}))
    commit, _ = _commit(st)
    a, b, c, d, e = add_tasks(st, 5, created_s=[0.0, 0.0, 0.0, 0.0, 0.2])
    st.arrivals = []
    commit.carry_out(0, a, [0, 0, 0, 1, 0], [0, 1])
    assert _sent(st) == [(0, [a, b]), (0, [c]), (1, [d]), (0, [e])]
    assert [st.tasks.batch[i] for i in (a, b, c, d, e)] == [2, 2, 1, 1, 1]


def test_a_batching_window_holds_a_transfer_open_for_later_tasks() -> None:
    st = state_of(small(batching={"window_s": 0.05}))
    commit, _ = _commit(st)
    assert commit.windowed
    a, b, c = add_tasks(st, 3, created_s=[0.0, 0.01, 0.2])
    st.arrivals = []
    nan = [float("nan")] * 3
    commit.rows(0, a, [0, 0, 0], nan, nan, nan, [0, 1])
    assert _sent(st) == [(0, [a, b]), (0, [c])]
    t = st.tasks
    assert t.upload_end_s[a] > 0.05  # sent when the window closed
    assert [t.attempts[i] for i in (a, b, c)] == [1, 1, 1]


def test_a_local_choice_runs_on_the_device_and_a_missing_node_is_named() -> None:
    st = state_of(small())
    commit, rec = _commit(st)
    a, b = add_tasks(st, 2)
    assert commit.assign(a, 0, LOCAL_INDEX, [0, -1], 0.0) == LOCAL_INDEX
    assert rec.closed[0][0] == a and st.tasks.target[a] == LOCAL_INDEX
    with pytest.raises(InvalidState, match=r"cost_model.*column 1"):
        commit.assign(b, 0, 1, [0, -1], 0.0)


def test_the_compute_by_time_leaves_room_for_the_way_back() -> None:
    st = state_of(small())
    commit, _ = _commit(st)
    a, b = add_tasks(st, 2, created_s=1.0, deadline_s=[0.5, float("inf")], output_bytes=500.0)
    commit.set_compute_by(a, 0, 1)
    commit.set_compute_by(b, 0, 1)
    node = st.nodes[1]
    back = (500 * 8.0 + st.header_bits) * (1.0 / st.estimator.down_bps(0) + 1.0 / node.wan_bps)
    rtt = (st.dev.rtt_s[0] + node.wan_rtt_s) / 2.0
    assert st.tasks.compute_by_s[a] == 1.0 + 0.5 - back - rtt
    assert st.tasks.compute_by_s[b] == float("inf")


def _round_world() -> Any:
    group = {**_plain_group(), "count": 40}
    return small(devices=[group])


def _plain_group() -> dict[str, Any]:
    return {
        "count": 8,
        "cpu_hz": 1.5e9,
        "load": 0.1,
        "battery_j": 5000.0,
        "dvfs_levels": [0.5, 0.75, 1.0],
        "link": {"dataset": "ghent_4g", "uplink_scale": 0.5, "rtt_ms": 20},
        "workload": [{"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 5}}],
    }


def test_a_round_equals_the_task_by_task_code_bit_for_bit() -> None:
    rng = np.random.default_rng(9)
    scenario = _round_world()
    scalar, vector = state_of(scenario), state_of(scenario)
    n = 40
    devs = rng.permutation(n)
    columns = {
        "device": devs,
        "created_s": rng.random(n),
        "cpu_cycles": rng.lognormal(19, 0.5, n),
        "input_bytes": rng.lognormal(10, 1, n),
        "deadline_s": rng.choice([0.3, 1.0, np.inf], n),
    }
    targets = rng.integers(-1, 2, n)  # local, or one of the first two candidates
    first = add_tasks(scalar, n, **columns)[0]
    add_tasks(vector, n, **columns)
    cand = scalar.candidates[devs]
    commit, rec = _commit(scalar)
    scalar.arrivals = []
    commit.carry_out_single(
        devs.tolist(),
        list(range(first, first + n)),
        targets.tolist(),
        list(range(n)),
        cand.tolist(),
    )
    fast, _ = _commit(vector)
    vector.arrivals = []
    t = vector.tasks
    tasks = np.column_stack(
        [t.view(c)[:n] for c in ("cpu_cycles", "mem_mb", "io_ops", "input_bytes")]
        + [t.view("output_bytes")[:n], t.view("deadline_s")[:n], t.view("priority")[:n]]
    )
    cpu_free = vector.cpu_free_v[devs].copy()
    up_free = np.array([vector.dev.up[d].free_s for d in devs])
    down = np.array([vector.estimator.down_bps(int(d)) for d in devs])
    created = t.view("created_s")[:n].copy()
    fast.round(first, devs, targets, cand, created, tasks, cpu_free, up_free, down)
    a, b = scalar.tasks.arrays(), vector.tasks.arrays()
    local = targets == LOCAL_INDEX
    for name in ("target", "compute_by_s", "start_s", "level", "energy_j", "upload_end_s"):
        assert np.array_equal(a[name], b[name], equal_nan=True), name
    # The scalar code ends local tasks through the hook; the round writes them.
    ended = [(tid, at, outcome) for tid, at, outcome, _ in rec.closed]
    rows = np.flatnonzero(local) + first
    assert ended == [(i, b["end_s"][i], b["outcome"][i]) for i in rows.tolist()]
    assert local.any() and not local.all()
    assert scalar.arrivals == vector.arrivals
    assert vector.battery_v.tolist() == scalar.battery_v.tolist()
    assert cpu_free.tolist() == scalar.cpu_free_v[devs].tolist()
