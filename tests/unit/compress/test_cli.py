"""``edgeoffload compress`` and ``edgeoffload distill``: results and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeoffload.cli import main
from edgeoffload.compress.graph import load_model
from edgeoffload.models.runtime import OnnxModel


def test_compress_prints_before_and_after(
    cnn: Path, data_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = data_files
    out = tmp_path / "small.onnx"
    code = main(
        ["compress", str(cnn), "--out", str(out), "--prune", "0.3", "--int8", "static",
         "--calibration", str(train), "--data", str(test), "--repeats", "1"]
    )  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    for row in ("original", "pruned 30%", "int8 static", "accuracy", "data-aware"):
        assert row in text
    load_model(out)
    assert out.stat().st_size < cnn.stat().st_size / 3


def test_compress_takes_a_pytorch_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )
    torch.save(module, tmp_path / "m.pt")
    out = tmp_path / "m.int8.onnx"
    code = main(
        ["compress", str(tmp_path / "m.pt"), "--out", str(out), "--int8", "dynamic",
         "--input-shape", "1,8,8", "--repeats", "1"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert OnnxModel(out).run(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)


def test_distill_trains_and_scores_a_student(
    cnn: Path, data_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = data_files
    out = tmp_path / "student.onnx"
    code = main(
        ["distill", "--teacher", str(cnn), "--student-arch", "mlp:32", "--data", str(train),
         "--test", str(test), "--out", str(out), "--epochs", "3", "--repeats", "1"]
    )  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "teacher" in text and "student mlp:32" in text
    assert OnnxModel(out).input.shape == (None, 1, 8, 8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compress", "{bad}", "--out", "o.onnx", "--int8", "dynamic"], "is not an ONNX model"),
        (["compress", "{cnn}", "--out", "o.onnx", "--prune", "1.5"], "fraction must be in"),
        (["compress", "{cnn}", "--out", "o.onnx", "--int8", "static"], "needs calibration data"),
        (
            ["compress", "{cnn}", "--out", "o.onnx", "--int8", "static", "--calibration", "x.npz"],
            "--calibration: no such file",
        ),
        (["compress", "{cnn}", "--out", "o.onnx"], "nothing to do"),
        (["compress", "{cnn}", "--out", "o.onnx", "--prune", "0.3", "--prune-align", "x"], "auto"),
        (["compress", "m.pt", "--out", "o.onnx", "--int8", "dynamic"], "MODEL: no such file"),
        (
            [
                "distill",
                "--teacher",
                "{cnn}",
                "--student-arch",
                "vit:3",
                "--data",
                "d.npz",
                "--out",
                "s.onnx",
            ],
            "must start with 'mlp:' or 'cnn:'",
        ),
        (
            [
                "distill",
                "--teacher",
                "{bad}",
                "--student-arch",
                "mlp:8",
                "--data",
                "{train}",
                "--out",
                "s.onnx",
            ],
            "--teacher: .* is not an ONNX model",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    args: list[str],
    message: str,
    cnn: Path,
    data_files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.onnx").write_text("not a model")
    paths = {"bad": "bad.onnx", "cnn": str(cnn), "train": str(data_files[0])}
    assert main([a.format(**paths) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"edgeoffload {args[0]}: error: ")
    assert re.search(message, err), err


def test_build_models_refuses_an_unknown_only_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compress", "--build-models", str(tmp_path), "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--only: no model 'nope'" in err and "aoi_cnn" in err
    assert not any(tmp_path.iterdir())  # nothing was built


def test_build_models_quick_builds_one_model_in_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compress", "--build-models", str(tmp_path), "--only", "aoi_cnn", "--quick"]) == 0
    assert "aoi_cnn:" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aoi_cnn.calibration.npz",
        "aoi_cnn.onnx",
        "aoi_cnn.test.npz",
        "aoi_cnn.train.npz",
    ]
