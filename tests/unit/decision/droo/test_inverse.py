"""The DROO problem's closed forms: g's inverse over its whole range, the constants,
the mode enumeration and the time split of one frame."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.droo.problem import ModeSolver, WpMec, all_modes, g_inverse


def g(y: np.ndarray) -> np.ndarray:
    return np.log1p(y) - y / (1.0 + y)


@pytest.mark.parametrize("z", [1e-10, 1e-6, 1e-3, 0.1, 1.0, 10.0, 29.9, 30.1, 100.0])
def test_g_inverse_inverts_g_from_tiny_to_large_arguments(z: float) -> None:
    # Small z is where Lambert W near -1/e loses digits; large z where it overflows.
    y = g_inverse(np.array([z]))
    assert y[0] > 0
    assert g(y)[0] == pytest.approx(z, rel=1e-9)


def test_g_inverse_is_increasing() -> None:
    z = np.logspace(-8, 2, 200)
    assert np.all(np.diff(g_inverse(z)) > 0)


def test_the_data_sets_constants() -> None:
    mec = WpMec()
    assert mec.eta1 == pytest.approx((0.7 * 3.0) ** (1 / 3) / 100.0)
    assert mec.eta2 == pytest.approx(2.1e10)
    assert mec.eps == pytest.approx(2e6 / (1.1 * np.log(2.0)))
    assert WpMec.weights(5).tolist() == [1.0, 1.5, 1.0, 1.5, 1.0]


def test_all_modes_enumerate_every_binary_mode_once() -> None:
    modes = all_modes(3)
    assert modes.shape == (8, 3)
    assert modes[0].tolist() == [False] * 3 and modes[5].tolist() == [True, False, True]
    assert len({tuple(m) for m in modes.tolist()}) == 8


def test_time_split_uses_the_frame_and_nothing_for_local_devices() -> None:
    h = np.array([3e-6, 1e-6, 2e-6, 5e-7])
    mode = np.array([True, False, True, False])
    a, tau = ModeSolver().time_split(h, mode)
    assert 0.0 < a < 1.0
    assert tau[1] == 0.0 and tau[3] == 0.0 and (tau[[0, 2]] > 0).all()
    assert a + tau.sum() == pytest.approx(1.0, rel=1e-6)  # the frame is fully used
    a0, tau0 = ModeSolver().time_split(h, np.zeros(4, dtype=bool))
    assert tau0.tolist() == [0.0] * 4 and a0 == pytest.approx(1.0)
