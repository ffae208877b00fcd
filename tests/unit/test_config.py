from __future__ import annotations

from pathlib import Path

import pytest

from edgeoffload.config import ClientConfig, NodeConfig, load
from edgeoffload.errors import ConfigError


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    f = tmp_path / "edge.toml"
    f.write_text('[node]\nworkers = 3\nport = 9000\nhost = "0.0.0.0"\n')
    cfg = load(
        NodeConfig, toml_path=f, env={"EDGEOFFLOAD_PORT": "9100"}, overrides={"host": "127.0.0.2"}
    )
    assert (cfg.workers, cfg.port, cfg.host) == (3, 9100, "127.0.0.2")
    assert cfg.max_pending == NodeConfig().max_pending


def test_env_values_parse_as_toml_literals() -> None:
    cfg = load(
        NodeConfig, env={"EDGEOFFLOAD_TASKS": '["a.b", "c"]', "EDGEOFFLOAD_AUTH_SECRET": "s" * 32}
    )
    assert cfg.tasks == ["a.b", "c"] and cfg.auth_secret == "s" * 32
    client = load(ClientConfig, env={"EDGEOFFLOAD_BATCHING": "false"})
    assert client.batching is False


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
