"""cli.config: `config show` prints the effective configuration of each component as
JSON: defaults, then the file, then the environment; secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeoffload.cli import main


def show(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["config", "show", *argv]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("EDGEOFFLOAD_"):
            monkeypatch.delenv(key)


def test_node_is_the_default_component(capsys: pytest.CaptureFixture[str]) -> None:
    out = show(capsys)
    assert list(out) == ["node"]
    node = out["node"]
    assert isinstance(node, dict)
    assert node["port"] == 8765
    assert node["auth_secret"] is None


@pytest.mark.parametrize(("component", "field"), [("controller", "store"), ("client", "urls")])
def test_each_component(capsys: pytest.CaptureFixture[str], component: str, field: str) -> None:
    out = show(capsys, component)
    assert list(out) == [component]
    assert field in out[component]  # type: ignore[operator]


def test_file_then_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[controller]\nport = 9001\nhost = "0.0.0.0"\n')
    out = show(capsys, "controller", "--config", str(f))["controller"]
    assert isinstance(out, dict)
    assert (out["port"], out["host"]) == (9001, "0.0.0.0")
    monkeypatch.setenv("EDGEOFFLOAD_CONTROLLER__PORT", "9002")
    out = show(capsys, "controller", "--config", str(f))["controller"]
    assert isinstance(out, dict)
    assert (out["port"], out["host"]) == (9002, "0.0.0.0")


def test_a_secret_is_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEOFFLOAD_AUTH_SECRET", "x" * 40)
    text = json.dumps(show(capsys, "node"))
    assert "x" * 40 not in text
    assert '"auth_secret": "<redacted>"' in text


def test_a_bad_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[node]\nport = 'eighty'\n")
    assert main(["config", "show", "--config", str(f)]) == 2
    assert capsys.readouterr().err == (
        "edgeoffload config: configuration error: port: Expected `int`, got `str`\n"
    )


def test_only_show_and_known_components(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["config", "list"], ["config", "show", "dashboard"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "invalid choice: 'dashboard'" in capsys.readouterr().err
