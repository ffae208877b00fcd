"""cli.evaluate: the sets to score (datasets, trace files told apart by path when their
names collide, duplicates and missing files refused, the held-out default), the
markdown table, and the refusals that come before the first simulated record."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.cli.evaluate import BASELINES, HELD_OUT, table, trace_sets
from edgeoffload.errors import ConfigError


def test_default_sets_are_the_held_out_datasets() -> None:
    assert trace_sets([], []) == [(d, d, None) for d in HELD_OUT]


def test_datasets_then_trace_files_by_name(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("0 1\n")
    assert trace_sets(["nyu_lte"], [str(a)]) == [
        ("nyu_lte", "nyu_lte", None),
        ("a.txt", None, str(a)),
    ]


def test_two_trace_files_of_one_name_are_told_apart_by_path(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    one, two = tmp_path / "x" / "t.txt", tmp_path / "y" / "t.txt"
    one.write_text("0 1\n")
    two.write_text("0 2\n")
    sets = trace_sets([], [str(one), str(two)])
    assert sets == [(str(one), None, str(one)), (str(two), None, str(two))]


def test_a_set_given_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--trace/--dataset: a set is given twice$"):
        trace_sets(["ghent_4g", "ghent_4g"], [])
    t = tmp_path / "t"
    t.write_text("0 1\n")
    with pytest.raises(ConfigError, match="given twice"):
        trace_sets([], [str(t), str(t)])


def test_a_missing_trace_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "none.txt"
    with pytest.raises(ConfigError, match=rf"^--trace {missing}: no such file$"):
        trace_sets([], [str(missing)])


def test_table_one_row_per_policy_and_set() -> None:
    m = {"agreement": 0.91234, "regret": 0.0456, "deadline_miss": 0.001, "energy_j": 0.12345}
    results = {
        "learned_mlp": {"ghent_4g": m | {"offload_share": 0.5}},
        "random": {"ghent_4g": m | {"offload_share": 0.25}, "nyu_lte": m | {"offload_share": 1.0}},
    }
    lines = table(results).splitlines()
    assert lines[0] == (
        "| policy | traces | agreement | regret | deadline miss | energy J/task | offloaded |"
    )
    assert lines[1] == "|---|---|---:|---:|---:|---:|---:|"
    assert lines[2] == "| learned_mlp | ghent_4g | 91.23% | 4.6% | 0.10% | 0.123 | 50.0% |"
    assert lines[3:] == [
        "| random | ghent_4g | 91.23% | 4.6% | 0.10% | 0.123 | 25.0% |",
        "| random | nyu_lte | 91.23% | 4.6% | 0.10% | 0.123 | 100.0% |",
    ]


def test_baselines_include_the_cost_model_and_online() -> None:
    assert BASELINES[0] == "cost_model"
    assert "online" in BASELINES


def test_records_below_one_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", "m", "--records", "0"]) == 2
    assert capsys.readouterr().err == (
        "edgeoffload evaluate: configuration error: --records must be >= 1, got 0\n"
    )


def test_a_folder_that_is_not_a_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--model", str(tmp_path), "--records", "10"]) == 2
    assert capsys.readouterr().err.startswith(
        f"edgeoffload evaluate: configuration error: policy model {tmp_path}: "
        "no readable meta.json ("
    )


def test_a_malformed_trace_file_is_refused_before_any_simulation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgeoffload.cli.evaluate as evaluate
    import edgeoffload.decision.registry as registry

    monkeypatch.setattr(registry, "check", lambda name: None)  # any model passes
    monkeypatch.setattr(registry, "resolve", lambda name: None)
    monkeypatch.setattr(evaluate, "evaluate_sets", pytest.fail)
    bad = tmp_path / "bad.txt"
    bad.write_text("zero one\n")
    assert main(["evaluate", "--model", "m", "--trace", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload evaluate: configuration error: trace file {bad}: line 1 is 'zero one': "
        "expected two columns per line, seconds and Mbit/s, separated by spaces, no header\n"
    )


def test_a_training_seed_is_refused_before_any_simulation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15/16: ``evaluate --seed 1`` scored the shipped policy on a world it was
    trained on, without a word."""
    import edgeoffload.cli.evaluate as evaluate
    from edgeoffload.decision.learned import DEFAULT_MODEL as model

    monkeypatch.setattr(evaluate, "evaluate_sets", pytest.fail)
    assert main(["evaluate", "--model", str(model), "--seed", "1", "--records", "10"]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload evaluate: configuration error: --seed: simulation seed 1 is one {model} "
        "was trained on (seeds 1, 2, 3, 4, 5, 10001); evaluate on others, e.g. --seed 101\n"
    )


def test_a_training_seed_reached_later_stops_the_records(tmp_path: Path) -> None:
    """Seeds run one after another until the records are reached: one of them may be a
    training seed too; the guard stops the run there."""
    import json
    import shutil

    from edgeoffload.cli.evaluate import seed_guard
    from edgeoffload.cli.train import DEFAULT_SCENARIO, make_records
    from edgeoffload.decision.learned import DEFAULT_MODEL

    folder = tmp_path / "m"
    shutil.copytree(DEFAULT_MODEL, folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "seeds": [3, 4, 10003]}))
    guard = seed_guard(folder)
    guard(2)  # not a training seed: passes
    with pytest.raises(ConfigError, match=r"seed 4 is one .* \(seeds 3, 4, 10003\)"):
        guard(4)
    used: list[int] = []
    with pytest.raises(ConfigError, match="simulation seed 3 is one"):
        make_records(DEFAULT_SCENARIO, 10**9, seed=3, refuse=guard, used=used, progress=False)
    assert used == []  # refused before simulating


def test_evaluation_seeds_that_would_share_a_simulation_seed_are_refused() -> None:
    from edgeoffload.cli.evaluate import independent

    seen: list[int] = []
    guard = independent(seen.append)
    first, second = guard(101), guard(102)
    first(101)
    first(102)  # seed 101 needed two runs: 101 and 102
    first(101)  # the same evaluation seed on its next trace set: fine
    with pytest.raises(ConfigError, match="seeds 101 and 102 would both run simulation seed 102"):
        second(102)
    assert seen == [101, 102, 101, 102]  # training seeds are asked first, every time


def test_seeds_table_shows_intervals_and_paired_verdicts() -> None:
    from edgeoffload.cli.evaluate import seeds_table

    def row(cost: float) -> dict[str, object]:
        metrics = (
            "agreement",
            "regret",
            "avoidable_regret",
            "unavoidable_regret",
            "trimmed_regret",
            "deadline_miss",
            "energy_j",
            "mean_cost",
        )
        values = {m: 0.5 for m in metrics} | {"mean_cost": cost}
        return values | {"ci95": {m: [v - 0.1, v + 0.1] for m, v in values.items()}}

    policies = {"learned": {"g": row(1.0)}, "cost_model": {"g": row(1.2)}}
    paired = {"learned_vs_cost_model": {"g": {"mean_diff": -0.2, "ci95": [-0.3, -0.1]}}}
    text = seeds_table(policies, paired, [101, 201])
    assert text.splitlines()[0].startswith("over seeds 101, 201")
    assert "| learned | g | 50.0 ± 10.0 % |" in text
    assert "| learned − cost_model | g | -0.2000 | [-0.3000, -0.1000] | lower |" in text
