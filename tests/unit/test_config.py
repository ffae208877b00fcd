from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeoffload.config import ClientConfig, NodeConfig, load
from edgeoffload.errors import ConfigError


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    f = tmp_path / "edge.toml"
    f.write_text('[node]\nworkers = 3\nport = 9000\nhost = "0.0.0.0"\n')
    cfg = load(
        NodeConfig,
        toml_path=f,
        env={"EDGEOFFLOAD_NODE__PORT": "9100"},
        overrides={"host": "127.0.0.2"},
    )
    assert (cfg.workers, cfg.port, cfg.host) == (3, 9100, "127.0.0.2")
    assert cfg.max_pending == NodeConfig().max_pending


def test_env_values_parse_as_toml_literals() -> None:
    cfg = load(
        NodeConfig,
        env={"EDGEOFFLOAD_NODE__TASKS": '["a.b", "c"]', "EDGEOFFLOAD_AUTH_SECRET": "s" * 32},
    )
    assert cfg.tasks == ["a.b", "c"] and cfg.auth_secret == "s" * 32
    client = load(ClientConfig, env={"EDGEOFFLOAD_CLIENT__BATCHING": "false"})
    assert client.batching is False


def test_each_component_has_its_own_variables() -> None:
    """Seen: EDGEOFFLOAD_HEARTBEAT_INTERVAL_S set the node's controller heartbeat and the
    client's data heartbeat at once, and EDGEOFFLOAD_PORT moved node and controller."""
    from edgeoffload.config import ControllerConfig

    env = {"EDGEOFFLOAD_NODE__PORT": "9100", "EDGEOFFLOAD_CLIENT__HEARTBEAT_INTERVAL_S": "0.5"}
    assert load(NodeConfig, env=env).port == 9100
    assert load(ControllerConfig, env=env).port == ControllerConfig().port
    assert load(ClientConfig, env=env).heartbeat_interval_s == 0.5
    assert load(NodeConfig, env=env).heartbeat_interval_s == NodeConfig().heartbeat_interval_s


def test_the_site_secret_is_shared_unless_a_component_sets_its_own() -> None:
    from edgeoffload.config import ControllerConfig

    env = {"EDGEOFFLOAD_AUTH_SECRET": "s" * 32, "EDGEOFFLOAD_NODE__AUTH_SECRET": "n" * 32}
    assert load(NodeConfig, env=env).auth_secret == "n" * 32
    assert load(ControllerConfig, env=env).auth_secret == "s" * 32


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("EDGEOFFLOAD_NODE_PORT", "did you mean EDGEOFFLOAD_NODE__PORT?"),
        ("EDGEOFFLOAD_PORT", "did you mean EDGEOFFLOAD_NODE__PORT?"),
        ("EDGEOFFLOAD_CLIENT__PLACMENT", "did you mean EDGEOFFLOAD_CLIENT__PLACEMENT?"),
        ("EDGEOFFLOAD_ZZZZZZZZZZZZZZZZZZZZZZZZZ", "EDGEOFFLOAD_<COMPONENT>__<FIELD>"),
    ],
)
def test_an_unknown_variable_is_refused_with_the_closest_name(name: str, hint: str) -> None:
    """Seen: EDGEOFFLOAD_NODE_PORT=abc was silently ignored."""
    with pytest.raises(
        ConfigError, match=f"unknown environment variable {name}.*{re.escape(hint)}"
    ):
        load(NodeConfig, env={name: "abc"})


def test_lists_and_tables_take_simple_syntax() -> None:
    """Seen: lists and tables needed TOML literals, and the error did not say so."""
    env = {"EDGEOFFLOAD_NODE__TASKS": "a.b, c", "EDGEOFFLOAD_NODE__LABELS": "gpu=true,zone=a"}
    cfg = load(NodeConfig, env=env)
    assert cfg.tasks == ["a.b", "c"] and cfg.labels == {"gpu": "true", "zone": "a"}
    inline = load(NodeConfig, env={"EDGEOFFLOAD_NODE__LABELS": '{gpu = "true"}'})
    assert inline.labels == {"gpu": "true"}
    with pytest.raises(ConfigError, match="EDGEOFFLOAD_NODE__LABELS: expected KEY=VALUE"):
        load(NodeConfig, env={"EDGEOFFLOAD_NODE__LABELS": "gpu"})
    with pytest.raises(ConfigError, match="workers: Expected `int`"):
        load(NodeConfig, env={"EDGEOFFLOAD_NODE__WORKERS": "many"})


def test_variables_that_are_not_fields_are_known() -> None:
    env = {"EDGEOFFLOAD_TOKEN": "t", "EDGEOFFLOAD_HEALTH_URL": "http://x", "EDGEOFFLOAD_DATA": "/d"}
    assert load(NodeConfig, env=env) == NodeConfig()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"workers": -1}, "workers: Expected `int` >= 0"),
        ({"port": 70000}, "port: Expected `int` <= 65535"),
        ({"port": "http"}, "port: Expected `int`, got `str`"),
        ({"drain_timeout_s": -1.0}, "drain_timeout_s"),
        ({"colour": "blue"}, "unknown field `colour`"),
    ],
)
def test_bad_values_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load(NodeConfig, env={}, overrides=overrides)


def test_bad_file_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[node\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load(NodeConfig, toml_path=f, env={})
    with pytest.raises(ConfigError, match="No such file"):
        load(NodeConfig, toml_path=tmp_path / "missing.toml", env={})


def test_client_batch_delay_is_capped_at_one_millisecond() -> None:
    with pytest.raises(ConfigError, match="batch_max_delay_s"):
        load(ClientConfig, env={}, overrides={"batch_max_delay_s": 0.01})


def test_secrets_come_from_files_and_are_redacted_when_shown(tmp_path: Path) -> None:
    from edgeoffload.config import keys_of, to_dict

    current, previous = tmp_path / "secret", tmp_path / "old"
    current.write_text("c" * 40 + "\n")
    previous.write_text("p" * 40 + "\n")
    cfg = load(
        NodeConfig,
        env={},
        overrides={"auth_secret_file": str(current), "auth_previous_secret_file": str(previous)},
    )
    keys = keys_of(cfg)
    assert keys is not None and (keys.current, keys.previous) == ("c" * 40, "p" * 40)
    shown = to_dict(cfg)
    assert shown["auth_secret"] == shown["auth_previous_secret"] == "<redacted>"
    assert "c" * 40 not in repr(shown) and "p" * 40 not in repr(shown)
    assert keys_of(load(NodeConfig, env={})) is None


def test_a_secret_file_that_cannot_be_read_or_a_secret_given_twice_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"auth_secret_file: cannot read .*missing"):
        load(NodeConfig, env={}, overrides={"auth_secret_file": str(tmp_path / "missing")})
    (tmp_path / "s").write_text("s" * 40)
    with pytest.raises(ConfigError, match="the secret or its file, not both"):
        load(
            NodeConfig,
            env={"EDGEOFFLOAD_AUTH_SECRET": "e" * 40},
            overrides={"auth_secret_file": str(tmp_path / "s")},
        )
    (tmp_path / "short").write_text("too-short")
    with pytest.raises(ConfigError, match="auth_secret: Expected `str` of length >= 32"):
        load(NodeConfig, env={}, overrides={"auth_secret_file": str(tmp_path / "short")})


def test_secrets_are_never_command_line_flags() -> None:
    import argparse

    from edgeoffload.cli.options import add_config_options
    from edgeoffload.config import ClientConfig

    for cls in (NodeConfig, ClientConfig):
        parser = argparse.ArgumentParser()
        add_config_options(parser, cls)
        flags = {a for action in parser._actions for a in action.option_strings}
        assert not flags & {"--auth-secret", "--auth-previous-secret", "--token"}
    parser = argparse.ArgumentParser()
    add_config_options(parser, NodeConfig)
    flags = {a for action in parser._actions for a in action.option_strings}
    assert {"--auth-secret-file", "--auth-previous-secret-file", "--auth-max-ttl-s"} <= flags


@pytest.mark.parametrize(
    ("host", "secret", "warns"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("10.1.2.3", None, True),
        ("edge.example", None, True),
        ("0.0.0.0", "s" * 32, False),
    ],
)
def test_a_node_reachable_beyond_loopback_without_a_secret_is_warned_about(
    host: str, secret: str | None, warns: bool
) -> None:
    from edgeoffload.config import unprotected_warning

    warning = unprotected_warning(NodeConfig(host=host, auth_secret=secret), "node")
    assert (warning is not None) is warns
    if warning is not None:
        assert host in warning and "WITHOUT authentication" in warning


def test_a_client_applies_the_settings_config_show_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen: `config show client` showed settings that Client() did not apply."""
    from edgeoffload import Client

    monkeypatch.setenv("EDGEOFFLOAD_CLIENT__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("EDGEOFFLOAD_CLIENT__PLACEMENT", "power_of_two")
    client = Client(["ws://127.0.0.1:1/offload"], batching=False)
    assert client.config.max_attempts == 2 and client.config.batching is False
    assert client.config.placement == "power_of_two"
    monkeypatch.setenv("EDGEOFFLOAD_CLIENT__PLACEMENT", "psychic")
    with pytest.raises(ConfigError, match="placement"):
        Client()
