"""Distillation, training and export (torch)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeoffload.compress.arch import parse_arch
from edgeoffload.compress.data import Dataset
from edgeoffload.compress.distill import DistillSettings, Student, distill, teacher_logits
from edgeoffload.compress.training import export_onnx, load_torch_model, torch_to_onnx
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import OnnxModel


def test_a_student_keeps_95_percent_of_its_teacher(
    cnn: Path, digits8: tuple[Dataset, Dataset], tmp_path: Path
) -> None:
    train, test = digits8
    teacher = OnnxModel(cnn)
    student = distill(teacher, parse_arch("mlp:64"), train, DistillSettings(epochs=8))
    path = export_onnx(student, train.x, tmp_path / "student.onnx")
    ours = float((OnnxModel(path).predict(test.x) == test.y).mean())
    theirs = float((teacher.predict(test.x) == test.y).mean())
    assert ours >= 0.95 * theirs
    # The exported file computes what the torch module computes.
    with torch.no_grad():
        expected = student(torch.from_numpy(test.x[:5])).numpy()
    np.testing.assert_allclose(OnnxModel(path).run(test.x[:5]), expected, atol=1e-4)


def test_a_cnn_student_needs_image_inputs() -> None:
    with pytest.raises(ConfigError, match="a cnn needs inputs"):
        Student(parse_arch("cnn:4"), np.zeros((5, 64), np.float32), 10)


def test_probabilities_from_the_teacher_become_log_probabilities(tmp_path: Path) -> None:
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softmax(dim=1))
    path = export_onnx(module, np.zeros((1, 3), np.float32), tmp_path / "p.onnx")
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    logits = teacher_logits(OnnxModel(path), x)
    np.testing.assert_allclose(np.exp(logits).sum(axis=1), 1.0, atol=1e-5)
    assert (logits <= 0).all()


def test_pytorch_files_are_loaded_or_refused(tmp_path: Path) -> None:
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    torch.save(module, tmp_path / "whole.pt")
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    out = torch_to_onnx(
        tmp_path / "whole.pt", np.zeros((1, 1, 8, 8), np.float32), tmp_path / "m.onnx"
    )
    assert OnnxModel(out).run(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)
    with pytest.raises(ConfigError, match="holds a OrderedDict, not a model"):
        load_torch_model(tmp_path / "weights.pt")
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13, still loadable
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)
        scripted = torch.jit.script(module)  # type: ignore[no-untyped-call]
        torch.jit.save(scripted, tmp_path / "scripted.pt")  # type: ignore[no-untyped-call]
    assert isinstance(load_torch_model(tmp_path / "scripted.pt"), torch.jit.ScriptModule)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not a PyTorch model file"):
        load_torch_model(tmp_path / "junk.pt")


def test_a_regression_teacher_is_matched_by_squared_error(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher_module = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
    )
    x = np.random.default_rng(1).standard_normal((400, 4)).astype(np.float32)
    teacher = OnnxModel(export_onnx(teacher_module, x, tmp_path / "t.onnx"))
    settings = DistillSettings(epochs=150, regression=True)
    student = distill(teacher, parse_arch("mlp:32"), Dataset(x), settings)
    with torch.no_grad():
        got = student(torch.from_numpy(x)).numpy()
    want = teacher.run(x)
    assert np.abs(got - want).mean() < 0.1 * np.abs(want).mean()
