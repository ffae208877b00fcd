"""Data files and the digits dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.compress.data import (
    Dataset,
    conform,
    load_data,
    save_data,
    subsample,
    upsample_matrix,
)
from edgeoffload.errors import ConfigError
from edgeoffload.models.runtime import TensorSpec


def test_digits_split_is_fixed_and_held_out(digits8: tuple[Dataset, Dataset]) -> None:
    train, test = digits8
    assert train.x.shape == (1438, 1, 8, 8) and test.x.shape == (359, 1, 8, 8)
    assert train.x.dtype == np.float32 and train.x.max() == 16
    assert set(np.unique(test.y)) == set(range(10))
    seen = {row.tobytes() for row in train.x}
    assert sum(row.tobytes() in seen for row in test.x) < 5  # a few digits are duplicates


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    data = Dataset(np.arange(12, dtype=np.float32).reshape(3, 4), np.array([0, 1, 2]))
    back = load_data(save_data(tmp_path / "d.npz", data))
    assert back.y is not None and data.y is not None
    np.testing.assert_array_equal(back.x, data.x)
    np.testing.assert_array_equal(back.y, data.y)
    np.save(tmp_path / "x.npy", data.x)
    assert load_data(tmp_path / "x.npy").y is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"not numpy", "is not a .npz or .npy file"),
        ({"z": np.zeros(3)}, "has no array 'x'"),
        ({"x": np.zeros((3, 2)), "y": np.zeros(2)}, "one label \\(or target\\) per sample"),
    ],
)
def test_bad_data_files_name_the_option(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "d.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    with pytest.raises(ConfigError, match=f"--calibration: .*{message}"):
        load_data(path, "--calibration")


def test_conform_checks_fixed_dims_and_casts() -> None:
    spec = TensorSpec("x", (None, 1, 8, 8), "float32")
    x = conform(np.zeros((2, 1, 8, 8), dtype=np.int64), spec)
    assert x.dtype == np.float32
    with pytest.raises(ConfigError, match=r"samples of shape \(2, 64\) do not fit"):
        conform(np.zeros((2, 64)), spec)


def test_upsampling_matches_torch_bilinear() -> None:
    import torch
    from torch.nn import functional as F

    img = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    a = upsample_matrix(8, 28)
    ours = a @ img @ a.T
    theirs = F.interpolate(
        torch.from_numpy(img)[None, None], size=(28, 28), mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(a.sum(axis=1), 1.0)


def test_subsample_is_seeded_and_bounded() -> None:
    x = np.arange(100)
    assert len(subsample(x, 10)) == 10
    np.testing.assert_array_equal(subsample(x, 10), subsample(x, 10))
    assert subsample(x, 200) is x
