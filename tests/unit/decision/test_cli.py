"""``edgeoffload train`` and ``evaluate`` end to end on a small scenario, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.decision.learned import LearnedPolicy, Scorer

TINY = """
name: tiny
duration_s: 60
seed: 3
view_interval_s: 0.5
batching: {enabled: false}
apps:
  detect:
    cpu_cycles: {dist: lognormal, median: 1.0e9, sigma: 0.5}
    input_bytes: {dist: lognormal, median: 1.0e5, sigma: 0.7}
    output_bytes: 1000
    deadline_s: 1.0
devices:
  - count: 6
    cpu_hz: 1.5e9
    link: {dataset: pensieve_train, uplink_scale: 2.0, downlink_scale: 4.0, rtt_ms: 30}
    workload:
      - app: detect
        arrivals: {process: poisson, rate_hz: 1.0}
nodes:
  - count: 2
    cores: 4
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_train_then_evaluate(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    code = main(
        [
            "train",
            "--model",
            "mlp",
            "--records",
            "400",
            "--epochs",
            "3",
            "--scenario",
            str(scenario),
            "--out",
            str(model),
        ]
    )
    assert code == 0
    scorer = Scorer(model)
    assert scorer.meta["training_decisions"] == 400
    seeds = scorer.meta["seeds"]  # every seed run: training from 1, validation from 10,001
    assert seeds[0] == 1 and 10_001 in seeds and seeds == sorted(set(seeds))
    assert set(scorer.meta["validation"]) == {"learned", "cost_model"}
    assert LearnedPolicy(scorer).name == "learned"

    out = tmp_path / "eval.json"
    code = main(
        [
            "evaluate",
            "--model",
            str(model),
            "--scenario",
            str(scenario),
            "--records",
            "300",
            "--dataset",
            "nyu_lte",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    assert set(results) >= {
        "learned_mlp",
        "threshold",
        "cost_model",
        "online",
        "always_local",
        "random",
    }
    for per_set in results.values():
        m = per_set["nyu_lte"]
        assert 0.0 <= m["agreement"] <= 1.0
        assert m["regret"] >= -1e-9  # nobody beats the oracle
        assert m["n"] == 300
    assert results["always_local"]["nyu_lte"]["offload_share"] == 0.0
    # The references told the truth about the link (decision.references), last.
    references = [
        f"{p}_{t}" for t in ("true_link", "true_transfers") for p in ("learned_mlp", "cost_model")
    ]
    assert sorted(list(results)[-4:]) == sorted(references)
    assert "| learned_mlp | nyu_lte |" in capsys.readouterr().out


def test_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", str(tmp_path / "none")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert main(["train", "--records", "0", "--out", str(tmp_path / "m")]) == 2
    assert "--records must be >= 1" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path), "--trace", str(tmp_path / "x.txt")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_evaluate_over_seeds_gives_intervals_and_paired_differences(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeoffload.decision.learned import DEFAULT_MODEL

    out = tmp_path / "seeds.json"
    argv = ["evaluate", "--model", str(DEFAULT_MODEL), "--scenario", str(scenario)]
    argv += ["--records", "150", "--dataset", "nyu_lte", "--seeds", "101,201,301"]
    assert main([*argv, "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["seeds"] == [101, 201, 301]
    cost = results["policies"]["cost_model"]["nyu_lte"]
    assert cost["seeds"] == 3 and cost["n"] >= 3 * 150
    low, high = cost["ci95"]["regret"]
    assert low <= cost["regret"] <= high
    assert cost["avoidable_regret"] + cost["unavoidable_regret"] == pytest.approx(cost["regret"])
    d = results["paired"]["cost_model_vs_always_local"]["nyu_lte"]
    assert d["ci95"][0] <= d["mean_diff"] <= d["ci95"][1]
    local = results["policies"]["always_local"]["nyu_lte"]["mean_cost"]
    assert d["mean_diff"] == pytest.approx(cost["mean_cost"] - local)
    assert "paired: mean cost difference" in capsys.readouterr().out
