"""The shared state (sim/state.py): the world's constants as arrays, once, equal to
the per-device and per-node values; the link arrays built at first use."""

from __future__ import annotations

from typing import Any

import numpy as np

from .conftest import small, state_of


def _world() -> Any:
    work = [{"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 1}}]
    groups = [
        {"count": 3, "dvfs_levels": [0.5, 1.0], "workload": work},
        {"count": 2, "cpu_hz": 2e9, "link": {"loss": 0.1}, "workload": work},
    ]
    return small(devices=groups, cloud={"cores": 8})


def test_constants_are_the_worlds_values() -> None:
    st = state_of(_world())
    dev = st.dev
    assert st.cpu_hz.tolist() == dev.cpu_hz
    assert st.rtt.tolist() == dev.rtt_s
    assert st.loss.tolist() == [0.0] * 3 + [0.1] * 2
    assert st.power[:, 0].tolist() == [p.kappa for p in dev.power]
    # Levels padded with the highest: a device with one level runs at it.
    assert st.levels.tolist() == [[0.5, 1.0]] * 3 + [[1.0, 1.0]] * 2
    # Candidates padded with -1 to the widest row.
    for d, cands in enumerate(dev.candidates):
        row = st.candidates[d].tolist()
        assert row[: len(cands)] == list(cands) and set(row[len(cands) :]) <= {-1}
    assert st.cloud.tolist() == [n.tier == "cloud" for n in st.nodes]
    assert st.inv_wan.tolist() == [1.0 / n.wan_bps for n in st.nodes]
    assert st.kappa_ss.tolist() == [n.kappa * n.speed_hz * n.speed_hz for n in st.nodes]


def test_the_views_share_memory_with_the_devices_columns() -> None:
    st = state_of(small())
    st.battery_v[2] = 12.5
    st.cpu_free_v[3] = 4.0
    assert st.dev.battery_j[2] == 12.5 and st.dev.cpu_free[3] == 4.0
    st.until_loss[1] = 9
    assert st.until_v[1] == 9


def test_link_arrays_are_built_once_and_then_hold_the_links_state() -> None:
    st = state_of(small())
    assert not st.has_uplinks()
    ups = st.uplinks()
    assert st.uplinks() is ups and st.has_uplinks()
    ups.free_s_v[0] = 3.25
    assert st.dev.up[0].free_s == 3.25  # the link reads the array now
    assert st.downlinks() is st.downlinks()


def test_modes_decide_what_is_collected() -> None:
    plain = state_of(small())
    assert plain.capture is None and plain.closed is None and plain.observe is None
    both = state_of(small(), capture=True, report_closed=True)
    assert both.capture is not None and both.closed == []
    assert np.array_equal(plain.candidates, both.candidates)
