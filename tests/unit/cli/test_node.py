"""cli.node: a port in use is one line naming the address, exit code 2 and nothing on
stdout (no READY line); a flag out of range is a one-line configuration error."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from edgeoffload.cli import main


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEOFFLOAD_AUTH_SECRET", raising=False)


def test_a_port_in_use_is_one_line(taken_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "--port", str(taken_port), "--workers", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"edgeoffload node: error: cannot listen on 127.0.0.1:{taken_port}: "
        "address already in use (another process listens there)\n"
    )


def test_a_bad_flag_value_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "--port", "99999"]) == 2
    assert capsys.readouterr().err == (
        "edgeoffload node: configuration error: port: Expected `int` <= 65535\n"
    )
