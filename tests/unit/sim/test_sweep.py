"""Parameter sweeps: the grid, local processes, and a Dask cluster."""

from __future__ import annotations

import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim.scenario import with_overrides
from edgeoffload.sim.sweep import points, sweep

from .conftest import small


def tiny():  # type: ignore[no-untyped-def]
    return with_overrides(small(), {"duration_s": 5.0, "devices[0].count": 2})


def test_points_cover_the_grid_in_order() -> None:
    grid = {"devices[0].count": [1, 2], "batching.enabled": [True, False]}
    todo = points(grid, ["always_local", "cost_model"], [0, 1])
    assert len(todo) == 2 * 2 * 2 * 2
    assert todo[0].overrides == {"devices[0].count": 1, "batching.enabled": True}
    assert (todo[0].policy, todo[0].seed) == ("always_local", 0)
    assert todo[-1].overrides == {"devices[0].count": 2, "batching.enabled": False}


def test_local_sweep_in_worker_processes() -> None:
    seen: list[str] = []
    results = sweep(
        tiny(),
        {"devices[0].count": [1, 3]},
        ["cost_model"],
        [0],
        workers=2,
        on_result=lambda r: seen.append(r["policy"]),
    )
    assert [r["overrides"]["devices[0].count"] for r in results] == [1, 3]
    assert results[0]["summary"]["tasks"] == 1 * 5 * 5
    assert results[1]["summary"]["tasks"] == 3 * 5 * 5
    assert len(seen) == 2


def test_a_bad_override_fails_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match="unknown field `colour`"):
        sweep(tiny(), {"devices[0].colour": [1]}, ["cost_model"], workers=1)
    with pytest.raises(ConfigError, match="backend must be one of"):
        sweep(tiny(), {}, ["cost_model"], backend="slurm")


def test_dask_backend_joins_a_scheduler() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        results = sweep(
            tiny(),
            {"devices[0].count": [1, 2]},
            ["always_local"],
            backend="dask",
            address=cluster.scheduler_address,
        )
    assert [r["summary"]["tasks"] for r in results] == [25, 50]


@pytest.mark.slow
def test_ray_backend_starts_a_local_cluster() -> None:
    pytest.importorskip("ray")
    results = sweep(tiny(), {"devices[0].count": [1, 2]}, ["always_local"], backend="ray")
    assert [r["summary"]["tasks"] for r in results] == [25, 50]


def _result(count: int, policy: str, seed: int, p50: float, miss: float) -> dict:  # type: ignore[type-arg]
    summary = {
        "tasks": 10,
        "latency_s": {"p50": p50, "p95": 2 * p50, "p99": 3 * p50},
        "deadline_miss_rate": miss,
        "device_energy_j": 1.0,
        "offload_share": 0.5,
        "jobs": None,
    }
    return {
        "overrides": {"devices[0].count": count},
        "policy": policy,
        "seed": seed,
        "summary": summary,
    }


def test_aggregate_is_one_row_per_grid_point_and_policy_over_its_seeds() -> None:
    from edgeoffload.sim.sweep import aggregate

    results = [
        _result(1, "a", 0, 0.010, 0.0),
        _result(1, "a", 1, 0.020, 0.5),
        _result(1, "b", 0, 0.030, 0.0),
        _result(2, "a", 0, 0.040, 1.0),
    ]
    rows = aggregate(results, ["devices[0].count"])
    assert [(r["devices[0].count"], r["policy"], r["seeds"]) for r in rows] == [
        (1, "a", 2),
        (1, "b", 1),
        (2, "a", 1),
    ]
    p50 = rows[0]["p50_ms"]
    assert p50.mean == pytest.approx(15.0) and p50.n == 2 and p50.half > 0
    assert rows[0]["deadline_miss_rate"].mean == pytest.approx(0.25)
    assert rows[1]["p50_ms"].n == 1


def test_cells_read_mean_plus_minus_half_width() -> None:
    from edgeoffload.sim.sweep_report import cell
    from edgeoffload.stats import Interval

    assert cell(Interval(12.345, 1.25, 3), "{:.1f}") == "12.3 ± 1.2"
    assert cell(Interval(0.2, 0.05, 3), "%") == "20.0 ± 5.0 %"
    assert cell(Interval(0.2, float("nan"), 1), "%") == "20.0 %"
    assert cell(Interval(float("nan"), float("nan"), 0), "%") == "–"
