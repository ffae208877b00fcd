"""What a run's summary and its table say: the simulated time, and jobs before stages."""

from __future__ import annotations

import pytest

from edgeoffload.cli.sim import table_rows
from edgeoffload.sim import run, summarize, with_overrides
from edgeoffload.sim.scenario import load_scenario


def _summary(scenario: str, duration_s: float) -> dict:  # type: ignore[type-arg]
    spec = with_overrides(load_scenario(scenario), {"duration_s": duration_s})
    return summarize(run(spec, "cost_model", seed=1))


def test_simulated_time_is_the_run_not_the_last_scheduled_failure() -> None:
    # manufacturing schedules a node restart at 150-180 s: a 20 s run said 180.0.
    summary = _summary("manufacturing", 20.0)
    assert 20.0 <= summary["run"]["simulated_s"] < 25.0


def test_a_dag_scenario_shows_its_jobs_first_and_its_stages_as_such() -> None:
    summary = _summary("ultrasound", 30.0)
    jobs = summary["jobs"]
    assert jobs["deadline_miss_rate"] is not None
    assert jobs["latency_s"]["p50"] > summary["latency_s"]["p50"]  # a job is 3 stages
    headers, rows = table_rows([summary])
    assert headers[:5] == ["policy", "jobs", "job p50", "job p95", "job miss"]
    assert "stages" in headers and "stage p50" in headers
    assert "tasks" not in headers and "p50 ms" not in headers
    (row,) = rows
    assert row[2] == f"{1000 * jobs['latency_s']['p50']:.0f}"


def test_a_plain_scenario_keeps_its_task_table() -> None:
    headers, _ = table_rows([_summary("manufacturing", 5.0)])
    assert headers[:3] == ["policy", "tasks", "p50 ms"]


@pytest.mark.parametrize("scenario", ["ultrasound"])
def test_the_latency_cdf_plots_jobs_and_labels_stages(scenario: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from edgeoffload.sim.report import latency_series

    spec = with_overrides(load_scenario(scenario), {"duration_s": 20.0})
    series = latency_series(run(spec, "cost_model", seed=1))
    assert [label for label, _, _ in series] == ["cost_model (jobs)", "cost_model (stages)"]
