"""``compress`` warns when the combination it wrote is slower than the original, and
names the faster variant it measured (issue 15: pruned + dynamic INT8 on the CNN ran
at 0.17x, silently); ``--build-models`` shows its progress."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.compress.report import Measurement, slowdown_warning


def rows(*b32: float) -> dict[str, Measurement]:
    names = ("original", "pruned 30%", "int8 dynamic")
    return {n: Measurement(1000, 0.1, t) for n, t in zip(names, b32, strict=True)}


ADVICE = {"original": "keep the original model", "pruned 30%": "drop --int8"}


def test_a_slower_combination_is_warned_with_the_faster_variant() -> None:
    text = slowdown_warning(
        rows(0.40, 0.30, 2.40), "int8 dynamic", "original", "pruned 30% + int8 dynamic", ADVICE
    )
    assert text == (
        "warning: pruned 30% + int8 dynamic is slower than the original model: 0.17x its "
        "speed at batch 32 (2.4000 ms against 0.4000 ms). Faster here: pruned 30% (1.33x): "
        "drop --int8."
    )


def test_when_nothing_pays_keeping_the_original_is_advised_with_the_reason() -> None:
    text = slowdown_warning(
        rows(0.40, 0.50, 2.40), "int8 dynamic", "original", "x", ADVICE, note="Because."
    )
    assert text is not None
    assert text.endswith("Faster here: original (1.00x): keep the original model. Because.")


def test_a_faster_or_equal_result_is_not_warned() -> None:
    assert slowdown_warning(rows(0.40, 0.30, 0.20), "int8 dynamic", "original", "x", {}) is None
    # within the noise of a shared machine (speed-ups moved by about 15 % between runs)
    assert slowdown_warning(rows(0.40, 0.30, 0.42), "int8 dynamic", "original", "x", {}) is None


def test_the_cli_warns_exactly_when_its_own_table_shows_a_slowdown(
    cnn: Path, data_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real CNN, pruned then dynamic INT8 (ConvInteger): the warning follows the
    measured table, whatever this machine's figures are, and names the reason."""
    train, test = data_files
    code = main(
        ["compress", str(cnn), "--out", str(tmp_path / "o.onnx"), "--prune", "0.3",
         "--int8", "dynamic", "--calibration", str(train), "--data", str(test), "--repeats", "3"]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    last = captured.out.splitlines()[-2]  # the table's last row, then "wrote ..."
    speedup = float(re.findall(r"(\d+\.\d+)x", last)[0])
    warned = captured.err.startswith("warning: pruned 30% + int8 dynamic is slower")
    assert warned == (speedup < 0.9), (last, captured.err)
    if warned:
        assert "ConvInteger" in captured.err and "Faster here: " in captured.err
        assert captured.err.count("\n") == 1


def test_build_models_shows_one_line_per_step_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only = ["--only", "digits_cnn", "--only", "digits_mlp"]  # not the AOI model (minutes)
    assert main(["compress", "--build-models", str(tmp_path), "--epochs", "1", *only]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0] == "[1/2] digits_cnn: training 1 epochs on 1438 images"
    assert err[1].startswith("[1/2] digits_cnn: epoch 1/1, loss ")
    assert err[2].startswith("[1/2] digits_cnn: exported ") and "held-out accuracy 0." in err[2]
    assert err[3] == "[2/2] digits_mlp: training 1 epochs on 1438 images"
    assert len(err) == 6
    out = captured.out.splitlines()
    assert [line.split(":")[0] for line in out] == ["digits_cnn", "digits_mlp"]
    assert all(re.search(r"held-out accuracy 0\.\d{4}$", line) for line in out)


def test_build_models_refuses_zero_epochs(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert main(["compress", "--build-models", str(tmp_path), "--epochs", "0"]) == 2
    assert (
        capsys.readouterr().err
        == "edgeoffload compress: error: --epochs: must be at least 1, got 0\n"
    )
