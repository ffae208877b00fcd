"""The CLI's start-up helpers: a deferred importlib.metadata, a shutil-free formatter.

The deferral is checked in a fresh interpreter (it only acts before the module is
imported, and this one has imported it long ago)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from edgeoffload.cli import HelpFormatter
from edgeoffload.cli.startup import defer_unused_imports

SRC = Path(__file__).resolve().parents[3] / "src"

PROBE = """
import sys
from edgeoffload.cli.startup import defer_unused_imports
assert "importlib.metadata" in defer_unused_imports()
import websockets.asyncio.server  # imports importlib.metadata through websockets.version
assert "importlib.metadata._meta" not in sys.modules, "the real one was loaded"
import importlib.metadata
from importlib.metadata import version
assert version("msgspec") == importlib.metadata.version("msgspec")
import websockets.version
assert websockets.version.importlib.metadata.version("msgspec")  # an early reference works
assert type(sys.modules["importlib.metadata"]).__name__ == "module"  # the real one now
print("ok")
"""


def run_fresh(code: str) -> None:
    """Run ``code`` in a fresh interpreter; it must print ``ok``."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_importlib_metadata_loads_at_its_first_use_and_works_then() -> None:
    run_fresh(PROBE)


UNUSED = """
import sys
from edgeoffload.cli.startup import defer_unused_imports
assert defer_unused_imports() == ["importlib.metadata", "ipaddress", "secrets"]
import websockets.asyncio.server, websockets.asyncio.client
deferred = [n for n in ("ipaddress", "secrets") if type(sys.modules[n]).__name__ != "module"]
assert deferred == ["ipaddress", "secrets"], deferred  # imported by websockets, not loaded
import ipaddress, secrets
assert ipaddress.ip_address("10.0.0.1").is_private and len(secrets.token_hex(4)) == 8
assert type(sys.modules["ipaddress"]).__name__ == "module"
print("ok")
"""


def test_every_deferred_module_loads_at_its_first_use_and_works_then() -> None:
    run_fresh(UNUSED)


def test_deferring_after_the_import_changes_nothing() -> None:
    import importlib.metadata

    real = sys.modules["importlib.metadata"]
    assert "importlib.metadata" not in defer_unused_imports()
    assert sys.modules["importlib.metadata"] is real is importlib.metadata


@pytest.mark.parametrize("columns", [None, "57", "junk", "0"])
def test_the_help_width_is_argparse_s_own(
    monkeypatch: pytest.MonkeyPatch, columns: str | None
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    ours = HelpFormatter("edgeoffload")
    stock = argparse.HelpFormatter("edgeoffload")
    assert ours._width == stock._width
    assert ours._max_help_position == stock._max_help_position
