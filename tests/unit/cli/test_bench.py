"""cli.bench: --out and --update-docs given after the benchmark's name are the
command's own, everything else goes to the benchmark, whose code is the exit code."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from edgeoffload.bench import common
from edgeoffload.cli import main
from edgeoffload.cli.bench import NAMES, _own_options
from edgeoffload.errors import ConfigError


def test_own_options_are_taken_out() -> None:
    assert _own_options(["-n", "3", "--out", "d", "--update-docs", "--quick"]) == (
        Path("d"),
        True,
        ["-n", "3", "--quick"],
    )
    assert _own_options(["--out=x/y"]) == (Path("x/y"), False, [])
    assert _own_options([]) == (None, False, [])


def test_out_without_a_folder_is_refused() -> None:
    with pytest.raises(ConfigError, match="--out needs a folder"):
        _own_options(["--quick", "--out"])


def test_every_name_is_a_module_with_main() -> None:
    import importlib.util

    for name in NAMES:
        assert importlib.util.find_spec(f"edgeoffload.bench.{name}") is not None, name


def _fake_bench(monkeypatch: pytest.MonkeyPatch, code: int) -> list[list[str]]:
    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return code

    monkeypatch.setitem(sys.modules, "edgeoffload.bench.rpc", types.SimpleNamespace(main=fake_main))
    monkeypatch.setattr(common.DEST, "out", common.DEST.out)
    monkeypatch.setattr(common.DEST, "update_docs", common.DEST.update_docs)
    return calls


def test_run_passes_the_rest_and_returns_the_benchmarks_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = _fake_bench(monkeypatch, 3)
    assert main(["bench", "rpc", "--tasks", "10", "--out", str(tmp_path)]) == 3
    assert calls == [["--tasks", "10"]]
    assert common.DEST.out == tmp_path
    assert common.DEST.update_docs is False


def test_out_before_the_name_counts_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_bench(monkeypatch, 0)
    assert main(["bench", "--out", str(tmp_path), "rpc"]) == 0
    assert calls == [[]]
    assert common.DEST.out == tmp_path


def test_without_out_the_default_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bench(monkeypatch, 0)
    assert main(["bench", "rpc"]) == 0
    assert common.DEST.out == common.DEFAULT_OUT


def test_update_docs_outside_a_checkout_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _fake_bench(monkeypatch, 0)
    monkeypatch.setattr(common, "checkout", lambda: None)
    assert main(["bench", "rpc", "--update-docs"]) == 2
    assert "--update-docs refreshes a source checkout's docs/" in capsys.readouterr().err
    assert calls == []


def test_an_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "nope"])
    assert exc.value.code == 2
    assert "argument name: invalid choice: 'nope'" in capsys.readouterr().err


def test_json_prints_the_results_alone_on_stdout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    def fake_main(argv: list[str]) -> int:
        print("| a table for people |")
        common.write_json("rpc.json", {"rows": [1, 2]})
        return 0

    _fake_bench(monkeypatch, 0)
    monkeypatch.setitem(sys.modules, "edgeoffload.bench.rpc", types.SimpleNamespace(main=fake_main))
    assert main(["bench", "rpc", "--json", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"rows": [1, 2]}  # nothing else on stdout
    assert "| a table for people |" in captured.err and "wrote" in captured.err

    # Two results files: one object, by file name; before the name works too.
    def two(argv: list[str]) -> int:
        common.write_json("a.json", [1])
        common.write_json("b.json", [2])
        return 0

    monkeypatch.setitem(sys.modules, "edgeoffload.bench.rpc", types.SimpleNamespace(main=two))
    assert main(["bench", "--json", "rpc", "--out", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"a.json": [1], "b.json": [2]}
