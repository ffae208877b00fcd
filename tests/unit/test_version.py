"""One version: the package root, its own module and the project metadata agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import edgeoffload
from edgeoffload.version import __version__


def test_the_version_is_defined_once_and_matches_the_project() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert edgeoffload.__version__ is __version__
    assert __version__ == project["project"]["version"]
