"""The report's models: their shapes, and building one end to end (three epochs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgeoffload.compress.data import load_data
from edgeoffload.compress.zoo import (
    AOI_CONVS,
    RECIPES,
    AoiCNN,
    DigitsCNN,
    DigitsMLP,
    aoi_data,
    build,
    conv_macs,
)
from edgeoffload.models.runtime import OnnxModel


def n_weights(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_models_have_their_documented_sizes() -> None:
    # 38 k and 1.9 M weights (the module docstring and docs/compression.md quote these).
    assert n_weights(DigitsCNN()) == 16 * 9 + 16 + 32 * 16 * 9 + 32 + 512 * 64 + 64 + 650
    assert n_weights(DigitsCNN()) == 38_282
    assert n_weights(DigitsMLP()) == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 10250
    with torch.no_grad():
        assert DigitsCNN()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
        assert DigitsMLP()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_the_models_divide_raw_pixels_by_16() -> None:
    torch.manual_seed(0)
    cnn = DigitsCNN().eval()
    x = torch.rand(2, 1, 8, 8) * 16
    with torch.no_grad():
        assert torch.allclose(cnn(x), cnn.features(x / 16))


def test_recipes_pair_each_model_with_its_input_and_int8_mode() -> None:
    assert {n: (r.module, r.image_size, r.int8) for n, r in RECIPES.items()} == {
        "digits_cnn": (DigitsCNN, 8, "static"),
        "digits_mlp": (DigitsMLP, 28, "dynamic"),
        "aoi_cnn": (AoiCNN, 128, "static"),
    }


def test_build_writes_the_model_and_its_data(tmp_path: Path) -> None:
    built = build("digits_cnn", tmp_path, epochs=3)
    assert (built.name, built.onnx.name) == ("digits_cnn", "digits_cnn.onnx")
    assert built.train.name == "digits_cnn.train.npz"
    train, test = load_data(built.train), load_data(built.test)
    assert train.x.shape[1:] == (1, 8, 8) and test.y is not None
    assert len(train) + len(test) == 1797  # scikit-learn's digits, split once
    model = OnnxModel(built.onnx)
    accuracy = float((model.predict(test.x) == test.y).mean())
    assert accuracy > 0.5  # three seeded epochs reach 0.76 here (chance is 0.1)
    assert built.accuracy == accuracy  # what the build reports is what the file scores
    again = build("digits_cnn", tmp_path / "again", epochs=3)
    np.testing.assert_array_equal(OnnxModel(again.onnx).run(test.x[:5]), model.run(test.x[:5]))


def test_build_reports_each_step(tmp_path: Path) -> None:
    lines: list[str] = []
    built = build("digits_cnn", tmp_path, epochs=2, progress=lines.append)
    assert lines[0] == "digits_cnn: training 2 epochs on 1438 images"
    assert [line.split(",")[0] for line in lines[1:3]] == [
        "digits_cnn: epoch 1/2", "digits_cnn: epoch 2/2"
    ]  # fmt: skip
    assert lines[3] == (
        f"digits_cnn: exported {built.onnx}, held-out accuracy {built.accuracy:.4f} (359 images)"
    )
    assert len(lines) == 4


def test_the_aoi_network_has_its_documented_size_and_flops() -> None:
    # 132.7 M multiply-adds = 265 MFLOPs, 282 k weights (zoo docstring, examples/aoi).
    assert conv_macs() == 132_710_912
    side_macs = [64 * 64 * 16 * 9, 64 * 64 * 32 * 144, 32 * 32 * 64 * 288]
    side_macs += [32 * 32 * 64 * 576, 16 * 16 * 128 * 576, 16 * 16 * 128 * 1152]
    assert conv_macs() == sum(side_macs) + 128 * 4
    assert len(AOI_CONVS) == 6
    assert n_weights(AoiCNN()) == 282_612  # 282,180 once batch norm is folded (ONNX)
    with torch.no_grad():
        # The counted MACs are what torch's FLOP counter sees in the convolutions.
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            out = AoiCNN()(torch.zeros(2, 1, 128, 128))
        assert out.shape == (2, 4)
        assert counter.get_total_flops() == 2 * 2 * conv_macs()


def test_the_aoi_sets_are_generated_apart_and_balanced() -> None:
    train, test = aoi_data(8, 4)
    assert train.x.shape == (8, 1, 128, 128) and train.x.dtype == np.float32
    assert test.y is not None and sorted(test.y.tolist()) == [0, 1, 2, 3]
    assert not any(np.array_equal(a, b) for a in train.x for b in test.x)


def test_a_quick_aoi_build_exports_a_runnable_model(tmp_path: Path) -> None:
    built = build("aoi_cnn", tmp_path, quick=True)
    test = load_data(built.test)
    assert OnnxModel(built.onnx).run(test.x[:3]).shape == (3, 4)
    assert len(load_data(tmp_path / "aoi_cnn.calibration.npz")) == 64  # all of quick's 64
