"""Bad usage of ``sim``, ``evaluate`` and ``distill``: one line naming the cause, exit 2,
at once (no traceback, no table header first, no numpy warning, no work done before)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.cli.evaluate import trace_sets

MODELS = Path(__file__).parents[3] / "src/edgeoffload/decision/models"


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the command; assert exit 2, nothing on stdout, one line on stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "negative.txt").write_text("0 1\n1 -2\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "header.csv").write_text("time_s,mbps\n0,1\n1,2\n")
    (tmp_path / "bad.yaml").write_text("name: x\nduration_s: [1\n")
    (tmp_path / "a_file").write_text("")
    return tmp_path


def test_an_output_folder_that_cannot_be_made(capsys, files: Path) -> None:  # type: ignore[no-untyped-def]
    out = files / "a_file" / "run"
    line = _fails(capsys, "sim", "run", "manufacturing", "--duration", "1", "--out", str(out))
    assert f"--out {out}: cannot create the folder" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sweep", "manufacturing", "--seeds", "a,b"], "--seeds: expected seeds like 101,201"),
        (["sweep", "manufacturing", "--workers", "-2"], "--workers: must be >= 1, got -2"),
        (["validate", "--jobs", "-1"], "--jobs: must be >= 1, got -1"),
        (["run", "manufacturing", "--set", "devices[0].link.loss=1.5"], "< 1.0, got 1.5"),
    ],
)
def test_bad_numbers_are_refused_before_anything_runs(capsys, argv, expected) -> None:  # type: ignore[no-untyped-def]
    assert expected in _fails(capsys, "sim", *argv)


def test_a_yaml_syntax_error_is_one_line(capsys, files: Path) -> None:  # type: ignore[no-untyped-def]
    line = _fails(capsys, "sim", "run", str(files / "bad.yaml"))
    assert "line 3, column 1: expected ',' or ']'" in line and "line 2, column 13" in line


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("negative.txt", "trace file negative.txt: capacities must be finite"),
        ("empty.txt", "empty.txt: empty (expected two columns"),
        ("header.csv", "header.csv: line 1 is 'time_s,mbps': expected two columns"),
    ],
)
def test_trace_files_say_what_is_wrong(capsys, files: Path, name: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    link = f"devices[0].link.file={files / name}"
    out = str(files / "out")
    line = _fails(capsys, "sim", "run", "manufacturing", "--set", link, "--out", out)
    assert expected in line


def test_a_dask_scheduler_that_is_not_there(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    line = _fails(
        capsys,
        "sim", "sweep", "manufacturing", "--duration", "1", "--quiet", "--out", str(tmp_path),
        "--backend", "dask", "--address", "tcp://127.0.0.1:1",
    )  # fmt: skip
    assert "--address tcp://127.0.0.1:1: cannot join the Dask scheduler" in line


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("tcp://127.0.0.1:1", "a Ray cluster address is HOST:PORT or ray://HOST:PORT"),
        ("127.0.0.1:1", "cannot join the Ray cluster: connection refused"),
    ],
)
def test_a_ray_cluster_that_is_not_there(capsys, tmp_path: Path, address, expected) -> None:  # type: ignore[no-untyped-def]
    # Seen: 46 lines of traceback; with HOST:PORT, minutes of Ray's retries.
    pytest.importorskip("ray")
    line = _fails(
        capsys,
        "sim", "sweep", "manufacturing", "--duration", "1", "--quiet", "--out", str(tmp_path),
        "--backend", "ray", "--address", address,
    )  # fmt: skip
    assert f"--address {address}: {expected}" in line


def test_distill_names_a_missing_teacher_before_any_work(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = str(tmp_path / "teacher.onnx")
    line = _fails(
        capsys,
        "distill", "--teacher", missing, "--student-arch", "cnn:8,16/32",
        "--data", str(tmp_path / "nodata.npz"), "--out", str(tmp_path / "s.onnx"),
    )  # fmt: skip
    assert line == f"edgeoffload distill: error: --teacher: no such file: {missing}"


def test_evaluate_refuses_bad_input_before_simulating(capsys, files: Path) -> None:  # type: ignore[no-untyped-def]
    model = str(MODELS / "default")
    trace = str(files / "header.csv")
    assert "line 1 is 'time_s,mbps'" in _fails(
        capsys, "evaluate", "--model", model, "--trace", trace, "--records", "50"
    )
    broken = files / "broken"
    broken.mkdir()
    shutil.copy(MODELS / "default" / "meta.json", broken / "meta.json")  # no weights
    assert str(broken) in _fails(capsys, "evaluate", "--model", str(broken), "--records", "50")


def test_two_traces_of_one_file_name_keep_their_results_apart(files: Path) -> None:
    (files / "a").mkdir()
    (files / "b").mkdir()
    for folder in ("a", "b"):
        (files / folder / "t.txt").write_text("0 1\n1 2\n")
    sets = trace_sets(
        [], [str(files / "a/t.txt"), str(files / "b/t.txt"), str(files / "negative.txt")]
    )
    assert [name for name, _, _ in sets] == [
        str(files / "a/t.txt"),
        str(files / "b/t.txt"),
        "negative.txt",
    ]
