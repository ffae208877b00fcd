"""Data files for the compression commands, and the digits dataset they are shown on.

A data file is a ``.npz`` with an array ``x`` (model inputs, first axis = samples) and,
for labelled data, ``y``: integer class labels (classifiers: accuracy is reported), or
float targets of the model's output shape (regression: mean absolute error is
reported); a ``.npy`` file holds ``x`` alone. The
commands are generic over models: ``x`` may have any shape the model accepts, and
:func:`conform` checks it against the model's input before anything runs.

The digits are scikit-learn's bundled handwritten digits (1,797 grey 8x8 images,
values 0..16; no download), as ``(n, 1, 8, 8)`` float32 arrays of raw values: the
models divide by 16 themselves, so a data file needs no preprocessing to be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..models.runtime import TensorSpec

#: The held-out share of the digits, and the seed of the split (fixed: every model and
#: variant is scored on the same 360 images).
TEST_FRACTION = 0.2
SPLIT_SEED = 0
#: Calibration samples used at most by static quantization and data-aware pruning:
#: both keep activations of every sample in memory (a seeded subset beyond this).
MAX_CALIBRATION = 2048


@dataclass(frozen=True, slots=True)
class Dataset:
    """Model inputs ``x`` and, when labelled, ``y`` (one class label or target per sample)."""

    x: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)


def load_data(path: str | Path, option: str = "--data") -> Dataset:
    """Read a data file (``.npz`` with ``x`` and optional ``y``, or ``.npy`` with ``x``).

    Raises:
        ConfigError: missing or unreadable file, no ``x``, or ``y`` of the wrong length;
            the message names ``option``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{option}: no such file: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{option}: {path} is not a .npz or .npy file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        return _checked(Dataset(loaded), path, option)
    with loaded:
        if "x" not in loaded.files:
            raise ConfigError(
                f"{option}: {path} has no array 'x' (found: {', '.join(loaded.files) or 'none'})"
            )
        y = loaded["y"] if "y" in loaded.files else None
        return _checked(Dataset(loaded["x"], y), path, option)


def _checked(data: Dataset, path: Path, option: str) -> Dataset:
    if data.x.ndim == 0 or len(data.x) == 0:
        raise ConfigError(f"{option}: {path} holds no samples")
    if data.y is not None and (data.y.ndim == 0 or len(data.y) != len(data.x)):
        raise ConfigError(
            f"{option}: {path}: 'y' must be one label (or target) per sample "
            f"(x has {len(data.x)} samples, y has shape {data.y.shape})"
        )
    return data


def save_data(path: str | Path, data: Dataset) -> Path:
    """Write ``data`` as a ``.npz`` file (``x``, and ``y`` if labelled)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"x": data.x} if data.y is None else {"x": data.x, "y": data.y}
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    return path


def conform(x: np.ndarray, spec: TensorSpec, option: str = "--data") -> np.ndarray:
    """``x`` cast to the model input's dtype, after checking its rank and fixed dims.

    Raises:
        ConfigError: the shapes cannot match (names the option and both shapes).
    """
    shape = tuple("?" if d is None else d for d in spec.shape)
    fits = x.ndim == len(spec.shape) and all(
        want is None or want == got for want, got in zip(spec.shape[1:], x.shape[1:], strict=True)
    )
    if not fits:
        raise ConfigError(
            f"{option}: samples of shape {x.shape} do not fit the model input "
            f"{spec.name!r} of shape {shape}"
        )
    return np.ascontiguousarray(x, dtype=spec.dtype)


def split(data: Dataset, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A seeded random split into (train, test)."""
    order = np.random.default_rng(seed).permutation(len(data))
    n_test = round(len(data) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    ys = (None, None) if data.y is None else (data.y[train], data.y[test])
    return Dataset(data.x[train], ys[0]), Dataset(data.x[test], ys[1])


def subsample(x: np.ndarray, limit: int = MAX_CALIBRATION, seed: int = 0) -> np.ndarray:
    """At most ``limit`` samples of ``x`` (a seeded random subset when it has more)."""
    if len(x) <= limit:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))]


def digits(size: int = 8) -> tuple[Dataset, Dataset]:
    """scikit-learn's digits as (train, test), images ``(n, 1, size, size)``, raw 0..16.

    ``size`` > 8 upsamples bilinearly (the larger model's 28x28 input).
    Needs scikit-learn (the ``train`` extra).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)
    if size != 8:
        a = upsample_matrix(8, size)
        x = np.einsum("ij,njk,lk->nil", a, x, a).astype(np.float32)
    data = Dataset(x[:, None, :, :], bunch.target.astype(np.int64))
    return split(data, TEST_FRACTION, SPLIT_SEED)


def upsample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` linear interpolation matrix, half-pixel centres (as
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``); an image
    ``img`` upsamples as ``a @ img @ a.T``."""
    a = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        src = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)
        lo = int(np.floor(src))
        hi = min(lo + 1, n_in - 1)
        w = src - lo
        a[i, lo] += 1.0 - w
        a[i, hi] += w
    return a
