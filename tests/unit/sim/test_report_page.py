"""What the report says, apart from its pixels: which curves a run gives (tasks, or
jobs then stages), how each table cell is formatted, which rows a scenario of task
graphs gets, and (where matplotlib is installed) the page itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.sim import run, summarize, with_overrides
from edgeoffload.sim.report import PLOTS, _cell, _rows, latency_series, write_report
from edgeoffload.sim.results import SimResult
from edgeoffload.sim.scenario import load_scenario
from edgeoffload.sim.summary import job_latencies
from tests.unit.sim.conftest import small


@pytest.fixture(scope="module")
def plain() -> SimResult:
    return run(small(duration_s=2.0), "cost_model", seed=1)


@pytest.fixture(scope="module")
def graphs() -> SimResult:
    spec = with_overrides(load_scenario("ultrasound"), {"duration_s": 3.0})
    return run(spec, "cost_model", seed=1)


def test_a_plain_run_is_one_solid_curve_of_its_sorted_finite_latencies(plain: SimResult) -> None:
    ((label, lat, style),) = latency_series(plain)
    assert (label, style) == ("cost_model", "-")
    raw = plain.records["latency_s"]
    assert lat.size == int(np.isfinite(raw).sum()) > 0
    assert np.all(np.diff(lat) >= 0) and np.all(np.isfinite(lat))


def test_a_graph_run_is_its_jobs_then_its_stages_dashed(graphs: SimResult) -> None:
    (jobs, stages) = latency_series(graphs)
    assert (jobs[0], jobs[2]) == ("cost_model (jobs)", "-")
    assert (stages[0], stages[2]) == ("cost_model (stages)", "--")
    np.testing.assert_array_equal(jobs[1], job_latencies(graphs))
    # Three stages a job in this scenario, every one done in 3 s.
    assert stages[1].size == 3 * jobs[1].size


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (0.1234, "%", "12.3 %"),
        (0.0, "%", "0.0 %"),
        (0.01234, "ms", "12.3"),
        (2_345_678.0, "MB", "2.35"),
        (12_345_678_900.0, "MB", "12,345.68"),
        (1234, "{:,}", "1,234"),
        (3.14159, "{:.2f}", "3.14"),
        (1234.56, "{:,.1f}", "1,234.6"),
    ],
)
def test_cells_are_formatted_by_kind(value: float, fmt: str, text: str) -> None:
    assert _cell({"x": value}, "x", fmt) == text


def test_a_missing_value_or_path_is_a_dash() -> None:
    assert _cell({"x": None}, "x", "%") == "–"
    assert _cell({}, "latency_s.p95", "ms") == "–"
    assert _cell({"latency_s": 0.5}, "latency_s.p95", "ms") == "–"  # not a dict
    assert _cell({"latency_s": {"p95": 0.25}}, "latency_s.p95", "ms") == "250.0"


def test_plain_summaries_get_task_rows(plain: SimResult) -> None:
    labels = [label for label, _, _ in _rows([summarize(plain)])]
    assert labels[:3] == ["tasks", "done", "mean latency (ms)"]
    assert "jobs" not in labels and len(labels) == 16


def test_graph_summaries_get_job_rows_first_and_stage_labels(
    plain: SimResult, graphs: SimResult
) -> None:
    rows = _rows([summarize(plain), summarize(graphs)])  # one with jobs is enough
    labels = [label for label, _, _ in rows]
    assert labels[:6] == [
        "jobs",
        "jobs done",
        "job p50 latency (ms)",
        "job p95 latency (ms)",
        "job deadline miss rate",
        "stages",
    ]
    assert "stages offloaded" in labels and "offload share" not in labels
    assert "device energy (J)" in labels  # rows without a stage label keep theirs
    assert len(labels) == 5 + 16
    jobs = summarize(graphs)
    assert _cell(jobs, "jobs.jobs", "{:,}") == f"{jobs['jobs']['jobs']:,}"


def test_write_report_writes_every_plot_and_a_page(plain: SimResult, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    page = write_report([plain], tmp_path / "out")
    assert page == tmp_path / "out" / "report.html"
    for name in PLOTS:
        assert (tmp_path / "out" / f"{name}.png").stat().st_size > 0
    text = page.read_text()
    assert "<title>small</title>" in text and "<th>cost_model</th>" in text
    assert "2 s simulated, seed 1." in text


@pytest.fixture(scope="module")
def three(plain: SimResult) -> list[SimResult]:
    spec = small(duration_s=2.0)
    return [plain, *(run(spec, p, seed=1) for p in ("always_local", "always_edge"))]


@pytest.mark.parametrize("name", [p for p in PLOTS if p != "energy"])
def test_every_line_drawn_is_in_the_legend_and_the_legend_covers_no_line(
    name: str, three: list[SimResult]
) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from edgeoffload.sim import report

    fig = report.DRAW[name](three)
    FigureCanvasAgg(fig).draw()
    (ax,) = fig.axes
    drawn = [line for line in ax.get_lines() if len(line.get_xdata()) > 0]
    (legend,) = fig.legends or [ax.get_legend()]
    named = {text.get_text() for text in legend.get_texts()}
    assert {line.get_label() for line in drawn} <= named, "a line without a legend entry"
    assert len(named) == len(drawn)
    renderer = fig.canvas.get_renderer()
    box, plot = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert not box.overlaps(plot), "the legend lies over the plotting area"
    page = fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0, "legend cut off"
