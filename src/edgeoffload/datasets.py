"""Where the bundled third-party data lives (``data/`` at the repository root).

Override with ``EDGEOFFLOAD_DATA=/path/to/data``. The layout and units of every file
are described in ``data/SOURCES.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


def data_dir() -> Path:
    """The data folder.

    Raises:
        ConfigError: it does not exist (an installed package without the source tree,
            and no ``EDGEOFFLOAD_DATA``).
    """
    env = os.environ.get("EDGEOFFLOAD_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "data"
    if not (path / "SOURCES.md").exists():
        raise ConfigError(f"data folder not found at {path} (set EDGEOFFLOAD_DATA)")
    return path
