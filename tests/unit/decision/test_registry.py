"""The policy registry: names, model folders and module paths, for every caller."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.cli import main
from edgeoffload.client.auto import check_policy_name, make_policy
from edgeoffload.decision import registry
from edgeoffload.decision.base import Policy
from edgeoffload.decision.costs import CostWeights
from edgeoffload.decision.features import DeviceState, NodeFeatures, TaskBatch
from edgeoffload.decision.history import HistoryPolicy
from edgeoffload.decision.learned import DEFAULT_MODEL, LearnedPolicy
from edgeoffload.decision.modelfile import ModelFiles
from edgeoffload.decision.online import OnlineCostModel
from edgeoffload.decision.policies import CostModel
from edgeoffload.errors import ConfigError
from edgeoffload.sim.runner import run

from .synthetic import synthetic_labelled
from .test_cli import TINY

NODES = NodeFeatures(("a",), *(np.array([v]) for v in (3e9, 8, 0.0, 0.1, 2e6, 8e6, 0.03)))


def decide(policy: Policy) -> int:
    d = policy.decide(TaskBatch.of(cpu_cycles=2e9, input_bytes=1e4), DeviceState(1e9), NODES)
    return int(d.target[0])


@pytest.mark.parametrize("name", [n for n, v in registry.NAMED.items() if v.make is not None])
def test_every_buildable_name_resolves_to_a_fresh_policy_of_that_name(name: str) -> None:
    policy = registry.resolve(name)
    assert policy.name == name
    assert decide(policy) in (-1, 0)
    registry.check(name)
    assert registry.resolve(name) is not policy


def test_auto_is_the_shipped_learned_model() -> None:
    policy = registry.resolve("auto")
    assert isinstance(policy, LearnedPolicy)
    assert policy.scorer.folder == DEFAULT_MODEL
    assert "auto" in registry.names()


@pytest.mark.parametrize("name", ["gbdt", "learned_lstm"])
def test_model_kinds_without_a_shipped_model_ask_for_a_folder(name: str) -> None:
    assert name in registry.names()
    with pytest.raises(ConfigError, match="give its model folder"):
        registry.check(name)


def test_an_unknown_name_lists_the_known_ones_and_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        registry.resolve("cost_modle")
    message = str(info.value)
    assert "unknown policy 'cost_modle'" in message
    assert "did you mean 'cost_model'?" in message
    for name in registry.names():
        assert name in message
    with pytest.raises(ConfigError, match="unknown policy 'psychic': known"):
        registry.check("psychic")


def test_a_model_folder_resolves_by_its_kind(tmp_path: Path) -> None:
    policy = registry.resolve(str(DEFAULT_MODEL))
    assert isinstance(policy, LearnedPolicy)
    assert policy.name == "learned"
    assert decide(policy) == decide(registry.resolve("learned"))
    assert isinstance(registry.resolve(DEFAULT_MODEL), LearnedPolicy)  # a Path too
    with pytest.raises(ConfigError, match="model folder not found"):
        registry.check(str(tmp_path / "none"))
    with pytest.raises(ConfigError, match="model folder not found"):
        registry.check("./none")
    with pytest.raises(ConfigError, match="no readable meta"):
        registry.check(tmp_path)
    ModelFiles("bandwidth_gru").save(tmp_path / "bw")
    with pytest.raises(ConfigError, match="'bandwidth_gru' model, not a policy"):
        registry.check(str(tmp_path / "bw"))


def test_check_reads_only_the_metadata(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps({"kind": "policy_mlp"}))
    registry.check(tmp_path)  # no weights: fine to check, not to build
    with pytest.raises(ConfigError):
        registry.resolve(tmp_path)


def test_trained_folders_resolve_to_their_kind(tmp_path: Path) -> None:
    from edgeoffload.decision.train.policy import FitConfig, fit_gbdt, fit_lstm

    data = synthetic_labelled(300, 1, seed=1)
    for kind, fit, config in (
        ("lstm", fit_lstm, FitConfig(epochs=1)),
        ("gbdt", fit_gbdt, FitConfig(gbdt_iterations=5)),
    ):
        fitted = fit(data, CostWeights(), config)
        fitted.files.save(tmp_path / kind, fitted.onnx)
    lstm = registry.resolve(str(tmp_path / "lstm"))
    assert isinstance(lstm, HistoryPolicy)
    assert lstm.name == "learned_lstm"
    trees = registry.resolve(str(tmp_path / "gbdt"))
    assert isinstance(trees, LearnedPolicy)
    assert trees.name == "gbdt"
    assert decide(trees) in (-1, 0)


def test_module_paths() -> None:
    assert isinstance(registry.resolve("edgeoffload.decision.policies:CostModel"), CostModel)
    with pytest.raises(ConfigError, match="cannot import"):
        registry.resolve("edgeoffload.nowhere:CostModel")
    with pytest.raises(ConfigError, match="has no decide"):
        registry.resolve("edgeoffload.decision.costs:CostWeights")


def test_the_client_resolves_through_the_registry() -> None:
    check_policy_name(str(DEFAULT_MODEL))
    assert isinstance(make_policy(str(DEFAULT_MODEL)), LearnedPolicy)
    assert isinstance(make_policy("online"), OnlineCostModel)
    assert isinstance(make_policy("auto"), LearnedPolicy)
    with pytest.raises(ConfigError, match="did you mean 'online'"):
        check_policy_name("onlin")


def test_the_simulator_runs_a_model_folder(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    by_folder = run(str(scenario), str(DEFAULT_MODEL), seed=3)
    by_name = run(str(scenario), "learned", seed=3)
    assert by_folder.policy == "learned"
    np.testing.assert_array_equal(by_folder.records["target"], by_name.records["target"])


def test_sim_list_shows_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "list"]) == 0
    out = capsys.readouterr().out.split("policies:")[1]
    for name in registry.names():
        assert f"  {name} " in out
    assert "DIR" in out


def test_a_bad_policy_is_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from edgeoffload.cli import demo

    def no_nodes(log_path: str) -> None:
        raise AssertionError("a node was started")

    monkeypatch.setattr(demo, "_start_node", no_nodes)
    assert main(["demo", "--policy", "psychic"]) == 2
    assert "unknown policy 'psychic'" in capsys.readouterr().err
    assert main(["demo", "--policy", str(tmp_path / "none")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    # evaluate: before the first simulated record.
    monkeypatch.setattr("edgeoffload.cli.evaluate.evaluate_sets", no_nodes)
    assert main(["evaluate", "--model", str(DEFAULT_MODEL), "--behaviour", "psychic"]) == 2
    assert "unknown policy 'psychic'" in capsys.readouterr().err
