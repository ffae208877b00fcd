"""Where the bundled data lives, and the override."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeoffload.datasets import data_dir
from edgeoffload.errors import ConfigError


def test_default_is_the_repository_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEOFFLOAD_DATA", raising=False)
    path = data_dir()
    assert path.name == "data" and (path / "SOURCES.md").is_file()
    assert (path.parent / "src" / "edgeoffload" / "datasets.py").is_file()


def test_the_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "SOURCES.md").write_text("# mine\n")
    monkeypatch.setenv("EDGEOFFLOAD_DATA", str(tmp_path))
    assert data_dir() == tmp_path


def test_a_folder_without_sources_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEOFFLOAD_DATA", str(tmp_path))
    with pytest.raises(
        ConfigError, match=rf"data folder not found at {tmp_path} \(set EDGEOFFLOAD_DATA\)"
    ):
        data_dir()
