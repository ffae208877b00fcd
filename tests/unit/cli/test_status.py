"""cli.status: URL schemes mapped to HTTP, the --watch type, the snapshot read from a
real controller in process (latest rate per node, serving verdict, exit codes 0/1/2),
the rendered table, the one-line reasons for an unreadable controller, and tokens."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest
from rich.console import Console

from edgeoffload.auth import Role, make_token
from edgeoffload.cli import main
from edgeoffload.cli.options import positive_seconds as _positive
from edgeoffload.cli.status import _http_base, render
from tests.unit.controller.serving import serving

SECRET = "k" * 40


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://h:1", "http://h:1"),
        ("https://h:1/", "https://h:1"),
        ("ws://h:1", "http://h:1"),
        ("wss://h:1//", "https://h:1"),
        ("ftp://h", None),
        ("h:8700", None),
        ("https://", None),
        ("ws://", None),
    ],
)
def test_http_base(url: str, base: str | None) -> None:
    assert _http_base(url) == base


def test_positive_seconds() -> None:
    assert _positive("0.5") == 0.5
    for bad in ("0", "-1", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected a positive number"):
            _positive(bad)


def test_a_bad_url_is_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--controller", "ftp://x"]) == 2
    assert capsys.readouterr().err == (
        "edgeoffload status: error: --controller 'ftp://x' is not an http://, https://, "
        "ws:// or wss:// URL\n"
    )


def test_an_unreachable_controller_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["status", "--json", "--controller", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"edgeoffload status: error: cannot read http://127.0.0.1:{port}/api/nodes: "
    )
    assert "refused" in err


def test_json_snapshot_and_exit_code_follow_the_serving_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(tmp_path) as s:
        assert main(["status", "--json", "--controller", s.url]) == 1  # no node yet
        empty = json.loads(capsys.readouterr().out)
        assert empty == {"controller": s.url, "nodes": [], "events": [], "serving": False}
        s.register("edge-1", with_sample=True)
        s.register("edge-2")
        ws = s.url.replace("http://", "ws://")
        assert main(["status", "--json", "--controller", ws + "/"]) == 0
        snap = json.loads(capsys.readouterr().out)
        rates = {n["node_id"]: n["completed_per_s"] for n in snap["nodes"]}
        assert rates == {"edge-1": 41.5, "edge-2": None}
        assert snap["serving"] is True
        assert [e["kind"] for e in snap["events"]] == ["joined", "joined"]
        s.request("POST", "/api/nodes/edge-1/drain")
        s.request("POST", "/api/nodes/edge-2/drain")
        assert main(["status", "--json", "--controller", s.url]) == 1  # all draining
        assert json.loads(capsys.readouterr().out)["serving"] is False


def test_the_table_is_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(tmp_path) as s:
        s.register("edge-1", with_sample=True)
        assert main(["status", "--controller", s.url]) == 0
    out = capsys.readouterr().out
    assert f"nodes of {s.url}" in out
    assert "edge-1" in out and "41.5" in out and "joined" in out
    assert "serving" in out


def test_render_marks_draining_and_the_verdict() -> None:
    snapshot = {
        "controller": "http://c",
        "nodes": [
            {
                "node_id": "b",
                "state": "suspect",
                "draining": True,
                "queue_length": 7,
                "running_tasks": 1,
                "completed_per_s": None,
                "cpu_percent": 99.6,
                "url": "ws://b",
            }
        ],
        "events": [{"ts": 0.0, "kind": "suspect", "node_id": "b", "detail": "phi 9.1"}],
        "serving": False,
    }
    console = Console(width=200, record=True, color_system=None)
    console.print(render(snapshot))
    text = console.export_text()
    row = next(line for line in text.splitlines() if "ws://b" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    # The cache columns: "-" for a controller that does not report them.
    assert cells == ["b", "suspect (draining)", "7", "1", "-", "100", "-", "-", "ws://b"]
    assert "phi 9.1" in text
    assert "no node can take work" in text


def test_a_secured_controller_needs_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGEOFFLOAD_TOKEN", raising=False)
    with serving(tmp_path, auth_secret=SECRET) as s:
        s.register("edge-1")
        assert main(["status", "--json", "--controller", s.url]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"edgeoffload status: error: {s.url}/api/nodes: HTTP 401 ")
        token_file = tmp_path / "token"
        token_file.write_text(make_token(SECRET, "ops", Role.CLIENT, 60) + "\n")
        assert (
            main(["status", "--json", "--controller", s.url, "--token-file", str(token_file)]) == 0
        )
        capsys.readouterr()
        monkeypatch.setenv("EDGEOFFLOAD_TOKEN", make_token(SECRET, "ops", Role.CLIENT, 60))
        assert main(["status", "--json", "--controller", s.url]) == 0
        capsys.readouterr()


def test_a_missing_ca_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "ca.pem"
    assert main(["status", "--controller", "https://h:1", "--tls-ca-file", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload status: error: cannot read {missing}: No such file or directory\n"
    )


def test_an_endless_refresh_period_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """`--watch inf` was accepted, then time.sleep(inf) raised OverflowError mid-watch."""
    from edgeoffload.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["status", "--watch", "inf"])
    assert exit_.value.code == 2
    assert "expected a positive number of seconds, got 'inf'" in capsys.readouterr().err
