"""``python -m edgeoffload`` is the ``edgeoffload`` command (its exit code included)."""

from __future__ import annotations

import subprocess
import sys

import edgeoffload


def test_python_m_edgeoffload_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgeoffload", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"edgeoffload {edgeoffload.__version__}\n"


def test_python_m_edgeoffload_passes_on_a_usage_error_exit_code() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgeoffload", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "invalid choice: 'no-such-command'" in done.stderr
