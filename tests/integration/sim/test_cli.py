"""``edgeoffload sim ...`` as a real process: the bundled scenarios run from the command
line and leave records, summaries and a report; bad input exits 2 naming the problem."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import edgeoffload as _edgeoffload


@pytest.mark.parametrize(
    ("scenario", "duration"),
    [("manufacturing", "30"), ("smart_city", "20"), ("ultrasound", "30"), ("stress", "0.3")],
)
def test_bundled_scenarios_run_and_report(scenario: str, duration: str, tmp_path: Path) -> None:
    out = tmp_path / scenario
    done = edgeoffload("sim", "run", scenario, "--duration", duration, "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == scenario
    assert summary["tasks"] == summary["done"] + summary["dropped"] + summary["failed"] > 0
    lines = (out / "records.csv").read_text().splitlines()
    assert len(lines) == summary["tasks"] + 1
    assert (out / "report.html").exists()
    assert (out / "latency_cdf.png").stat().st_size > 1000
    assert "cost_model" in done.stdout


def test_compare_runs_policies_side_by_side(tmp_path: Path) -> None:
    done = edgeoffload(
        "sim",
        "compare",
        "manufacturing",
        "--policies",
        "always_local,always_edge,cost_model",
        "--duration",
        "20",
        "--out",
        str(tmp_path),
        "--format",
        "parquet",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    summaries = json.loads((tmp_path / "summary.json").read_text())
    assert [s["policy"] for s in summaries] == ["always_local", "always_edge", "cost_model"]
    assert len({s["tasks"] for s in summaries}) == 1  # identical workload
    for policy in ("always_local", "always_edge", "cost_model"):
        assert (tmp_path / policy / "records.parquet").exists()
    assert "always_edge" in (tmp_path / "report.html").read_text()


def test_sweep_over_a_grid(tmp_path: Path) -> None:
    done = edgeoffload(
        "sim",
        "sweep",
        "manufacturing",
        "--grid",
        "devices[0].count=2,4",
        "--grid",
        "batching.enabled=true,false",
        "--duration",
        "10",
        "--seeds",
        "1,2",
        "--workers",
        "2",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "sweep.json").read_text())
    assert len(results) == 8
    results = results[::2]  # seed 1 of each point
    counts = [r["summary"]["tasks"] for r in results]
    assert counts[0] * 2 == counts[2]
    # The table: one column per grid parameter, one row per point and policy over its
    # two seeds, each figure as a mean with its interval.
    header = next(line for line in done.stdout.splitlines() if "policy" in line).split()
    assert header[:4] == ["devices[0].count", "batching.enabled", "policy", "seeds"]
    rows = [
        line.split() for line in done.stdout.splitlines() if line.strip().startswith(("2 ", "4 "))
    ]
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("2", "True", "2"),
        ("2", "False", "2"),
        ("4", "True", "2"),
        ("4", "False", "2"),
    ]
    assert all("±" in r for r in rows)
    with (tmp_path / "sweep.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 4 and table[0]["seeds"] == "2"
    p50s = [
        r["summary"]["latency_s"]["p50"] * 1000
        for r in json.loads((tmp_path / "sweep.json").read_text())[:2]
    ]
    assert float(table[0]["p50_ms_mean"]) == pytest.approx(sum(p50s) / 2)
    assert (
        float(table[0]["p50_ms_ci95_low"])
        <= float(table[0]["p50_ms_mean"])
        <= float(table[0]["p50_ms_ci95_high"])
    )
    page = (tmp_path / "sweep.html").read_text()
    assert "devices[0].count" in page and page.count("<img") == 5
    assert (tmp_path / "sweep_p50_ms.png").stat().st_size > 0
    per_transfer = {
        r["overrides"]["batching.enabled"]: r["summary"]["tasks_per_transfer"] for r in results[:2]
    }
    assert per_transfer[True] > per_transfer[False] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "manufacturing", "--policy", "psychic"], "unknown policy 'psychic'"),
        (["run", "nowhere.yaml"], "no such file"),
        (["run", "manufacturing", "--set", "devices[0].count=0"], "devices[0].count"),
        (["run", "manufacturing", "--set", "devices[0].link.dataset=wifi"], "unknown 'wifi'"),
        (["sweep", "manufacturing", "--grid", "nodes[0].cores"], "expected PATH=VALUE"),
    ],
)
def test_bad_input_exits_2_naming_the_problem(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = edgeoffload("sim", *args, "--out", str(tmp_path), "--quiet")
    assert done.returncode == 2
    assert message in done.stderr


def test_list_names_scenarios_and_policies() -> None:
    done = edgeoffload("sim", "list")
    assert done.returncode == 0
    for name in ("manufacturing", "smart_city", "ultrasound", "stress", "cost_model"):
        assert name in done.stdout


def test_validate_prints_the_theory_tables() -> None:
    done = edgeoffload("sim", "validate", "--jobs", "20000")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("| M/M/") == 3
    assert done.stdout.count("as predicted") == 5
    assert "NOT as predicted" not in done.stdout


def edgeoffload(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return _edgeoffload(*args, timeout=timeout)
