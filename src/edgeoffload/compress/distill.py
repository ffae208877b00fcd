"""Knowledge distillation: train a small student on a teacher's soft outputs (torch).

The teacher is any ONNX model, run with ONNX Runtime on the data file's inputs; the
student is built from a spec (:mod:`.arch`) for the teacher's input shape and output
width, trained with torch, and exported to ONNX.

Loss (Hinton et al. 2015, "Distilling the knowledge in a neural network"): for a
classifier, ``T^2 * KL(softmax(teacher / T) || softmax(student / T))`` with
temperature ``T``, mixed with the cross-entropy on the true labels (weight ``alpha``)
when the data has them. A teacher with one output per sample (a score or a
regression) is matched by mean squared error instead. Teacher outputs that are already
probabilities (non-negative rows summing to 1) are turned back into logits (their log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from ..models.runtime import OnnxModel
from .arch import StudentArch
from .data import Dataset, conform
from .training import Loss, fit


@dataclass(frozen=True, slots=True)
class DistillSettings:
    """Training settings; the defaults trained the digits students in docs/compression.md.

    Attributes:
        epochs: passes over the data.
        temperature: softening of both output distributions.
        alpha: weight of the hard-label loss (used only when the data has labels).
        lr: Adam's learning rate.
        seed: seeds the initial weights and the batch order.
        regression: the teacher's outputs are numbers to match (mean squared error),
            not class scores (a teacher with one output per sample is always matched so).
    """

    epochs: int = 60
    temperature: float = 4.0
    alpha: float = 0.3
    lr: float = 3e-3
    seed: int = 0
    regression: bool = False


class Student(nn.Module):
    """A student network: input standardisation, then the layers of ``arch``.

    The standardisation constants come from the training inputs and are part of the
    model (and of its ONNX file), so the student takes the same raw inputs as the
    teacher.
    """

    def __init__(
        self, arch: StudentArch, x: np.ndarray, n_out: int, std_floor: float = 0.1
    ) -> None:
        super().__init__()
        shape = x.shape[1:]
        if arch.kind == "cnn" and len(shape) != 3:
            raise ConfigError(
                f"--student-arch {arch}: a cnn needs inputs (channels, height, width), "
                f"the data has samples of shape {shape}"
            )
        axes = (0, 2, 3) if arch.kind == "cnn" else (0,)
        mean = x.mean(axis=axes, keepdims=True)[0].astype(np.float32)
        std = x.std(axis=axes, keepdims=True)[0].astype(np.float32)
        # A feature that never varies (a border pixel) must not be divided by ~0.
        std = np.maximum(std, std_floor * float(std.mean()) + 1e-6).astype(np.float32)
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("std", torch.from_numpy(std))
        layers: list[nn.Module] = []
        channels = shape[0] if arch.kind == "cnn" else 0
        for c in arch.conv:
            layers += [nn.Conv2d(channels, c, 3, padding=1), nn.ReLU()]
            channels = c
        if arch.conv:
            layers.append(nn.MaxPool2d(2))
        layers.append(nn.Flatten())
        width = channels * (shape[1] // 2) * (shape[2] // 2) if arch.conv else int(np.prod(shape))
        for units in arch.dense:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, n_out))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = cast(torch.Tensor, self.mean), cast(torch.Tensor, self.std)
        out: torch.Tensor = self.body((x - mean) / std)
        return out


def teacher_outputs(teacher: OnnxModel, x: np.ndarray) -> np.ndarray:
    """The teacher's first output on ``x``, float32, one row per sample."""
    step = teacher.input.shape[0] or 1024
    out = np.concatenate([teacher.run(x[i : i + step]) for i in range(0, len(x), step)])
    return out.reshape(len(x), -1).astype(np.float32)


def teacher_logits(teacher: OnnxModel, x: np.ndarray) -> np.ndarray:
    """The teacher's class scores on ``x`` (log of probabilities if it gives
    probabilities; see the module docstring)."""
    out = teacher_outputs(teacher, x)
    if out.shape[1] > 1 and out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-3):
        out = np.log(np.clip(out, 1e-7, None))
    return out


def distill(
    teacher: OnnxModel,
    arch: StudentArch,
    data: Dataset,
    settings: DistillSettings = DistillSettings(),
) -> Student:
    """Train a student of ``arch`` to mimic ``teacher`` on ``data`` (labels optional).

    Raises:
        ConfigError: the data does not fit the teacher's input, or the arch its shape.
    """
    x = conform(data.x, teacher.input, "--data")
    soft = teacher_outputs(teacher, x) if settings.regression else teacher_logits(teacher, x)
    torch.manual_seed(settings.seed)  # the initial weights
    student = Student(arch, x, soft.shape[1])
    if settings.regression or soft.shape[1] == 1:
        loss: Loss = F.mse_loss
        targets = soft
    else:
        loss, targets = _distillation_loss(settings, soft, data.y)
    fitted = fit(
        student, x, targets, loss, epochs=settings.epochs, lr=settings.lr, seed=settings.seed
    )
    assert isinstance(fitted, Student)
    return fitted


def _distillation_loss(
    settings: DistillSettings, soft: np.ndarray, y: np.ndarray | None
) -> tuple[Loss, np.ndarray]:
    """The classifier loss, and its targets: teacher logits with the label appended
    (hard labels weigh ``alpha`` only when they are integer class labels)."""
    hard = y is not None and np.issubdtype(y.dtype, np.integer)
    t, alpha = settings.temperature, settings.alpha if hard else 0.0
    labels = y.reshape(len(soft)) if hard and y is not None else np.zeros(len(soft))
    targets = np.concatenate([soft, labels[:, None].astype(np.float32)], axis=1)

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, y = target[:, :-1], target[:, -1].long()
        kd = F.kl_div(
            F.log_softmax(out / t, dim=1),
            F.log_softmax(logits / t, dim=1),
            reduction="batchmean",
            log_target=True,
        ) * (t * t)
        if alpha == 0.0:
            return kd
        return (1 - alpha) * kd + alpha * F.cross_entropy(out, y)

    return loss, targets
