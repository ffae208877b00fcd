"""cli.token: ``edgeoffload token create``: durations with units, the secret from a file
or the environment (never argv), its minimum length, and a token that verifies."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from edgeoffload.auth import MIN_SECRET_CHARS, Keys, Role, verify_token
from edgeoffload.cli.token import add_arguments, duration, run

SECRET = "s" * MIN_SECRET_CHARS


def args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(p)
    return p.parse_args(["create", *argv])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("24h", 86400.0), ("7d", 604800.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds
    assert duration(f" {text} ") == seconds
    assert duration("1.5h") == 5400.0


@pytest.mark.parametrize("text", ["0", "0h", "-5", "5w", "h", "", "1e3"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected a positive duration like 24h"):
        duration(text)


def test_a_token_from_the_environment_verifies(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGEOFFLOAD_AUTH_SECRET", SECRET)
    assert run(args("--role", "node", "--subject", "edge-1", "--ttl", "2h")) == 0
    token = capsys.readouterr().out.strip()
    claims = verify_token(Keys(SECRET), token, [Role.NODE])
    assert (claims.subject, claims.role) == ("edge-1", Role.NODE)
    assert claims.expires_at == pytest.approx(time.time() + 7200, abs=60)


def test_a_secret_file_wins_and_only_its_first_line_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGEOFFLOAD_AUTH_SECRET", "e" * MIN_SECRET_CHARS)
    path = tmp_path / "secret"
    path.write_text(f"{SECRET}\nignored second line\n")
    assert run(args("--role", "client", "--subject", "me", "--secret-file", str(path))) == 0
    token = capsys.readouterr().out.strip()
    assert verify_token(Keys(SECRET), token, [Role.CLIENT]).subject == "me"
    assert args("--role", "client", "--subject", "me").ttl == 24 * 3600.0


def test_no_secret_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EDGEOFFLOAD_AUTH_SECRET", raising=False)
    assert run(args("--role", "admin", "--subject", "ops")) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        "edgeoffload token: error: no secret: give --secret-file FILE or set "
        "EDGEOFFLOAD_AUTH_SECRET\n"
    )


def test_a_short_secret_is_refused_with_its_length(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGEOFFLOAD_AUTH_SECRET", "short")
    assert run(args("--role", "admin", "--subject", "ops")) == 2
    err = capsys.readouterr().err
    assert f"the secret has 5 characters; at least {MIN_SECRET_CHARS} are needed" in err


def test_an_unreadable_secret_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeoffload.cli import main

    missing = tmp_path / "nope"
    argv = ["token", "create", "--role", "admin", "--subject", "ops", "--secret-file"]
    assert main([*argv, str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload token: configuration error: cannot read --secret-file {missing}: "
        "No such file or directory\n"
    )


def test_roles_are_a_closed_set() -> None:
    with pytest.raises(argparse.ArgumentError, match="invalid choice: 'root'"):
        args("--role", "root", "--subject", "x")
