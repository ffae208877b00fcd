"""sim.options: the run modes, their defaults and the numpy row threshold."""

from __future__ import annotations

import dataclasses

import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim.options import SimOptions


def test_defaults_are_a_plain_fast_run() -> None:
    opts = SimOptions()
    assert (opts.capture, opts.external, opts.report_closed) == (False, False, False)
    assert opts.fast_paths is True and opts.numpy_min_rows is None


def test_each_path_keeps_its_own_threshold_unless_one_is_given() -> None:
    assert SimOptions().min_rows(64) == 64
    assert SimOptions().min_rows(8) == 8
    assert SimOptions(numpy_min_rows=1).min_rows(64) == 1
    assert SimOptions(numpy_min_rows=500).min_rows(64) == 500


@pytest.mark.parametrize("rows", [0, -3])
def test_a_threshold_below_one_row_is_refused(rows: int) -> None:
    with pytest.raises(ConfigError, match=f"numpy_min_rows must be >= 1, got {rows}"):
        SimOptions(numpy_min_rows=rows)


def test_options_cannot_be_flipped_after_construction() -> None:
    # Modes switched halfway would be silently ignored by paths already chosen.
    opts = SimOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.capture = True  # type: ignore[misc]
    assert dataclasses.replace(opts, capture=True).capture is True
    assert SimOptions(external=True) == SimOptions(external=True)
    assert hash(SimOptions()) == hash(SimOptions())
