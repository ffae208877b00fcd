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

- ``aoi_cnn``: the defect classifier of the visual-inspection example (``examples/aoi``):
  a plain VGG/ResNet-stem-like CNN on 128x128 grey frames of parts
  (:mod:`edgeoffload.examples.parts`, 4 classes), six 3x3 convolutions (16, 32, 64, 64,
  128, 128 channels; stride 2 first, 2x2 max-pools after the 2nd and 4th), global
  average pool, dense 4. 132.7 M multiply-adds = 265 MFLOPs per image
  (:func:`conv_macs`), 282 k weights (1.1 MB). Takes raw grey levels (0..255).
  Batch norm trains it (without, the plain stack stayed at chance for 6 epochs) and is
  folded into the convolutions at export; there are no residual adds, so the exported
  graph is Conv+ReLU pairs only: static INT8 fuses each into one QLinearConv, and
  structured pruning can cut every layer pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..examples import parts
from .data import Dataset, digits, save_data, subsample
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


#: Grey levels of the AOI frames run from 0 to 255.
GREY_MAX = 255.0
#: The AOI convolutions: (input channels, output channels, stride); max-pools after 2, 4.
AOI_CONVS = ((1, 16, 2), (16, 32, 1), (32, 64, 1), (64, 64, 1), (64, 128, 1), (128, 128, 1))
AOI_POOL_AFTER = (1, 3)


class AoiCNN(nn.Module):
    """The AOI defect classifier (input (n, 1, 128, 128) grey levels, 4 classes)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (c_in, c_out, stride) in enumerate(AOI_CONVS):
            conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            layers += [conv, nn.BatchNorm2d(c_out), nn.ReLU()]
            if i in AOI_POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(AOI_CONVS[-1][1], len(parts.CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x / GREY_MAX)
        return self.head(h.amax(dim=(2, 3)))  # type: ignore[no-any-return]


def conv_macs(size: int = parts.SIZE) -> int:
    """Multiply-adds of the AOI network on one ``size`` x ``size`` image (FLOPs: twice).

    Counted per convolution as output pixels x output channels x 3 x 3 x input
    channels, plus the dense head; pools, ReLUs and biases are left out (<1 %).
    """
    total, side = 0, size
    for i, (c_in, c_out, stride) in enumerate(AOI_CONVS):
        side = -(-side // stride)
        total += side * side * c_out * 9 * c_in
        if i in AOI_POOL_AFTER:
            side //= 2
    return total + AOI_CONVS[-1][1] * len(parts.CLASSES)


#: Generated AOI frames per split (train, held out), and the sets' seeds.
AOI_TRAIN, AOI_TEST = 2000, 800
AOI_SEEDS = (0, 1)


def aoi_data(n_train: int = AOI_TRAIN, n_test: int = AOI_TEST) -> tuple[Dataset, Dataset]:
    """Generated AOI frames as ``(n, 1, 128, 128)`` float32 grey levels: a training set
    and a held-out set drawn from another seed (no frame is in both)."""
    out = []
    for n, seed in zip((n_train, n_test), AOI_SEEDS, strict=True):
        x, y = parts.dataset(n, seed)
        out.append(Dataset(x[:, None].astype(np.float32), y))
    return out[0], out[1]


@dataclass(frozen=True, slots=True)
class Recipe:
    """How a model is built and compressed in the report.

    Attributes:
        module: its class. image_size: input side. epochs: training passes.
        student: the distilled student's spec (:mod:`.arch`).
        int8: the INT8 mode used after pruning: static (QDQ) for convolutions, which
            dynamic INT8 slows down; dynamic for matrix products, where it needs no data.
        data: ``data(n_train, n_test)`` gives the (train, held-out) sets of generated
            data, ``sizes`` their sizes; None: the digits at ``image_size``.
        calibration: samples that data-aware pruning and static INT8 calibrate on (None:
            up to :data:`~.data.MAX_CALIBRATION`); pruning keeps every sample's
            activations, 4 MB per AOI frame, so the AOI recipe uses a few hundred.
        lr, batch: Adam's learning rate and the mini-batch size (the AOI network needs
            a few hundred steps: at 64 per batch and 600 frames it stayed at chance).
    """

    module: type[nn.Module]
    image_size: int
    epochs: int
    student: str
    int8: str
    data: Callable[[int, int], tuple[Dataset, Dataset]] | None = None
    sizes: tuple[int, int] = (0, 0)
    calibration: int | None = None
    lr: float = 1e-3
    batch: int = 64


RECIPES: dict[str, Recipe] = {
    "digits_cnn": Recipe(DigitsCNN, 8, 30, "cnn:8,16/32", "static"),
    "digits_mlp": Recipe(DigitsMLP, 28, 15, "mlp:128", "dynamic"),
    "aoi_cnn": Recipe(
        AoiCNN, parts.SIZE, 6, "cnn:8/32", "static", aoi_data, (AOI_TRAIN, AOI_TEST), 128, 2e-3, 32
    ),
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


#: ``quick`` builds: one epoch, and generated sets of these sizes (a test's smoke run).
QUICK_SIZES = (64, 32)


def build(
    name: str,
    out_dir: str | Path,
    epochs: int | None = None,
    seed: int = 0,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Built:
    """Train model ``name`` on its training split, export it, write its data files,
    and score it on the held-out split. ``progress`` is told each step in one line
    (training takes up to a minute on a loaded machine).

    ``quick``: one epoch on small generated sets (:data:`QUICK_SIZES`): a model that runs
    and is exported like the real one, in seconds, not one that is any good.
    """
    from ..models.runtime import OnnxModel

    say = progress or (lambda line: None)
    recipe = RECIPES[name]
    out_dir = Path(out_dir)
    if recipe.data is not None:
        train, test = recipe.data(*(QUICK_SIZES if quick else recipe.sizes))
    else:
        train, test = digits(recipe.image_size)
    epochs = 1 if quick else recipe.epochs if epochs is None else epochs
    say(f"{name}: training {epochs} epochs on {len(train)} images")
    torch.manual_seed(seed)  # the initial weights
    module = fit(
        recipe.module(),
        train.x,
        _labels(train),
        F.cross_entropy,
        epochs=epochs,
        lr=recipe.lr,
        batch=recipe.batch,
        seed=seed,
        on_epoch=lambda k, loss: say(f"{name}: epoch {k}/{epochs}, loss {loss:.4f}"),
    )
    path = export_onnx(module, train.x, out_dir / f"{name}.onnx")
    accuracy = float((OnnxModel(path).predict(test.x) == _labels(test)).mean())
    say(f"{name}: exported {path}, held-out accuracy {accuracy:.4f} ({len(test)} images)")
    if recipe.calibration:  # what `edgeoffload compress --calibration` takes for it
        calibration = Dataset(subsample(train.x, recipe.calibration))
        save_data(out_dir / f"{name}.calibration.npz", calibration)
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
