"""The benchmarks' shared helpers: nearest-rank percentiles, the summary every report
prints, machine facts, and writing only into the destination.

A wrong percentile or rounding silently changes every figure in docs/performance.md,
and a section writer that eats its neighbours destroys hand-written docs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeoffload.bench import common
from edgeoffload.errors import ConfigError


@pytest.fixture
def dest() -> Iterator[common.Destination]:
    saved = common.Destination(common.DEST.out, common.DEST.update_docs)
    yield common.DEST
    common.DEST.out, common.DEST.update_docs = saved.out, saved.update_docs


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "bench" / "results").mkdir(parents=True)
    monkeypatch.setattr(common, "checkout", lambda: root)
    return root


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# percentile ---------------------------------------------------------------------------


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(common.percentile([], 0.5))


def test_percentile_of_one_value_is_that_value_at_every_q() -> None:
    assert [common.percentile([7.0], q) for q in (0.0, 0.5, 0.99, 1.0)] == [7.0] * 4


def test_percentile_is_the_nearest_rank_not_an_interpolation() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert common.percentile(values, 0.0) == 1.0
    assert common.percentile(values, 1.0) == 10.0
    # index round(0.5 * 9) = round(4.5) = 4 (banker's rounding): no 5.5
    assert common.percentile(values, 0.5) == 5.0
    assert common.percentile(values, 0.99) == 10.0
    assert common.percentile(values, 0.25) == 3.0  # round(2.25) = 2


def test_percentile_clamps_q_outside_zero_one() -> None:
    values = [1.0, 2.0, 3.0]
    assert common.percentile(values, -1.0) == 1.0
    assert common.percentile(values, 5.0) == 3.0


def test_percentile_trusts_the_order_it_is_given() -> None:
    """It does not sort: callers sort once and ask several quantiles."""
    assert common.percentile([3.0, 1.0, 2.0], 0.0) == 3.0


# summary_ms ---------------------------------------------------------------------------


def test_summary_ms_converts_seconds_sorts_and_rounds_to_four_places() -> None:
    seconds = [0.003, 0.001, 0.002, 0.0123456789]
    assert common.summary_ms(seconds) == {
        "p50": 3.0,  # sorted [1, 2, 3, 12.35]; round(1.5) = 2 -> 3.0
        "p99": 12.3457,
        "mean": round((1 + 2 + 3 + 12.3456789) / 4, 4),
        "n": 4,
    }


def test_summary_ms_keys_are_in_report_order() -> None:
    assert list(common.summary_ms([0.001])) == ["p50", "p99", "mean", "n"]


def test_summary_ms_of_a_single_sample() -> None:
    assert common.summary_ms([0.25]) == {"p50": 250.0, "p99": 250.0, "mean": 250.0, "n": 1}


def test_summary_ms_of_no_samples_is_an_error_not_a_report_of_nans() -> None:
    with pytest.raises(statistics_error()):
        common.summary_ms([])


def statistics_error() -> type[Exception]:
    import statistics

    return statistics.StatisticsError


# versions / machine -------------------------------------------------------------------


def test_versions_names_a_missing_package_as_none() -> None:
    got = common.versions("pytest", "no-such-package-edgeoffload-test")
    assert got["no-such-package-edgeoffload-test"] is None
    assert got["pytest"] == pytest.__version__
    assert list(got) == ["pytest", "no-such-package-edgeoffload-test"]


def test_versions_of_nothing_is_empty() -> None:
    assert common.versions() == {}


def test_machine_reports_the_fixed_packages_then_the_asked_ones() -> None:
    facts = common.machine("pytest")
    assert list(facts) == ["cores", "cpu", "python", "platform", "packages"]
    assert list(facts["packages"]) == [
        "edgeoffload",
        "websockets",
        "msgspec",
        "numpy",
        "pytest",
    ]
    assert facts["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(facts["cpu"], str)
    assert facts["cores"] is None or facts["cores"] >= 1


def test_machine_without_proc_cpuinfo_has_an_empty_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.read_text

    def fake(self: Path, *args: object, **kwargs: object) -> str:
        if str(self) == "/proc/cpuinfo":
            raise FileNotFoundError(self)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", fake)
    assert common.machine()["cpu"] == ""


def test_machine_reads_the_model_name_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.read_text

    def fake(self: Path, *args: object, **kwargs: object) -> str:
        if str(self) == "/proc/cpuinfo":
            return "processor\t: 0\nmodel name\t:  Test CPU @ 1GHz  \nflags\t: x\n"
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", fake)
    assert common.machine()["cpu"] == "Test CPU @ 1GHz"


# checkout / configure -----------------------------------------------------------------


def test_checkout_is_the_folder_holding_docs_and_bench_results_or_none() -> None:
    root = common.checkout()
    if root is not None:
        assert (root / "docs").is_dir()
        assert (root / "bench" / "results").is_dir()
        assert (root / "src" / "edgeoffload" / "bench" / "common.py").is_file()


def test_configure_defaults_to_the_users_results_folder(dest: common.Destination) -> None:
    common.configure(None, update_docs=False)
    assert dest.out == Path("edgeoffload-results")
    assert dest.update_docs is False


def test_configure_takes_out(dest: common.Destination, tmp_path: Path) -> None:
    common.configure(tmp_path / "o", update_docs=False)
    assert dest.out == tmp_path / "o"


def test_update_docs_outside_a_checkout_is_refused_with_the_whole_reason(
    dest: common.Destination, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "checkout", lambda: None)
    common.configure(tmp_path / "before", update_docs=False)
    with pytest.raises(ConfigError) as info:
        common.configure(tmp_path / "o", update_docs=True)
    assert str(info.value) == (
        "--update-docs refreshes a source checkout's docs/ and bench/results/, and this "
        "package is not running from one; use --out DIR"
    )
    # a refused configure leaves the destination as it was
    assert dest.out == tmp_path / "before"
    assert dest.update_docs is False


def test_update_docs_inside_a_checkout_is_accepted(
    dest: common.Destination, repo: Path, tmp_path: Path
) -> None:
    common.configure(tmp_path / "o", update_docs=True)
    assert dest.update_docs is True


# write_json / read_json ---------------------------------------------------------------


def test_write_json_writes_only_the_output_folder_and_says_so(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deep" / "out"
    common.configure(out, update_docs=False)
    path = common.write_json("x.json", {"b": 1, "a": [1, 2]})
    assert path == out / "x.json"
    # keys keep their order, two-space indent, trailing newline
    assert path.read_text() == '{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}\n'
    assert _files(repo) == []
    assert capsys.readouterr().out == f"wrote {path}\n"


def test_write_json_with_update_docs_also_writes_bench_results(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    common.configure(out, update_docs=True)
    path = common.write_json("x.json", [1])
    assert path == out / "x.json"
    assert (repo / "bench" / "results" / "x.json").read_text() == path.read_text() == "[\n  1\n]\n"
    assert _files(repo) == ["bench/results/x.json"]
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {out / 'x.json'}",
        f"wrote {repo / 'bench' / 'results' / 'x.json'}",
    ]


def test_read_json_reads_from_the_output_folder(
    dest: common.Destination, repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    common.configure(out, update_docs=False)
    assert common.read_json("r.json") is None
    (repo / "bench" / "results" / "r.json").write_text('{"repo": true}')
    assert common.read_json("r.json") is None  # not from the checkout
    out.mkdir()
    (out / "r.json").write_text('{"out": 1}')
    assert common.read_json("r.json") == {"out": 1}


def test_read_json_with_update_docs_reads_from_bench_results(
    dest: common.Destination, repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.json").write_text('{"out": 1}')
    common.configure(out, update_docs=True)
    assert common.read_json("r.json") is None
    (repo / "bench" / "results" / "r.json").write_text('{"repo": true}')
    assert common.read_json("r.json") == {"repo": True}


def test_what_write_json_wrote_read_json_reads_back(
    dest: common.Destination, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common.configure(tmp_path, update_docs=False)
    data = {"rows": [{"p50": 1.5, "n": 3}], "machine": None}
    common.write_json("round.json", data)
    assert common.read_json("round.json") == data


# update_doc_section -------------------------------------------------------------------


def test_a_section_without_update_docs_goes_to_out_docs_only(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repo / "docs" / "perf.md"
    doc.write_text("# Perf\nhand written\n")
    out = tmp_path / "out"
    common.configure(out, update_docs=False)
    path = common.update_doc_section("perf.md", "timing", "| a |\n\n\n")
    assert path == out / "docs" / "perf-timing.md"
    assert path.read_text() == "| a |\n"  # trailing blank lines trimmed to one newline
    assert doc.read_text() == "# Perf\nhand written\n"
    assert _files(repo) == ["docs/perf.md"]
    assert capsys.readouterr().out == f"wrote {path}\n"


def test_a_section_replaces_only_between_its_markers(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repo / "docs" / "perf.md"
    doc.write_text(
        "# Perf\nintro\n"
        "<!-- bench:other:start -->\nkeep me\n<!-- bench:other:end -->\n"
        "between\n"
        "<!-- bench:timing:start -->\nold\nlines\n<!-- bench:timing:end -->\n"
        "outro\n"
    )
    common.configure(tmp_path / "out", update_docs=True)
    path = common.update_doc_section("perf.md", "timing", "new\n")
    assert path == doc
    assert doc.read_text() == (
        "# Perf\nintro\n"
        "<!-- bench:other:start -->\nkeep me\n<!-- bench:other:end -->\n"
        "between\n"
        "<!-- bench:timing:start -->\nnew\n<!-- bench:timing:end -->\n"
        "outro\n"
    )
    assert (tmp_path / "out" / "docs" / "perf-timing.md").read_text() == "new\n"
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {tmp_path / 'out' / 'docs' / 'perf-timing.md'}",
        f"wrote {doc}",
    ]


def test_replacing_a_section_twice_is_the_same_as_once(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repo / "docs" / "perf.md"
    doc.write_text("# Perf\n")
    common.configure(tmp_path / "out", update_docs=True)
    common.update_doc_section("perf.md", "t", "one")
    once = doc.read_text()
    common.update_doc_section("perf.md", "t", "one")
    assert doc.read_text() == once
    assert once.count("<!-- bench:t:start -->") == 1


def test_a_missing_section_is_appended_after_one_blank_line(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repo / "docs" / "perf.md"
    doc.write_text("# Perf\ntext\n\n\n")
    common.configure(tmp_path / "out", update_docs=True)
    common.update_doc_section("perf.md", "timing", "table")
    assert doc.read_text() == (
        "# Perf\ntext\n\n<!-- bench:timing:start -->\ntable\n<!-- bench:timing:end -->\n"
    )


def test_a_section_with_only_its_start_marker_is_appended_not_spliced(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repo / "docs" / "perf.md"
    doc.write_text("# Perf\n<!-- bench:timing:start -->\nhalf\n")
    common.configure(tmp_path / "out", update_docs=True)
    common.update_doc_section("perf.md", "timing", "table")
    assert doc.read_text() == (
        "# Perf\n<!-- bench:timing:start -->\nhalf\n\n"
        "<!-- bench:timing:start -->\ntable\n<!-- bench:timing:end -->\n"
    )


def test_a_missing_doc_is_created_with_a_title(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common.configure(tmp_path / "out", update_docs=True)
    path = common.update_doc_section("wire-format.md", "sizes", "rows")
    assert path == repo / "docs" / "wire-format.md"
    assert path.read_text() == (
        "# Wire-Format\n\n<!-- bench:sizes:start -->\nrows\n<!-- bench:sizes:end -->\n"
    )


def test_a_similarly_named_section_is_left_alone(
    dest: common.Destination, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = repo / "docs" / "perf.md"
    doc.write_text("<!-- bench:timing2:start -->\nx\n<!-- bench:timing2:end -->\n")
    common.configure(tmp_path / "out", update_docs=True)
    common.update_doc_section("perf.md", "timing", "y")
    text = doc.read_text()
    assert text.startswith("<!-- bench:timing2:start -->\nx\n<!-- bench:timing2:end -->\n\n")
    assert text.endswith("<!-- bench:timing:start -->\ny\n<!-- bench:timing:end -->\n")


# small helpers ------------------------------------------------------------------------


def test_python_is_this_interpreter() -> None:
    assert common.python() == sys.executable


def test_core_speed_is_a_positive_figure_with_one_decimal() -> None:
    speed = common.core_speed()
    assert speed > 0
    assert round(speed, 1) == speed


def test_start_process_returns_the_rest_of_the_ready_line() -> None:
    # The child waits on a sleep, not on stdin: pytest's stdin reads as empty at once,
    # so a child blocked on it exited at once, racing the poll below (a flaky failure).
    code = "print('noise'); print('READY  ws://x:1 ', flush=True); import time; time.sleep(60)"
    proc, rest = common.start_process([sys.executable, "-c", code], timeout=30)
    try:
        assert rest == "ws://x:1"
        assert proc.poll() is None
    finally:
        common.stop_process(proc)
    assert proc.returncode is not None
    assert proc.stdout is not None and proc.stdout.closed


def test_a_process_that_exits_before_ready_is_named_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """And its pipe is closed (was left open: a ResourceWarning, an error under pytest)."""
    started: list[subprocess.Popen[str]] = []
    real = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[str]:
        proc = real(*args, **kwargs)  # type: ignore[call-overload]
        started.append(proc)
        return proc  # type: ignore[no-any-return]

    monkeypatch.setattr(common.subprocess, "Popen", popen)
    args = [sys.executable, "-c", "import sys; print('no'); sys.exit(3)"]
    with pytest.raises(RuntimeError) as info:
        common.start_process(args, timeout=30)
    assert str(info.value) == f"{args} did not become ready (exit 3)"
    [proc] = started
    assert proc.stdout is not None and proc.stdout.closed


def test_stop_process_of_an_exited_process_only_closes_its_output() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"], stdout=subprocess.PIPE, text=True)
    proc.wait()
    common.stop_process(proc)
    assert proc.returncode == 0
    assert proc.stdout is not None and proc.stdout.closed


def test_json_written_is_valid_json(
    dest: common.Destination, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common.configure(tmp_path, update_docs=False)
    path = common.write_json("u.json", {"é": "ü"})
    assert json.loads(path.read_text()) == {"é": "ü"}
