"""cli.completion: ``edgeoffload completion bash|zsh|tcsh`` prints a completion script
(shtab, from the one argparse tree) that completes subcommands, their options and the
choices of a value; checked by running bash's own completion machinery on it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from edgeoffload.cli import main


def script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def complete(text: str, words: list[str]) -> list[str]:
    """What bash offers for the last word of ``edgeoffload WORDS``."""
    line = " ".join(["edgeoffload", *words])
    program = (
        f"{text}\n"
        f"COMP_WORDS=(edgeoffload {' '.join(repr(w) for w in words)}); "
        f"COMP_CWORD={len(words)}; COMP_LINE={line!r}; COMP_POINT={len(line)}; "
        "_shtab_edgeoffload; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [w.strip() for w in done.stdout.splitlines() if w.strip()]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_choices(capsys: pytest.CaptureFixture[str]) -> None:
    text = script("bash", capsys)
    assert complete(text, ["no"]) == ["node"]
    assert "--chunk-budget-s" in complete(text, ["node", "--chunk"])
    assert set(complete(text, ["node", "--log-format", ""])) == {"text", "json"}
    assert "compare" in complete(text, ["sim", "co"])
    assert complete(text, ["completion", "z"]) == ["zsh"]


@pytest.mark.parametrize("shell", ["zsh", "tcsh"])
def test_other_shells_get_a_script_naming_every_command(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeoffload.cli import COMMANDS

    text = script(shell, capsys)
    for name in COMMANDS:
        assert name in text, name
    if shell == "zsh" and shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n"], input=text, text=True).returncode == 0


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["completion", "fish"])
    assert exc.value.code == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err
