"""cli.controller: a port in use is one line naming the address, exit code 2, and no
database is created; beyond loopback without a secret, the warning comes first."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeoffload.cli import main


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEOFFLOAD_AUTH_SECRET", raising=False)


def test_a_port_in_use_is_one_line_and_creates_nothing(
    taken_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["controller", "--port", str(taken_port), "--store", f"sqlite:///{tmp_path}/c.db"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"edgeoffload controller: error: cannot listen on 127.0.0.1:{taken_port}: "
        "address already in use (another process listens there)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_beyond_loopback_without_a_secret_warns_first(
    taken_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["controller", "--host", "0.0.0.0", "--port", str(taken_port)]
    assert main([*argv, "--store", f"sqlite:///{tmp_path}/c.db"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(
        "WARNING: this controller listens on 0.0.0.0, beyond loopback, WITHOUT authentication"
    )
    assert lines[1] == (
        f"edgeoffload controller: error: cannot listen on 0.0.0.0:{taken_port}: "
        "address already in use (another process listens there)"
    )
