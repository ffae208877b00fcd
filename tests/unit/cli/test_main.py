"""cli (the package): one parser per chosen subcommand, the one-line usage error with
exit code 2, no abbreviated options, unknown arguments named by their subcommand,
ConfigError and Ctrl-C turned into exit codes, and every command's help."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

import edgeoffload.cli as cli
from edgeoffload.cli import COMMANDS, Parser, build_parser, main
from edgeoffload.errors import ConfigError
from edgeoffload.version import __version__


def test_parser_error_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    p = Parser(prog="edgeoffload x")
    with pytest.raises(SystemExit) as exc:
        p.error("bad thing")
    assert exc.value.code == 2
    assert capsys.readouterr().err == "edgeoffload x: error: bad thing (try --help)\n"


def test_parser_refuses_abbreviated_options() -> None:
    p = Parser(prog="t")
    p.add_argument("--secret-file")
    assert p.parse_known_args(["--secret", "S"])[1] == ["--secret", "S"]
    assert p.parse_args(["--secret-file", "F"]).secret_file == "F"


def test_no_command_prints_help_and_returns_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: edgeoffload")
    for name in COMMANDS:
        assert name in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"edgeoffload {__version__}\n"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("edgeoffload: error: argument COMMAND: invalid choice: 'frobnicate'")
    assert err.endswith("(try --help)\n")


def test_unknown_option_is_named_by_its_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["config", "show", "--bogus", "1"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        "edgeoffload config: error: unrecognized arguments: --bogus 1 (try --help)\n"
    )


def test_build_parser_has_every_command_with_log_options() -> None:
    _, subs = build_parser()
    assert list(subs) == list(COMMANDS)
    for name, sub in subs.items():
        dests = {a.dest for a in sub._actions}
        assert {"log_level", "log_format"} <= dests, name
        assert sub.description == COMMANDS[name][1]


def test_log_level_is_case_insensitive_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    p = argparse.ArgumentParser()
    cli.add_log_options(p)
    args = p.parse_args(["--log-level", "debug", "--log-format", "json"])
    assert (args.log_level, args.log_format) == ("DEBUG", "json")
    assert p.parse_args([]).log_level == "WARNING"
    with pytest.raises(SystemExit):
        p.parse_args(["--log-level", "loud"])
    capsys.readouterr()


def _fake_command(monkeypatch: pytest.MonkeyPatch, behaviour: Any) -> None:
    """Make `config` run `behaviour(args)` (parsing stays the real one)."""
    import edgeoffload.cli.config as config_cli

    monkeypatch.setattr(config_cli, "run", behaviour)


def test_config_error_becomes_exit_code_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(args: argparse.Namespace) -> int:
        raise ConfigError("port: expected an int")

    _fake_command(monkeypatch, refuse)
    assert main(["config", "show"]) == 2
    assert capsys.readouterr().err == (
        "edgeoffload config: configuration error: port: expected an int\n"
    )


def test_ctrl_c_becomes_exit_code_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    _fake_command(monkeypatch, interrupted)
    assert main(["config", "show"]) == 130
    assert capsys.readouterr().err == "edgeoffload config: interrupted\n"


def test_the_commands_code_is_returned_and_args_are_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[argparse.Namespace] = []

    def record(args: argparse.Namespace) -> int:
        seen.append(args)
        return 7

    _fake_command(monkeypatch, record)
    assert main(["config", "show", "client", "--log-level", "error"]) == 7
    assert seen[0].command == "config"
    assert seen[0].component == "client"
    assert seen[0].log_level == "ERROR"


def test_other_errors_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("bug")

    _fake_command(monkeypatch, broken)
    with pytest.raises(RuntimeError, match="bug"):
        main(["config", "show"])
