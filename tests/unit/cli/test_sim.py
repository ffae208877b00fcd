"""cli.sim: the argparse types (refused at parse time), TOML literals for --set, the
PATH=VALUE pairs, the printed table (plain and task-graph), `sim list`, and `sim run`
/ `sim compare` on a tiny stress run: the files written, the folder removed when a
policy name is refused before any run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.cli.sim import _literal, _make_folder, _pairs, _positive_int, _seeds, table_rows
from edgeoffload.errors import ConfigError


def test_positive_int() -> None:
    assert _positive_int("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be >= 1, got 0"):
        _positive_int("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer, got 'x'"):
        _positive_int("x")


def test_seeds() -> None:
    assert _seeds("0, 1,2,") == [0, 1, 2]
    with pytest.raises(argparse.ArgumentTypeError, match="expected seeds like 101,201 or 101-105"):
        _seeds("1,a")
    with pytest.raises(argparse.ArgumentTypeError, match="expected at least one seed, got ','"):
        _seeds(",")


def test_bad_seeds_are_refused_at_parse_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", "sweep", "stress", "--seeds", "a"])
    assert exc.value.code == 2
    assert "argument --seeds: expected seeds like 101,201 or 101-105" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raw", "value"),
    [("50", 50), ("0.5", 0.5), ("true", True), ("[1, 2]", [1, 2]), ("wifi", "wifi"), ("", "")],
)
def test_literal_parses_toml_or_keeps_the_string(raw: str, value: object) -> None:
    assert _literal(raw) == value
    assert type(_literal(raw)) is type(value)


def test_pairs() -> None:
    assert _pairs(["a.b = 1", "c=x=y"], "--set") == {"a.b": "1", "c": "x=y"}
    with pytest.raises(ConfigError, match=r"--grid 'novalue': expected PATH=VALUE"):
        _pairs(["novalue"], "--grid")
    with pytest.raises(ConfigError, match=r"--set '=3': expected PATH=VALUE"):
        _pairs(["=3"], "--set")


def _summary(policy: str, **extra: object) -> dict[str, object]:
    return {
        "policy": policy,
        "tasks": 12345,
        "latency_s": {"p50": 0.0123, "p95": 0.1},
        "deadline_miss_rate": 0.0512,
        "device_energy_j": 1234.56,
        "offload_share": 0.5,
        "node_utilisation": None,
        **extra,
    }


def test_table_rows_plain() -> None:
    headers, rows = table_rows([_summary("cost_model")])
    assert headers == ["policy", "tasks", "p50 ms", "p95 ms", "miss", "energy J", "offload", "util"]
    assert rows == [["cost_model", "12,345", "12.3", "100.0", "5.1%", "1,234.6", "50.0%", "–"]]


def test_table_rows_with_task_graphs_puts_jobs_first() -> None:
    dag = _summary(
        "a",
        jobs={"jobs": 1000, "latency_s": {"p50": 0.2504, "p95": None}, "deadline_miss_rate": 0.1},
    )
    headers, rows = table_rows([dag, _summary("b")])  # one without jobs: zeros and dashes
    assert headers[:6] == ["policy", "jobs", "job p50", "job p95", "job miss", "stages"]
    assert headers[6:] == ["stage p50", "energy J", "offload", "util"]
    assert rows[0] == ["a", "1,000", "250", "–", "10.0%", "12,345", "12.3", "1,234.6", "50.0%", "–"]
    assert rows[1][:5] == ["b", "0", "–", "–", "–"]


def test_list_names_scenarios_and_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bundled scenarios:\n")
    for name in ("stress", "manufacturing", "smart_city", "ultrasound"):
        assert f"\n  {name} " in out
    policies = out.split("policies:\n")[1]
    for name in ("cost_model", "gbdt", "learned_lstm", "online", "always_local"):
        assert f"  {name} " in policies
    assert "  auto           the client's default: " in policies
    assert "module:Name" in policies


def test_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim"])
    assert exc.value.code == 2
    assert "the following arguments are required: SUBCOMMAND" in capsys.readouterr().err


def test_run_writes_records_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["sim", "run", "stress", "--duration", "0.2", "--quiet", "--no-report"]
    argv += ["--out", str(out), "--seed", "3", "--set", "devices[0].count=20"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith(f"written to {out}")
    assert "cost_model" in printed
    assert sorted(p.name for p in out.iterdir()) == ["records.csv", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["scenario"], summary["policy"], summary["seed"]) == ("stress", "cost_model", 3)
    assert summary["duration_s"] == 0.2
    lines = (out / "records.csv").read_text().splitlines()
    assert lines[0].startswith('"task","device","app","job","stage","created_s",')
    assert len(lines) - 1 == summary["tasks"]  # one row per task


def test_compare_writes_one_folder_per_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    argv = ["sim", "compare", "stress", "--duration", "0.1", "--quiet", "--out", str(out)]
    argv += ["--policies", "always_local, always_edge", "--set", "devices[0].count=10"]
    assert main(argv) == 0
    capsys.readouterr()
    assert (out / "always_local" / "summary.json").is_file()
    assert (out / "always_edge" / "records.csv").is_file()
    both = json.loads((out / "summary.json").read_text())
    assert [s["policy"] for s in both] == ["always_local", "always_edge"]
    assert both[0]["offload_share"] == 0.0
    assert both[1]["offload_share"] > 0.9


def test_unknown_policy_is_refused_and_leaves_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new"
    assert main(["sim", "run", "stress", "--policy", "nope", "--quiet", "--out", str(out)]) == 2
    assert "configuration error: unknown policy 'nope'" in capsys.readouterr().err
    assert not out.exists()


def test_existing_folder_is_kept_when_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "sweep", "stress", "--policies", "nope", "--out", str(tmp_path)]) == 2
    capsys.readouterr()
    assert tmp_path.is_dir()


def test_bad_set_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "run", "stress", "--set", "oops"]) == 2
    assert capsys.readouterr().err == (
        "edgeoffload sim: configuration error: --set 'oops': expected PATH=VALUE\n"
    )


def test_make_folder_under_a_file_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=rf"--out {blocker}/x: cannot create the folder: "):
        _make_folder(blocker / "x")


def test_sweep_runs_every_point_and_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    argv = ["sim", "sweep", "stress", "--duration", "0.05", "--quiet", "--out", str(out)]
    argv += ["--grid", "devices[0].count=5,10", "--seeds", "1,2", "--workers", "1"]
    assert main(argv) == 0
    written = ", ".join(str(out / f) for f in ("sweep.json", "sweep.csv", "sweep.html"))
    assert capsys.readouterr().out.rstrip().endswith(f"written to {written}")
    results = json.loads((out / "sweep.json").read_text())
    points = sorted((r["overrides"]["devices[0].count"], r["seed"]) for r in results)
    assert points == [(5, 1), (5, 2), (10, 1), (10, 2)]
    assert {r["policy"] for r in results} == {"cost_model"}
    assert all(r["summary"]["duration_s"] == 0.05 for r in results)


def test_validate_prints_both_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "validate", "--jobs", "2000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "| queue | lambda | mu | jobs | simulated Wq (s) | theory Wq (s) | error |"
    assert [line.split(" | ")[0] for line in lines[2:5]] == ["| M/M/1", "| M/M/1", "| M/M/4"]
    assert lines[5] == ""
    kumar_lu = lines[8:]
    assert len(kumar_lu) == 5
    # the energy model agrees with the closed form exactly, so every verdict is as predicted
    assert all(line.endswith(", as predicted |") for line in kumar_lu)
    for line in kumar_lu:
        local, offload = line.split(" | ")[2:4]
        assert local.split(" / ")[0] == local.split(" / ")[1]
        assert offload.split(" / ")[0] == offload.split(" / ")[1]


def test_sweep_with_seed_zero_runs_seed_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sw"
    argv = ["sim", "sweep", "stress", "--duration", "0.05", "--quiet", "--out", str(out)]
    assert main([*argv, "--seed", "0"]) == 0
    capsys.readouterr()
    assert [r["seed"] for r in json.loads((out / "sweep.json").read_text())] == [0]


def test_run_with_seed_zero_runs_seed_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    argv = ["sim", "run", "stress", "--duration", "0.05", "--quiet", "--no-report"]
    assert main([*argv, "--seed", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert json.loads((out / "summary.json").read_text())["seed"] == 0


def test_json_prints_the_summaries_alone_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["stress", "--duration", "0.05", "--quiet", "--set", "devices[0].count=5", "--json"]
    assert main(["sim", "run", *base, "--no-report", "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary == json.loads((tmp_path / "r" / "summary.json").read_text())
    assert f"written to {tmp_path / 'r'}" in captured.err
    argv = ["sim", "compare", *base, "--policies", "always_local,always_edge"]
    assert main([*argv, "--out", str(tmp_path / "c")]) == 0
    both = json.loads(capsys.readouterr().out)
    assert [s["policy"] for s in both] == ["always_local", "always_edge"]
    argv = ["sim", "sweep", *base, "--grid", "devices[0].count=5,6", "--workers", "1"]
    assert main([*argv, "--out", str(tmp_path / "s")]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results == json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert len(results) == 2


def test_seeds_take_ranges_too_and_refuse_repeats() -> None:
    assert _seeds("101-103,201") == [101, 102, 103, 201]
    for bad in ("5-3", "1,1", "-2", "1-a"):
        with pytest.raises(argparse.ArgumentTypeError):
            _seeds(bad)
