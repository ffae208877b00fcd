"""The simulator's examples run as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def run(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_python_built_scenario_compares_two_policies() -> None:
    out = run("sim_build_scenario.py", "--duration", "20").splitlines()
    assert len(out) == 2
    assert out[0].strip().startswith("always_local: 480 tasks")
    assert out[1].strip().startswith("cost_model: 480 tasks")
    assert "offloaded 0 %" in out[0]


def test_reinforcement_learning_example_trains_and_compares() -> None:
    out = run("sim_train_rl.py", "--iterations", "2", "--population", "4")
    assert len(re.findall(r"^iteration \d: best training return -?\d", out, re.M)) == 2
    returns = dict(re.findall(r"^\s*(.+?): mean return on unseen episodes (-?[\d.]+)$", out, re.M))
    assert set(returns) == {
        "always local",
        "always edge (home node)",
        "always cloud",
        "least-queue node",
        "random",
        "trained linear policy",
    }
    assert re.search(r"^the trained policy (beat|did not beat) always-edge", out, re.M)


@pytest.mark.slow
def test_reinforcement_learning_example_beats_always_edge_with_its_defaults() -> None:
    """The docstring's claim, at the example's default settings (about a minute)."""
    out = run("sim_train_rl.py")
    assert "the trained policy beat always-edge" in out, out
