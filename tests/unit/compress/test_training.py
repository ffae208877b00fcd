"""The training loop and the ONNX export (torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from torch.nn import functional as F

from edgeoffload.compress.training import INPUT_NAME, OUTPUT_NAME, export_onnx, fit
from edgeoffload.models.runtime import OnnxModel


def regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    return x, y


def weights(module: torch.nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in module.parameters()]


def fresh(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1)


def test_fit_lowers_the_loss_and_returns_eval_mode() -> None:
    x, y = regression_data()
    module = fresh()
    before = F.mse_loss(module(torch.from_numpy(x)), torch.from_numpy(y)).item()
    fitted = fit(module, x, y, F.mse_loss, epochs=3, lr=0.2)
    assert fitted is module and not fitted.training
    with torch.no_grad():
        after = F.mse_loss(fitted(torch.from_numpy(x)), torch.from_numpy(y)).item()
    assert after < 0.2 * before


def test_fit_is_seeded() -> None:
    x, y = regression_data()
    a = weights(fit(fresh(), x, y, F.mse_loss, epochs=2, seed=1))
    b = weights(fit(fresh(), x, y, F.mse_loss, epochs=2, seed=1))
    c = weights(fit(fresh(), x, y, F.mse_loss, epochs=2, seed=2))
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c, strict=True))


def test_fit_restores_torchs_thread_count() -> None:
    x, y = regression_data()
    previous = torch.get_num_threads()
    fit(fresh(), x[:64], y[:64], F.mse_loss, epochs=1, threads=1)
    assert torch.get_num_threads() == previous


def test_zero_epochs_leave_the_weights_alone() -> None:
    x, y = regression_data()
    module = fresh()
    start = weights(module)
    fit(module, x, y, F.mse_loss, epochs=0)
    assert all(np.array_equal(p, q) for p, q in zip(start, weights(module), strict=True))


def test_export_has_fixed_names_a_dynamic_batch_and_the_same_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    x = np.random.default_rng(1).standard_normal((7, 3)).astype(np.float32)
    path = export_onnx(module, x, tmp_path / "sub" / "m.onnx")
    assert path == tmp_path / "sub" / "m.onnx"
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == [INPUT_NAME] == ["x"]
    assert [o.name for o in graph.output] == [OUTPUT_NAME] == ["y"]
    model = OnnxModel(path)
    assert model.input.shape == (None, 3)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.run(x), want, rtol=1e-5, atol=1e-6)
