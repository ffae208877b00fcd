"""cli.distill: every refusal is one line with exit code 2 and comes before the data is
read or torch imported (architecture, teacher file, threads, repeats, epochs,
temperature, alpha), and a tiny teacher is distilled into a student that is written
and scored, on a held-out fifth of labelled data when no --test is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.cli import main
from tests.unit.cli.test_compress import _tiny_model


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    teacher, data = tmp_path / "t.onnx", tmp_path / "d.npz"
    _tiny_model(teacher)
    rng = np.random.default_rng(2)
    np.savez(data, x=rng.normal(size=(50, 8)).astype(np.float32), y=rng.integers(0, 3, 50))
    return teacher, data


def distill(teacher: Path, data: Path, out: Path, *extra: str) -> int:
    argv = ["distill", "--teacher", str(teacher), "--data", str(data), "--out", str(out)]
    return main([*argv, "--student-arch", "mlp:4", *extra])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threads", "0"], "--threads: must be at least 1, got 0"),
        (["--repeats", "0"], "--repeats: must be at least 1, got 0"),
        (["--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["--temperature", "0"], "--temperature: must be positive, got 0.0"),
        (["--alpha", "1.5"], "--alpha: must be in [0, 1], got 1.5"),
    ],
)
def test_refusals(
    extra: list[str],
    message: str,
    files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    teacher, data = files
    assert distill(teacher, data, tmp_path / "s.onnx", *extra) == 2
    assert capsys.readouterr().err == f"edgeoffload distill: error: {message}\n"
    assert not (tmp_path / "s.onnx").exists()


def test_a_missing_teacher_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.onnx"
    assert distill(missing, tmp_path / "d.npz", tmp_path / "s.onnx") == 2
    assert (
        capsys.readouterr().err
        == f"edgeoffload distill: error: --teacher: no such file: {missing}\n"
    )


def test_a_bad_architecture_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["distill", "--teacher", "none", "--data", "none", "--out", "o"]
    assert main([*argv, "--student-arch", "transformer:9"]) == 2
    # the architecture is checked before the files (neither exists)
    assert capsys.readouterr().err == (
        "edgeoffload distill: error: --student-arch: 'transformer:9' must start with 'mlp:' "
        "or 'cnn:' (e.g. mlp:256,128)\n"
    )


def test_a_student_is_trained_written_and_scored(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher, data = files
    out = tmp_path / "s.onnx"
    assert distill(teacher, data, out, "--epochs", "2", "--repeats", "1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "no --test: scoring on 20 % of --data held out (10 samples)"
    assert [line.split()[0] for line in lines[2:4]] == ["teacher", "student"]
    assert lines[-1] == f"wrote {out}"
    assert out.is_file() and out.stat().st_size > 0
