"""sim.results: what a finished run leaves behind: records without the internal
columns, latency and deadline_met derived, names, time series of the right shapes,
and plain data that pickles (sweeps send results across processes)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from edgeoffload.sim.results import INTERNAL, OUTCOME_NAMES, REASON_NAMES, SimResult
from edgeoffload.sim.runner import run
from edgeoffload.sim.table import DTYPES, Outcome

from .conftest import small


@pytest.fixture(scope="module")
def local() -> SimResult:
    # 8 devices x 5 frames/s x 5 s, all run on the device; a 0.1 s deadline that the
    # lognormal task sizes straddle, so some results are late and some are not.
    apps = {
        "frame": {
            "cpu_cycles": {"dist": "lognormal", "median": 1.3e8, "sigma": 0.3},
            "input_bytes": 3e4,
            "output_bytes": 500,
            "deadline_s": 0.1,
        }
    }
    return run(small(duration_s=5.0, apps=apps), "always_local", seed=3)


def test_the_records_are_the_table_without_internal_columns_plus_derived_ones(
    local: SimResult,
) -> None:
    assert INTERNAL == ("compute_by_s",)
    assert set(local.records) == (set(DTYPES) - set(INTERNAL)) | {"latency_s", "deadline_met"}
    assert local.n_tasks == 8 * 5 * 5
    assert all(a.shape == (local.n_tasks,) for a in local.records.values())


def test_latency_is_end_minus_creation_for_done_tasks_only(local: SimResult) -> None:
    r = local.records
    done = r["outcome"] == int(Outcome.DONE)
    assert done.any()
    np.testing.assert_allclose(r["latency_s"][done], (r["end_s"] - r["created_s"])[done])
    assert np.isnan(r["latency_s"][~done]).all()
    assert (r["latency_s"][done] > 0).all()


def test_deadline_met_counts_only_done_tasks_on_time(local: SimResult) -> None:
    r = local.records
    met = r["deadline_met"]
    assert met.dtype == np.int64 and set(met.tolist()) == {0, 1}  # both happen here
    done = r["outcome"] == int(Outcome.DONE)
    on_time = done & (r["latency_s"] <= 0.1)
    assert met.tolist() == on_time.astype(int).tolist()
    assert not met[~done].any()


def test_names_and_run_facts(local: SimResult) -> None:
    assert local.policy == "always_local" and local.seed == 3
    assert local.apps == ["frame"] and local.node_names == ["edge-0", "edge-1"]
    assert [n["name"] for n in local.nodes] == local.node_names
    assert local.sim_end_s == 5.0 and local.events > 0  # (fast paths batch events)
    assert local.records["target"].tolist() == [-1] * local.n_tasks  # all local
    assert local.link_name.startswith("ghent_4g/")


def test_time_series_shapes(local: SimResult) -> None:
    assert local.node_load.shape == (local.timeline_s.size, 2)
    assert (np.diff(local.timeline_s) > 0).all()
    # The link under the results: 10 samples a second (at least 2, at most 2000).
    assert local.link_times_s.tolist() == np.linspace(0.0, 5.0, 50).tolist()
    assert local.link_up_mbps.shape == local.link_down_mbps.shape == (50,)
    assert (local.link_up_mbps > 0).all()


def test_a_result_pickles(local: SimResult) -> None:
    back = pickle.loads(pickle.dumps(local))
    assert back.n_tasks == local.n_tasks
    np.testing.assert_array_equal(back.records["end_s"], local.records["end_s"])


def test_outcome_and_reason_names() -> None:
    assert OUTCOME_NAMES == {-1: "pending", 0: "done", 1: "dropped", 2: "failed"}
    assert REASON_NAMES[0] == "none" and REASON_NAMES[4] == "link_lost"
