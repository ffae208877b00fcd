"""The LSTM policy: history windows from records, the same history online, the network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.decision.costs import CostWeights
from edgeoffload.decision.evaluation import Labelled
from edgeoffload.decision.features import Context, DeviceState, NodeFeatures, TaskBatch
from edgeoffload.decision.history import (
    STEPS,
    HistoryPolicy,
    HistoryScorer,
    context_vectors,
    evaluate_history,
    history_windows,
)
from edgeoffload.decision.nn import Lstm
from edgeoffload.decision.train.policy import FitConfig, fit_lstm
from edgeoffload.errors import ConfigError

from .synthetic import random_context, synthetic_labelled


def test_windows_hold_the_same_devices_earlier_calls() -> None:
    ctx = random_context(6, 2, seed=1)
    device = np.array([0, 1, 0, 0, 1, 0])
    created = np.array([0.0, 0.0, 1.0, 1.0, 2.0, 3.0])  # rows 2 and 3: one call
    windows = history_windows(ctx, device, created)
    assert not windows[0].any() and not windows[1].any()  # first calls: no history
    calls0 = context_vectors(ctx.rows(np.array([0, 2, 5])), np.array([10.0, 1.0, 2.0]))
    np.testing.assert_allclose(windows[2, -1], calls0[0])
    np.testing.assert_array_equal(windows[2], windows[3])  # same call, same history
    np.testing.assert_allclose(windows[5, -2:], calls0[:2])
    assert not windows[5, : STEPS - 2].any()
    assert not windows[4, :-1].any()  # device 1 has had one earlier call


def test_numpy_lstm_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.LSTM(3, 5, batch_first=True)
    x = np.random.default_rng(0).normal(size=(4, 6, 3))
    out, _ = net(torch.as_tensor(x, dtype=torch.float32))
    sd = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
    ours = Lstm(sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"])(x)
    np.testing.assert_allclose(ours, out[:, -1].detach().numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def lstm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = synthetic_labelled(3000, 3, seed=1)
    labelled = Labelled(
        data.ctx,
        data.latency_s,
        data.energy_j,
        data.node_index,
        np.arange(3000) % 20,
        data.created_s,
    )
    fitted = fit_lstm(labelled, CostWeights(), FitConfig(epochs=15))
    folder = tmp_path_factory.mktemp("lstm")
    fitted.files.save(folder, fitted.onnx)
    return folder


def test_lstm_policy_learns_and_decides_online(lstm_folder: Path) -> None:
    held = synthetic_labelled(1500, 3, seed=9)
    held = Labelled(
        held.ctx,
        held.latency_s,
        held.energy_j,
        held.node_index,
        np.arange(1500) % 20,
        held.created_s,
    )
    scorer = HistoryScorer(lstm_folder)
    assert evaluate_history(held, HistoryPolicy(scorer), CostWeights())["agreement"] >= 0.9
    # Online: the policy builds the same history the records give.
    policy = HistoryPolicy(scorer)
    ctx = random_context(3, 2, seed=4)
    for i in range(3):
        t, d, nd = ctx.tasks[i], ctx.device[i], ctx.nodes[i]
        tasks = TaskBatch(*(np.array([v]) for v in t))
        device = DeviceState(d[0], d[1], d[2])
        nodes = NodeFeatures(("a", "b"), *(nd[:, c].copy() for c in range(7)))
        online = policy.decide(tasks, device, nodes, now_s=float(i))
    offline = policy.decide_with_history(
        Context(ctx.tasks[2:], ctx.device[2:], ctx.nodes[2:]),
        history_windows(ctx, np.zeros(3, dtype=np.int64), np.arange(3.0))[2:],
    )
    assert online.target[0] == offline.target[0]
    assert online.confidence[0] == pytest.approx(offline.confidence[0])


def test_an_mlp_folder_is_not_an_lstm_policy(tmp_path: Path) -> None:
    from edgeoffload.decision.modelfile import ModelFiles

    ModelFiles("policy_mlp", {}, {}).save(tmp_path)
    with pytest.raises(ConfigError, match="policy_mlp"):
        HistoryScorer(tmp_path)
