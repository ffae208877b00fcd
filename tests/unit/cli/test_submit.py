"""cli.submit: the --deadline/--timeout type, URLs and JSON arguments refused before any
connection, token files, a refused node named with its reason after --timeout, and
results of numpy arrays and bytes printed as JSON."""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.cli import main
from edgeoffload.cli.options import positive_seconds as positive
from edgeoffload.cli.submit import _jsonable
from tests.conftest import NodeProcess


def test_positive() -> None:
    assert positive("2.5") == 2.5
    for bad in ("0", "-3", "inf", "nan", "soon"):
        with pytest.raises(argparse.ArgumentTypeError) as exc:
            positive(bad)
        assert str(exc.value) == f"expected a positive number of seconds, got {bad!r}"


def test_a_bad_deadline_is_refused_at_parse_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["submit", "add", "--deadline", "0"])
    assert exc.value.code == 2
    assert "argument --deadline: expected a positive number of seconds, got '0'" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("url", ["http://h:1/offload", "wss://", "h:1"])
def test_a_url_that_is_not_a_node_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "add", "1", "--url", "ws://ok:1/offload", "--url", url]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload submit: error: --url {url!r} is not a node URL "
        "(ws://HOST:PORT/offload or wss://...)\n"
    )


def test_an_argument_that_is_not_json_is_named_by_position(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["submit", "add", "1", "two"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgeoffload submit: error: argument 2 is not JSON (")
    assert err.endswith("): 'two'\n")


def test_a_missing_token_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "t"
    assert main(["submit", "add", "--token-file", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload submit: configuration error: cannot read --token-file {missing}: "
        "No such file or directory\n"
    )


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_refused_node_is_named_with_its_reason(
    closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"ws://127.0.0.1:{closed_port}/offload"
    t0 = time.monotonic()
    assert main(["submit", "add", "1", "2", "--url", url, "--timeout", "0.3"]) == 1
    assert time.monotonic() - t0 < 5
    err = capsys.readouterr().err
    assert err.startswith(
        f"edgeoffload submit: NoNodeAvailable: no node could take task 'add' within 0.3 s ({url}: "
    )
    assert "ConnectionRefusedError" in err


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers the WebSocket handshake."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_timeout_bounds_the_wait_for_a_node_that_never_answers(
    silent_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # It waited connect_timeout_s (5 s) for the handshake, then said "within 0.3 s".
    url = f"ws://127.0.0.1:{silent_port}/offload"
    t0 = time.monotonic()
    assert main(["submit", "add", "1", "2", "--url", url, "--timeout", "0.3"]) == 1
    assert time.monotonic() - t0 < 2.0
    err = capsys.readouterr().err
    assert err.startswith(
        f"edgeoffload submit: NoNodeAvailable: no node could take task 'add' within 0.3 s ({url}: "
    ), err
    assert "no answer" in err, err


def test_results_as_json() -> None:
    assert _jsonable(np.arange(3)) == [0, 1, 2]
    assert _jsonable(np.float32(0.5)) == 0.5
    assert _jsonable(b"\x00\xff") == "00ff"
    with pytest.raises(TypeError, match="set is not JSON"):
        _jsonable({1})


def test_json_gives_the_value_and_where_and_how_it_ran(
    node: NodeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert main(["submit", "add", "1", "2", "--url", node.url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["value"] == 3 and out["task"] == "add" and out["attempts"] == 1
    assert out["where"] not in (None, "device") and out["state"] == "done"
    assert {"task_id", "queue_ms", "run_ms", "transfer_ms", "total_ms", "cached"} <= set(out)
