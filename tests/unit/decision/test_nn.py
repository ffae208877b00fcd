"""decision.nn: the numpy networks on weights small enough to work out by hand, their
shape checks and file round trips."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.nn import Lstm, Mlp, sigmoid
from edgeoffload.errors import ConfigError


def test_sigmoid_values_and_no_overflow() -> None:
    with np.errstate(all="raise"):
        got = sigmoid(np.array([0.0, 1000.0, -1000.0, np.log(3.0)]))
    np.testing.assert_allclose(got, [0.5, 1.0, 0.0, 0.75])


# A 2-2-1 network: hidden = relu([x0 - x1, x1 - x0]), output = h0 + 2 h1 + 0.5.
W0 = np.array([[1.0, -1.0], [-1.0, 1.0]])
B0 = np.zeros(2)
W1 = np.array([[1.0], [2.0]])
B1 = np.array([0.5])


def test_mlp_forward_by_hand() -> None:
    net = Mlp((W0, W1), (B0, B1))
    x = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]])
    assert net(x).tolist() == [[2.5], [4.5], [0.5]]
    assert (net.n_inputs, net.n_outputs) == (2, 1)


def test_mlp_output_activations() -> None:
    x = np.array([[3.0, 1.0]])
    assert Mlp((W0, W1), (B0, np.array([-2.0])), "sigmoid")(x).tolist() == [[0.5]]
    soft = Mlp((np.eye(2),), (np.zeros(2),), "softmax")
    got = soft(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    np.testing.assert_allclose(got, [[0.25, 0.75], [0.5, 0.5]])  # stable at 1000


def test_float32_copy_stays_close_and_returns_float32() -> None:
    net = Mlp((W0, W1), (B0, B1))
    x = np.array([[3.0, 1.0]])
    small = net.as_float32()
    assert small(x).dtype == np.float32
    np.testing.assert_allclose(small(x), net(x), rtol=1e-6)


def test_mlp_shapes_are_checked() -> None:
    with pytest.raises(ConfigError, match="as many bias vectors"):
        Mlp((W0,), ())
    with pytest.raises(ConfigError, match="as many bias vectors"):
        Mlp((), ())
    with pytest.raises(ConfigError, match=r"do not chain: \(2, 2\) then \(3, 1\)"):
        Mlp((W0, np.ones((3, 1))), (B0, B1))


def test_mlp_arrays_round_trip() -> None:
    net = Mlp((W0, W1), (B0, B1), "sigmoid")
    arrays = net.arrays("p")
    assert sorted(arrays) == ["p.b0", "p.b1", "p.w0", "p.w1"]
    back = Mlp.from_arrays(arrays, "p", "sigmoid")
    x = np.array([[0.3, -0.7]])
    assert back(x).tolist() == net(x).tolist()
    with pytest.raises(ConfigError, match=r"no MLP weights named q\.w0"):
        Mlp.from_arrays(arrays, "q")


def test_lstm_one_step_by_hand() -> None:
    # Hidden 1, every gate pre-activation x (weights 1 on the input, none on h):
    # i = f = o = s(x), g = tanh(x); c1 = s(x) tanh(x); h1 = s(x) tanh(c1).
    lstm = Lstm(np.ones((4, 1)), np.zeros((4, 1)), np.zeros(4), np.zeros(4))
    x = 0.7
    s = 1.0 / (1.0 + np.exp(-x))
    c1 = s * np.tanh(x)
    np.testing.assert_allclose(lstm(np.array([[[x]]])), [[s * np.tanh(c1)]])
    # The two bias vectors are summed.
    biased = Lstm(np.zeros((4, 1)), np.zeros((4, 1)), np.full(4, 0.3), np.full(4, 0.4))
    s7 = 1.0 / (1.0 + np.exp(-0.7))
    np.testing.assert_allclose(biased(np.zeros((1, 1, 1))), [[s7 * np.tanh(s7 * np.tanh(0.7))]])


def test_lstm_arrays_round_trip_and_missing_weights_are_named() -> None:
    rng = np.random.default_rng(3)
    lstm = Lstm(*(rng.normal(size=s) for s in [(8, 3), (8, 2), (8,), (8,)]))
    arrays = lstm.arrays("m")
    x = rng.normal(size=(2, 5, 3))
    assert Lstm.from_arrays(arrays, "m")(x).tolist() == lstm(x).tolist()
    assert lstm.hidden == 2
    with pytest.raises(ConfigError, match=r"no LSTM weights lstm\.w_ih"):
        Lstm.from_arrays(arrays)
