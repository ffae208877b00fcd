"""The models the compression report is run on, and how to rebuild them (torch).

- ``digits_cnn``: a small CNN on scikit-learn's 8x8 digits (two 3x3 convolutions of
  16 and 32 channels, a 2x2 max-pool, dense 64, 10 classes; 38 k weights, ~150 KB).
  It ships in the package (:mod:`edgeoffload.models`): nodes serve it without torch.
- ``digits_mlp``: a 784-1024-1024-10 MLP on the same digits upsampled to 28x28 (1.9 M
  weights, 7.5 MB). Large enough for INT8 to pay: MACHINE.md measured 3.4x at batch 32
  for this shape with dynamic INT8, and 1.8x for a 64-256-256-10 MLP. Not stored in the
  repository; ``edgeoffload compress --build-models DIR`` rebuilds it in about 10 s.

Both take raw pixel values (0..16) and divide by 16 themselves, so data files need no
preprocessing. Training is seeded; the held-out split is fixed (:func:`.data.digits`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .data import Dataset, digits, save_data
from .training import export_onnx, fit

#: Pixel values of the digits run from 0 to 16.
PIXEL_MAX = 16.0


class DigitsCNN(nn.Module):
    """The small CNN (input (n, 1, 8, 8))."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x / PIXEL_MAX)  # type: ignore[no-any-return]


class DigitsMLP(nn.Module):
    """The larger model (input (n, 1, 28, 28))."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 1024),
            nn.ReLU(),
            nn.Linear(1024, 1024),
            nn.ReLU(),
            nn.Linear(1024, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x / PIXEL_MAX)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a model is built and compressed in the report.

    Attributes:
        module: its class. image_size: input side. epochs: training passes.
        student: the distilled student's spec (:mod:`.arch`).
        int8: the INT8 mode used after pruning: static (QDQ) for convolutions, which
            dynamic INT8 slows down; dynamic for matrix products, where it needs no data.
    """

    module: type[nn.Module]
    image_size: int
    epochs: int
    student: str
    int8: str


RECIPES: dict[str, Recipe] = {
    "digits_cnn": Recipe(DigitsCNN, 8, 30, "cnn:8,16/32", "static"),
    "digits_mlp": Recipe(DigitsMLP, 28, 15, "mlp:128", "dynamic"),
}


@dataclass(frozen=True, slots=True)
class Built:
    """A built model: its ONNX file, its train and held-out data files, and its
    accuracy on the held-out split (as ONNX Runtime runs the exported file)."""

    name: str
    onnx: Path
    train: Path
    test: Path
    accuracy: float


def build(
    name: str,
    out_dir: str | Path,
    epochs: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Built:
    """Train model ``name`` on its training split, export it, write its data files,
    and score it on the held-out split. ``progress`` is told each step in one line
    (training takes up to a minute on a loaded machine)."""
    from ..models.runtime import OnnxModel

    say = progress or (lambda line: None)
    recipe = RECIPES[name]
    out_dir = Path(out_dir)
    train, test = digits(recipe.image_size)
    epochs = recipe.epochs if epochs is None else epochs
    say(f"{name}: training {epochs} epochs on {len(train)} digits")
    torch.manual_seed(seed)  # the initial weights
    module = fit(
        recipe.module(),
        train.x,
        _labels(train),
        F.cross_entropy,
        epochs=epochs,
        seed=seed,
        on_epoch=lambda k, loss: say(f"{name}: epoch {k}/{epochs}, loss {loss:.4f}"),
    )
    path = export_onnx(module, train.x, out_dir / f"{name}.onnx")
    accuracy = float((OnnxModel(path).predict(test.x) == _labels(test)).mean())
    say(f"{name}: exported {path}, held-out accuracy {accuracy:.4f} ({len(test)} digits)")
    return Built(
        name,
        path,
        save_data(out_dir / f"{name}.train.npz", train),
        save_data(out_dir / f"{name}.test.npz", test),
        accuracy,
    )


def _labels(data: Dataset) -> np.ndarray:
    assert data.y is not None
    return data.y
