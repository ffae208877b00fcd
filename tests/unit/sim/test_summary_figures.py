"""summarize() on hand-made records, every figure worked out by hand: counts and
reasons, latency, deadline misses, energy and DVFS savings, offload share, caches,
batching, per app, per DAG job, and the run's own figures."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from edgeoffload.sim import run
from edgeoffload.sim.results import SimResult
from edgeoffload.sim.summary import job_latencies, summarize
from edgeoffload.sim.table import Outcome, Reason
from tests.unit.sim.conftest import small

INF, NAN = math.inf, math.nan
DONE, DROPPED, FAILED = int(Outcome.DONE), int(Outcome.DROPPED), int(Outcome.FAILED)


@pytest.fixture(scope="module")
def base() -> SimResult:
    return run(small(duration_s=2.0), "cost_model", seed=1)


def records(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Columns from rows, with neutral defaults for what a row does not say."""
    default: dict[str, Any] = {
        "device": 0,
        "app": 0,
        "job": -1,
        "stage": -1,
        "outcome": DONE,
        "reason": 0,
        "target": -1,
        "batch": 0,
        "created_s": 0.0,
        "end_s": NAN,
        "deadline_s": INF,
        "input_bytes": 0.0,
        "up_bytes": 0.0,
        "down_bytes": 0.0,
        "energy_j": 0.0,
        "energy_max_freq_j": 0.0,
    }
    cols = {k: np.array([{**default, **row}[k] for row in rows]) for k in default}
    done = cols["outcome"] == DONE
    cols["latency_s"] = np.where(done, cols["end_s"] - cols["created_s"], NAN)
    cols["deadline_met"] = (done & (cols["latency_s"] <= cols["deadline_s"])).astype(np.int64)
    return cols


def node(util: float, hits: int = 0, misses: int = 0) -> dict[str, Any]:
    return {
        "utilisation": util,
        "input_cache_hits": hits,
        "input_cache_misses": misses,
        "result_cache_hits": 0,
        "result_cache_misses": 0,
        "dynamic_energy_j": 1.0,
        "dynamic_energy_max_freq_j": 2.0,
        "static_energy_j": 5.0,
    }


@pytest.fixture(scope="module")
def summary(base: SimResult) -> dict[str, Any]:
    rows = [
        # local, done in 0.1 s against 0.5 s; DVFS halved its energy
        {"end_s": 0.1, "deadline_s": 0.5, "energy_j": 1.0, "energy_max_freq_j": 2.0},
        # offloaded in a batch of two, done late (0.3 s against 0.2 s)
        {"app": 1, "target": 0, "batch": 2, "created_s": 1.0, "end_s": 1.3, "deadline_s": 0.2}
        | {"input_bytes": 1000.0, "up_bytes": 1000.0, "down_bytes": 10.0, "energy_j": 0.5},
        # its batch mate, no deadline
        {"app": 1, "target": 1, "batch": 2, "created_s": 2.0, "end_s": 2.2}
        | {"input_bytes": 3000.0, "up_bytes": 3000.0, "energy_j": 0.5},
        # offloaded alone, dropped: its deadline expired in the queue
        {"app": 1, "target": 0, "batch": 1, "outcome": DROPPED, "deadline_s": 0.5}
        | {"reason": int(Reason.DEADLINE_EXPIRED), "input_bytes": 500.0, "up_bytes": 500.0}
        | {"energy_j": 0.25},
        # never placed, failed after max attempts
        {"target": -2, "outcome": FAILED, "reason": int(Reason.MAX_ATTEMPTS)},
    ]
    result = dataclasses.replace(
        base,
        records=records(rows),
        apps=["a", "b", "unused"],
        nodes=[node(0.2, hits=3, misses=1), node(0.6)],
        uplink_saved_bytes=900.0,
        events=100,
        wall_s=0.5,
    )
    return summarize(result)


def test_counts_and_why_tasks_were_not_done(summary: dict[str, Any]) -> None:
    assert (summary["tasks"], summary["done"], summary["dropped"], summary["failed"]) == (
        5,
        3,
        1,
        1,
    )
    assert summary["not_done_by_reason"] == {"deadline_expired": 1, "max_attempts": 1}
    assert (summary["scenario"], summary["policy"], summary["seed"]) == ("small", "cost_model", 1)


def test_latency_is_over_done_tasks_and_misses_over_tasks_with_a_deadline(
    summary: dict[str, Any],
) -> None:
    lat = summary["latency_s"]
    assert lat["mean"] == pytest.approx(0.2) and lat["p50"] == pytest.approx(0.2)
    assert lat["p99"] == pytest.approx(0.298)  # between 0.2 and 0.3, near the top
    # Three tasks have a deadline: one met, one late, one dropped.
    assert summary["deadline_miss_rate"] == pytest.approx(2 / 3)


def test_energy_and_dvfs_savings(summary: dict[str, Any]) -> None:
    assert summary["device_energy_j"] == pytest.approx(2.25)
    assert summary["device_energy_per_task_j"] == pytest.approx(0.45)
    assert summary["device_dvfs_saving"] == pytest.approx(0.5)  # local tasks only
    assert summary["node_dvfs_saving"] == pytest.approx(0.5)
    assert summary["node_dynamic_energy_j"] == 2.0 and summary["node_static_energy_j"] == 10.0


def test_offloading_caches_bytes_and_batching(summary: dict[str, Any]) -> None:
    # Three offloaded, one local; the never-placed task counts in neither.
    assert summary["offload_share"] == pytest.approx(0.75)
    assert summary["node_utilisation"] == pytest.approx(0.4)
    assert summary["node_utilisation_max"] == pytest.approx(0.6)
    assert summary["input_cache_hit_rate"] == pytest.approx(0.75)
    assert summary["result_cache_hit_rate"] is None  # no lookups at all
    assert summary["uplink_saved_share"] == pytest.approx(900 / 4500)
    assert (summary["uplink_bytes"], summary["downlink_bytes"]) == (4500.0, 10.0)
    # Batches of 2, 2 and 1: two transfers for three tasks.
    assert summary["transfers"] == 2 and summary["tasks_per_transfer"] == pytest.approx(1.5)
    header = small().batching.header_bytes
    assert summary["header_bytes_saved"] == pytest.approx(header)


def test_per_app_figures_skip_apps_without_tasks(summary: dict[str, Any]) -> None:
    by_app = summary["by_app"]
    assert sorted(by_app) == ["a", "b"]
    a, b = by_app["a"], by_app["b"]
    assert (a["tasks"], a["deadline_miss_rate"], a["offload_share"]) == (2, 0.0, 0.0)
    assert a["latency_s"]["mean"] == pytest.approx(0.1) and a["device_energy_j"] == 1.0
    assert (b["tasks"], b["deadline_miss_rate"], b["offload_share"]) == (3, 1.0, 1.0)
    assert b["latency_s"]["mean"] == pytest.approx(0.25) and b["device_energy_j"] == 1.25


def test_run_figures_and_simulated_time_past_the_duration(summary: dict[str, Any]) -> None:
    run_ = summary["run"]
    assert (run_["events"], run_["wall_s"]) == (100, 0.5)
    assert run_["tasks_per_s"] == 10.0 and run_["events_per_s"] == 200.0
    assert run_["simulated_s"] == pytest.approx(2.2)  # the last task ended after 2 s
    assert summary["jobs"] is None


def test_dag_jobs_are_done_when_every_stage_is_and_judged_by_the_first_deadline(
    base: SimResult,
) -> None:
    rows = [
        # job 0: two stages, 0.6 s in all against its first stage's 0.5 s: late
        {"job": 0, "stage": 0, "target": 0, "created_s": 0.0, "end_s": 0.2, "deadline_s": 0.5},
        {"job": 0, "stage": 1, "target": -1, "created_s": 0.2, "end_s": 0.6, "deadline_s": 9.0},
        # job 7: three stages, 0.3 s: in time
        {"job": 7, "stage": 0, "target": 0, "created_s": 1.0, "end_s": 1.1, "deadline_s": 0.5},
        {"job": 7, "stage": 1, "target": 1, "created_s": 1.1, "end_s": 1.2},
        {"job": 7, "stage": 2, "target": -1, "created_s": 1.2, "end_s": 1.3},
        # job 3: one stage, dropped, no deadline: not done, not a miss
        {"job": 3, "stage": 0, "target": 0, "created_s": 0.5, "end_s": 0.9, "outcome": DROPPED},
    ]
    result = dataclasses.replace(base, records=records(rows), nodes=[], wall_s=0.0)
    jobs = summarize(result)["jobs"]
    assert (jobs["jobs"], jobs["done"], jobs["stages_per_job"]) == (3, 2, 2.0)
    assert jobs["latency_s"]["mean"] == pytest.approx(0.45)
    assert jobs["deadline_miss_rate"] == pytest.approx(0.5)
    assert jobs["stages_offloaded_share"] == pytest.approx(4 / 6)
    np.testing.assert_allclose(job_latencies(result), [0.3, 0.6])
    figures = summarize(result)
    assert figures["node_utilisation"] is None and figures["run"]["tasks_per_s"] is None


def test_an_empty_run_has_no_statistics(base: SimResult) -> None:
    empty = dataclasses.replace(base, records=_empty())
    s = summarize(empty)
    assert s["tasks"] == 0 and s["latency_s"] == dict.fromkeys(("mean", "p50", "p95", "p99"))
    assert s["device_energy_per_task_j"] is None and s["deadline_miss_rate"] is None
    assert s["offload_share"] is None and s["transfers"] == 0
    assert s["run"]["simulated_s"] == 2.0


def _empty() -> dict[str, np.ndarray]:
    cols = records([{}])
    return {k: v[:0] for k, v in cols.items()}
