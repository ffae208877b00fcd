"""cli.emulate: refused in one line where the emulation cannot run, SIGTERM turned into
the Ctrl-C path (so teardown runs), and the description of each link's shape."""

from __future__ import annotations

import numpy as np
import pytest

import edgeoffload.emulation as emulation
from edgeoffload.cli import main
from edgeoffload.cli.emulate import _shape, _terminate
from edgeoffload.emulation import Shape
from edgeoffload.traces import Trace


def test_where_it_cannot_run_it_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(emulation, "available", lambda: "needs root and ip netns")
    assert main(["emulate", "--cleanup"]) == 2
    assert capsys.readouterr().err == "edgeoffload emulate: error: needs root and ip netns\n"


def test_cleanup_lists_what_it_removed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(emulation, "available", lambda: None)
    monkeypatch.setattr(emulation, "remove_leftovers", lambda: ["eo-dev-1", "eo-edge-1"])
    assert main(["emulate", "--cleanup"]) == 0
    assert capsys.readouterr().out == "removed eo-dev-1\nremoved eo-edge-1\n"


def test_sigterm_takes_the_ctrl_c_path() -> None:
    with pytest.raises(KeyboardInterrupt):
        _terminate(15, None)


def test_shapes_are_described() -> None:
    assert _shape(Shape()) == "unshaped, 0 ms ±0, loss 0"
    assert _shape(Shape(rate_mbit=12.5, delay_ms=20, jitter_ms=2.5, loss=0.01)) == (
        "12.5 Mbit/s, 20 ms ±2.5, loss 0.01"
    )
    trace = Trace(
        name="bus_1",
        dataset="ghent_4g",
        times_s=np.array([0.0, 1.0]),
        mbps=np.array([1.0, 2.0]),
        duration_s=2.0,
    )
    assert _shape(Shape(rate_mbit=5, trace=trace)).startswith("trace ghent_4g/bus_1, ")
