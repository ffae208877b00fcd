"""Benchmarks write only where told, and run from the package (not a checkout's bench/).

Seen: ``bench decide`` rewrote docs/decision.md and bench/results/decision.json without
saying so, and ``edgeoffload bench`` imported the checkout's ``bench/`` folder, so it
failed from an installed wheel.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeoffload.bench import common
from edgeoffload.cli.bench import NAMES, _own_options
from edgeoffload.errors import ConfigError


@pytest.fixture
def dest():  # type: ignore[no-untyped-def]
    saved = common.Destination(common.DEST.out, common.DEST.update_docs)
    yield common.DEST
    common.DEST.out, common.DEST.update_docs = saved.out, saved.update_docs


def test_results_go_to_the_output_folder_only(dest, tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "bench" / "results").mkdir(parents=True)
    doc = repo / "docs" / "decision.md"
    doc.write_text("# Decision\n<!-- bench:timing:start -->\nold\n<!-- bench:timing:end -->\n")
    monkeypatch.setattr(common, "checkout", lambda: repo)
    out = tmp_path / "out"
    common.configure(out, update_docs=False)
    common.write_json("decision.json", {"a": 1})
    common.update_doc_section("decision.md", "timing", "new table")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "decision.json",
        "docs/decision-timing.md",
    ]
    assert "old" in doc.read_text() and not list((repo / "bench" / "results").iterdir())
    printed = capsys.readouterr().out
    assert f"wrote {out / 'decision.json'}" in printed  # says what it wrote
    assert common.read_json("decision.json") == {"a": 1}

    common.configure(out, update_docs=True)
    common.update_doc_section("decision.md", "timing", "new table")
    common.write_json("decision.json", {"a": 2})
    assert "new table" in doc.read_text() and "old" not in doc.read_text()
    assert (repo / "bench" / "results" / "decision.json").exists()


def test_update_docs_needs_a_checkout(dest, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(common, "checkout", lambda: None)
    with pytest.raises(ConfigError, match="--update-docs"):
        common.configure(None, update_docs=True)
    common.configure(None, update_docs=False)
    assert common.DEST.out == Path("edgeoffload-results")


def test_out_and_update_docs_after_the_name_are_the_commands() -> None:
    assert _own_options(["--parts", "timing", "--out", "x", "--update-docs"]) == (
        Path("x"),
        True,
        ["--parts", "timing"],
    )
    assert _own_options(["--out=y"]) == (Path("y"), False, [])


@pytest.mark.parametrize("name", NAMES)
def test_every_benchmark_is_a_module_of_the_package(name: str, tmp_path: Path) -> None:
    # From a folder that is not the checkout, without it on the path: as from a wheel.
    code = f"import edgeoffload.bench.{name} as m; assert callable(m.main)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
