"""Learned policies: training on labelled decisions, the model folder, the fast paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision import learned
from edgeoffload.decision.costs import CostWeights
from edgeoffload.decision.evaluation import Labelled, evaluate_policy
from edgeoffload.decision.features import (
    TASK_FEATURES,
    Context,
    DeviceState,
    NodeFeatures,
    PowerModel,
    TaskBatch,
)
from edgeoffload.decision.learned import (
    LearnedPolicy,
    Scorer,
    ThresholdPolicy,
    option_features,
    option_features_one,
)
from edgeoffload.decision.modelfile import ModelFiles
from edgeoffload.decision.policies import CostModel
from edgeoffload.decision.registry import resolve
from edgeoffload.decision.train.policy import FitConfig, fit_gbdt, fit_mlp
from edgeoffload.errors import ConfigError

from .synthetic import random_context, synthetic_labelled

WEIGHTS = CostWeights()


def objects(ctx: Context, i: int) -> tuple[TaskBatch, DeviceState, NodeFeatures]:
    """Row ``i`` of a Context as the client's objects."""
    t, d, nd = ctx.tasks[i], ctx.device[i], ctx.nodes[i]
    tasks = TaskBatch(*(np.array([v]) for v in t))
    device = DeviceState(d[0], d[1], d[2], PowerModel(d[3], d[4], d[5], d[6]), d[7], d[8])
    nodes = NodeFeatures(
        tuple(f"n{j}" for j in range(len(nd))), *(nd[:, c].copy() for c in range(7))
    )
    return tasks, device, nodes


@pytest.fixture(scope="module")
def mlp_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fitted = fit_mlp(synthetic_labelled(4000, 3, seed=1), WEIGHTS, FitConfig(epochs=25))
    folder = tmp_path_factory.mktemp("mlp")
    fitted.files.save(folder, fitted.onnx)
    return folder


def test_learns_the_oracle_of_a_world_without_surprises(mlp_folder: Path) -> None:
    held_out = synthetic_labelled(3000, 3, seed=99)
    policy = LearnedPolicy(Scorer(mlp_folder))
    result = evaluate_policy(held_out, policy.decide_context, WEIGHTS)
    assert result["agreement"] >= 0.95
    assert result["regret"] <= 0.05


def test_the_model_folder_holds_what_a_runtime_needs(mlp_folder: Path) -> None:
    files = ModelFiles.load(mlp_folder, "policy_mlp")
    assert files.meta["features"] == list(learned.OPTION_FEATURES)
    assert files.meta["cost"] == {"latency_weight": 0.5, "deadline_penalty": 10.0}
    assert files.meta["package_version"]
    assert {"scaler.mean", "scaler.scale", "mlp.w0"} <= set(files.arrays)
    assert (mlp_folder / "model.onnx").stat().st_size > 0


def awkward_context(n: int, k: int, seed: int) -> Context:
    """:func:`random_context` with absent candidates, passed deadlines and backlogs."""
    ctx = random_context(n, k, seed=seed)
    tasks, device, nodes = ctx.tasks.copy(), ctx.device.copy(), ctx.nodes.copy()
    if k:
        nodes[::7, 0] = np.nan  # some rows with an absent candidate
        nodes[::9, :] = np.nan  # and some with none at all
    tasks[::11, 5] = -0.5  # a late resubmission
    rng = np.random.default_rng(seed)
    device[:, 7] = rng.exponential(0.1, n)
    device[:, 8] = rng.exponential(0.1, n)
    return Context(tasks, device, nodes)


def test_single_task_fast_path_matches_the_batch_path(mlp_folder: Path) -> None:
    ctx = awkward_context(300, 3, seed=5)
    policy = LearnedPolicy(Scorer(mlp_folder))
    batch = policy.decide_context(ctx)
    x, available, _, _ = option_features(ctx, WEIGHTS)
    for i in range(0, 300, 11):
        rows, cost, _, _ = option_features_one(*objects(ctx, i), WEIGHTS)
        np.testing.assert_allclose(np.reshape(rows, x[i].shape), x[i], rtol=1e-9, atol=1e-12)
        assert [c != np.inf for c in cost] == (available[i] > 0).tolist()
        one = policy.decide(*objects(ctx, i))
        assert one.target[0] == batch.target[i]
        assert one.confidence[0] == pytest.approx(batch.confidence[i], rel=1e-4)
        cm_one = CostModel().decide(*objects(ctx, i))
        cm_batch = CostModel().decide_context(ctx.rows(slice(i, i + 1)))
        assert cm_one.target[0] == cm_batch.target[0]
        assert cm_one.confidence[0] == pytest.approx(cm_batch.confidence[0])


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_fast_paths_decide_as_the_batch_path_on_random_inputs(k: int) -> None:
    """The shipped model (inputs clipped to its bounds): one task in plain floats and a
    float64 network, and a decide() batch (device and nodes shared, features written
    in float32) against the Context path that evaluation and training use."""
    policy = resolve("learned")
    assert isinstance(policy, LearnedPolicy)
    ctx = awkward_context(400, k, seed=10 + k)
    batch = policy.decide_context(ctx)
    for i in range(400):
        one = policy.decide(*objects(ctx, i))
        assert one.target[0] == batch.target[i]
        assert one.confidence[0] == pytest.approx(batch.confidence[i], rel=1e-5, abs=1e-6)
        assert one.expected_latency_s[0] == pytest.approx(batch.expected_latency_s[i], rel=1e-12)
        assert one.expected_energy_j[0] == pytest.approx(batch.expected_energy_j[i], rel=1e-12)
    # Rows sharing one device and one set of nodes, as the client's decide() batches.
    shared = Context(ctx.tasks, ctx.device[:1].repeat(400, 0), ctx.nodes[:1].repeat(400, 0))
    _, device, nodes = objects(shared, 0)
    tasks = TaskBatch(*(ctx.tasks[:, j].copy() for j in range(7)))
    for n in (400, 20):  # onnxruntime and numpy
        got = policy.decide(
            TaskBatch(*(getattr(tasks, f)[:n] for f in TASK_FEATURES)), device, nodes
        )
        want = policy.decide_context(shared.rows(slice(0, n)))
        for field in ("target", "confidence", "expected_latency_s", "expected_energy_j"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


def test_batch_scores_are_the_scores_of_the_clipped_features() -> None:
    scorer = learned.load_scorer()
    for n, forward in ((10, scorer.numpy_scores), (400, scorer.onnx_scores)):
        assert (n * 4 < learned.ONNX_FROM_ROWS) == (forward == scorer.numpy_scores)
        x, _, _, _ = option_features(awkward_context(n, 3, seed=n), WEIGHTS)
        np.testing.assert_array_equal(scorer.scores(x), forward(scorer.clip(x)))


def test_numpy_and_onnxruntime_score_alike(mlp_folder: Path) -> None:
    x, _, _, _ = option_features(random_context(500, 3, seed=6), WEIGHTS)
    scorer = Scorer(mlp_folder)
    np.testing.assert_allclose(scorer.numpy_scores(x), scorer.onnx_scores(x), rtol=1e-3, atol=1e-3)


def test_threshold_policy_offloads_only_when_confident(mlp_folder: Path) -> None:
    ctx = random_context(400, 3, seed=8)
    base = LearnedPolicy(Scorer(mlp_folder))
    never = ThresholdPolicy(base, threshold=1.0).decide_context(ctx)
    assert (never.target == -1).all()
    seed_rule = ThresholdPolicy(base).decide_context(ctx)
    prob, _, _ = base.probabilities(ctx)
    offload = seed_rule.target >= 0
    assert ((1 - prob[:, 0]) > 0.7).tolist() == offload.tolist()
    assert (seed_rule.confidence[offload] > 0.7).all()


def test_gradient_boosting_baseline(tmp_path: Path) -> None:
    fitted = fit_gbdt(synthetic_labelled(1500, 2, seed=2), WEIGHTS, FitConfig(gbdt_iterations=40))
    fitted.files.save(tmp_path, fitted.onnx)
    policy = LearnedPolicy(Scorer(tmp_path))
    result = evaluate_policy(synthetic_labelled(1000, 2, seed=3), policy.decide_context, WEIGHTS)
    assert result["agreement"] >= 0.9


def test_bad_inputs_are_config_errors(mlp_folder: Path, tmp_path: Path) -> None:
    scorer = Scorer(mlp_folder)
    with pytest.raises(ConfigError, match="features per option"):
        scorer.scores(np.zeros((2, 3, 5)))
    files = ModelFiles.load(mlp_folder)
    files.meta["features"] = ["cpu_cycles"]
    files.save(tmp_path / "old")
    with pytest.raises(ConfigError, match="retrain"):
        Scorer(tmp_path / "old")
    ModelFiles("bandwidth_gru").save(tmp_path / "bw")
    with pytest.raises(ConfigError, match="bandwidth_gru"):
        Scorer(tmp_path / "bw")


def test_the_shipped_model_is_the_default_policy() -> None:
    for name in ("learned", "threshold"):
        policy = resolve(name)
        tasks = TaskBatch.of(cpu_cycles=[1e9, 5e9], input_bytes=[1e4, 1e6], deadline_s=[1.0, 8.0])
        nodes = NodeFeatures(("a",), *(np.array([v]) for v in (3e9, 8, 0.0, 0.1, 2e6, 8e6, 0.03)))
        d = policy.decide(tasks, DeviceState(1.5e9), nodes)
        assert len(d) == 2
        assert policy.name == name
    meta = ModelFiles.load(learned.DEFAULT_MODEL).meta
    assert meta["training_decisions"] >= 100_000
    assert meta["dataset"] == "pensieve_train"


def test_labelled_sets_concatenate_with_padding() -> None:
    a, b = synthetic_labelled(10, 2, seed=1), synthetic_labelled(5, 3, seed=2)
    both = Labelled.concat([a, b])
    assert len(both) == 15
    assert both.ctx.nodes.shape == (15, 3, 7)
    assert np.isnan(both.ctx.nodes[:10, 2]).all()
    assert np.isnan(both.latency_s[:10, 3]).all()
    assert (both.node_index[:10, 2] == -1).all()


def test_pca_projection_is_folded_into_the_saved_network(tmp_path: Path) -> None:
    fitted = fit_mlp(
        synthetic_labelled(1500, 2, seed=4), WEIGHTS, FitConfig(epochs=4, pca_components=6)
    )
    fitted.files.save(tmp_path, fitted.onnx)
    assert 0.0 < fitted.files.meta["pca_explained_variance"] <= 1.0
    scorer = Scorer(tmp_path)
    assert scorer.mlp is not None
    assert scorer.mlp.weights[0].shape == (len(learned.OPTION_FEATURES), 32)
    x, _, _, _ = option_features(random_context(300, 2, seed=6), WEIGHTS)
    np.testing.assert_allclose(scorer.numpy_scores(x), scorer.onnx_scores(x), rtol=1e-3, atol=1e-3)
