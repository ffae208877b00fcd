"""Distillation's parts: the student's standardisation and layers, the teacher's logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgeoffload.compress.arch import parse_arch
from edgeoffload.compress.data import Dataset
from edgeoffload.compress.distill import (
    DistillSettings,
    Student,
    distill,
    teacher_logits,
    teacher_outputs,
)
from edgeoffload.compress.training import export_onnx
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import OnnxModel


def test_an_mlp_student_standardises_each_feature_and_floors_constant_ones() -> None:
    x = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0], [4.0, 5.0, 5.0]], np.float32)
    student = Student(parse_arch("mlp:6"), x, 2)
    mean, std = student.mean.numpy(), student.std.numpy()  # type: ignore[operator]
    np.testing.assert_allclose(mean, [2.0, 5.0, 3.0])
    sd = np.sqrt(8 / 3)
    # The constant feature's std is floored at 0.1 x the mean std (plus 1e-6).
    np.testing.assert_allclose(std, [sd, 0.1 * (2 * sd / 3) + 1e-6, sd], rtol=1e-6)
    linears = [m for m in student.body if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3, 6), (6, 2)]
    with torch.no_grad():
        out = student(torch.from_numpy(x))
        body = student.body((torch.from_numpy(x) - student.mean) / student.std)
    assert torch.equal(out, body)


def test_a_cnn_student_has_its_convolutions_then_a_pool() -> None:
    x = np.random.default_rng(0).random((10, 2, 8, 8), dtype=np.float32)
    student = Student(parse_arch("cnn:4,8/16"), x, 3)
    convs = [m for m in student.body if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(2, 4), (4, 8)]
    linears = [m for m in student.body if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8 * 4 * 4, 16), (16, 3)]
    assert student.mean.shape == (2, 1, 1)  # type: ignore[union-attr]  # per channel
    with torch.no_grad():
        assert student(torch.from_numpy(x)).shape == (10, 3)


def test_a_cnn_student_names_the_shape_it_got() -> None:
    with pytest.raises(ConfigError, match=r"a cnn needs inputs .* samples of shape \(64,\)"):
        Student(parse_arch("cnn:4"), np.zeros((3, 64), np.float32), 10)


@pytest.fixture
def logit_teacher(tmp_path: Path) -> OnnxModel:
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 4)
    return OnnxModel(export_onnx(module, np.zeros((1, 3), np.float32), tmp_path / "t.onnx"))


def test_logits_pass_through_unchanged(logit_teacher: OnnxModel) -> None:
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(teacher_logits(logit_teacher, x), logit_teacher.run(x))
    assert teacher_outputs(logit_teacher, x).dtype == np.float32


def test_a_one_output_teacher_is_matched_by_squared_error(tmp_path: Path) -> None:
    # One output per sample is a regression whatever the settings say (a softmax over
    # one output is constant: distilling it as classes would learn nothing).
    module = torch.nn.Linear(2, 1)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([[1.0, -1.0]]))
        module.bias.zero_()
    teacher = OnnxModel(export_onnx(module, np.zeros((1, 2), np.float32), tmp_path / "r.onnx"))
    x = np.random.default_rng(2).standard_normal((256, 2)).astype(np.float32)
    want = teacher.run(x)

    def error(epochs: int) -> float:
        settings = DistillSettings(epochs=epochs, lr=0.03)
        student = distill(teacher, parse_arch("mlp:8"), Dataset(x), settings)
        with torch.no_grad():
            return float(np.abs(student(torch.from_numpy(x)).numpy() - want).mean())

    assert error(20) < 0.3 * error(0)


def test_data_that_does_not_fit_the_teacher_is_refused(logit_teacher: OnnxModel) -> None:
    with pytest.raises(ConfigError, match=r"--data: samples of shape \(4, 5\)"):
        distill(logit_teacher, parse_arch("mlp:4"), Dataset(np.zeros((4, 5), np.float32)))
