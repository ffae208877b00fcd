"""cli.options: command-line flags derived from the config structs (one per field, help
from the field's ``#:`` comment, no flag for a secret), only given flags becoming
overrides, KEY=VALUE parsing, and the one-line bind error."""

from __future__ import annotations

import argparse
import errno

import pytest

from edgeoffload.cli.options import _comments, _key_value, add_config_options, bind_error, overrides
from edgeoffload.config import SECRET_FIELDS, ClientConfig, ControllerConfig, NodeConfig


def parser(cls: type = NodeConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    add_config_options(p, cls)  # type: ignore[arg-type]
    return p


def flags(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def test_help_comes_from_the_comment_above_each_field() -> None:
    helps = _comments(NodeConfig)
    assert helps["port"] == "0 picks a free port; the node prints the URL it listens on."
    assert helps["max_chunk"].startswith("Most tasks handed to one worker at once.")
    assert "(one task per call tops out" in helps["max_chunk"]  # continued lines joined
    assert "host" not in helps  # a field without a #: comment has none


@pytest.mark.parametrize("cls", [NodeConfig, ClientConfig, ControllerConfig])
def test_one_flag_per_field_and_none_for_secrets(cls: type) -> None:
    import msgspec

    names = {f.name for f in msgspec.structs.fields(cls)}
    got = flags(parser(cls))
    for name in names - SECRET_FIELDS:
        assert "--" + name.replace("_", "-") in got, name
    for name in names & SECRET_FIELDS:
        assert "--" + name.replace("_", "-") not in got, name  # argv is visible in ps
    assert "--config" in got


def test_only_given_flags_become_overrides() -> None:
    args = parser().parse_args(["--port", "9000", "--workers", "3"])
    assert overrides(args, NodeConfig) == {"port": "9000", "workers": "3"}  # typed later
    assert overrides(parser().parse_args([]), NodeConfig) == {}


def test_lists_dicts_and_booleans() -> None:
    node = parser().parse_args(["--tasks", "a.b", "c.d", "--labels", "gpu=a100", "zone=x=y"])
    assert overrides(node, NodeConfig) == {
        "tasks": ["a.b", "c.d"],
        "labels": {"gpu": "a100", "zone": "x=y"},  # split at the first =
    }
    client = parser(ClientConfig)
    assert overrides(client.parse_args(["--no-batching"]), ClientConfig) == {"batching": False}
    assert overrides(client.parse_args(["--batching"]), ClientConfig) == {"batching": True}


@pytest.mark.parametrize("text", ["novalue", "=v", ""])
def test_key_value_needs_a_key_and_an_equals_sign(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE, got"):
        _key_value(text)
    assert _key_value("k=") == ("k", "")


def test_help_shows_the_default_and_survives_percent_signs() -> None:
    text = parser().format_help()
    assert "(default: 8765)" in text
    assert "default: 127.0.0.1" in text
    parser(ControllerConfig).format_help()  # a '%' in a help would raise here


def test_bind_errors_are_one_line_with_the_reason() -> None:
    in_use = OSError(errno.EADDRINUSE, "Address already in use")
    assert bind_error("node", "127.0.0.1", 8765, in_use) == (
        "edgeoffload node: error: cannot listen on 127.0.0.1:8765: "
        "address already in use (another process listens there)\n"
    )
    denied = OSError(errno.EACCES, "Permission denied")
    assert bind_error("controller", "0.0.0.0", 80, denied).endswith(
        "cannot listen on 0.0.0.0:80: permission denied\n"
    )
    bare = OSError("no errno")
    assert bind_error("node", "h", 1, bare).endswith("cannot listen on h:1: no errno\n")


def test_every_help_names_what_a_value_is_not_value() -> None:
    # `--help` said `--port VALUE`, `--chunk-budget-s VALUE`, ... for every config flag.
    import re

    from edgeoffload.cli import build_parser

    _, subparsers = build_parser()
    for name, sub in subparsers.items():
        text = sub.format_help()
        assert not re.search(r"(?<![=\w])VALUE\b", text), (name, text)
    node = subparsers["node"].format_help()
    for shown in (
        "--port PORT",
        "--host HOST",
        "--chunk-budget-s SECONDS",
        "--max-frame-bytes BYTES",
        "--workers N",
        "--tasks MODULE [MODULE ...]",
        "--controller URL",
        "--tls-cert-file FILE",
        "--labels KEY=VALUE [KEY=VALUE ...]",
        "--speed-hz HZ",
    ):
        assert shown in node, shown
    controller = subparsers["controller"].format_help()
    assert "--cpu-percent-max PERCENT" in controller and "--suspect-phi PHI" in controller
