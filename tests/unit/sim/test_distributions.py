"""sim.distributions: scenario quantities decoded by their ``dist`` tag, drawn in
batches, with exact means and lower bounds; bounded Zipf popularity."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from edgeoffload.sim.distributions import (
    Choice,
    Exponential,
    LogNormal,
    Uniform,
    Value,
    Zipf,
    lower_bound,
    mean,
    sample,
)

decode = msgspec.json.Decoder(Value).decode


def test_quantities_decode_by_their_dist_tag() -> None:
    assert decode(b"2.0e9") == 2.0e9
    assert decode(b"3") == 3
    assert decode(b'{"dist": "uniform", "low": 1, "high": 2}') == Uniform(1.0, 2.0)
    assert decode(b'{"dist": "lognormal", "median": 5, "sigma": 0.3}') == LogNormal(5.0, 0.3)
    assert decode(b'{"dist": "exponential", "mean": 0.5}') == Exponential(0.5)
    assert decode(b'{"dist": "choice", "values": [1, 2]}') == Choice([1.0, 2.0], None)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b'{"dist": "normal", "mean": 1}', "Invalid value 'normal'"),
        (b'{"dist": "uniform", "low": 1, "high": 2, "mode": 1}', "unknown field `mode`"),
        (b'{"dist": "lognormal", "median": 0, "sigma": 1}', "Expected `float` > 0"),
        (b'{"dist": "lognormal", "median": 1, "sigma": -1}', "Expected `float` >= 0"),
        (b'{"dist": "exponential", "mean": -1}', "Expected `float` > 0"),
        (b'{"dist": "choice", "values": []}', "length >= 1"),
        (b'{"dist": "choice", "values": [1], "weights": [-1]}', "Expected `float` >= 0"),
        (b'{"dist": "uniform", "low": 1}', "missing required field `high`"),
    ],
)
def test_bad_quantities_are_refused_with_the_reason(text: bytes, error: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=error):
        decode(text)


def test_a_constant_is_repeated_without_drawing() -> None:
    rng = np.random.default_rng(1)
    before = rng.bit_generator.state
    assert sample(2.5, rng, 3).tolist() == [2.5, 2.5, 2.5]
    assert sample(4, rng, 2).dtype == np.float64
    assert rng.bit_generator.state == before  # other draws are not shifted
    assert sample(1.0, rng, 0).shape == (0,)


def test_draws_are_the_generators_own() -> None:
    # One numpy call per batch: the values are exactly what the generator gives.
    for value, direct in [
        (Uniform(1.0, 3.0), lambda r: r.uniform(1.0, 3.0, 4)),
        (Exponential(0.5), lambda r: r.exponential(0.5, 4)),
        (LogNormal(2.0, 0.5), lambda r: 2.0 * np.exp(0.5 * r.standard_normal(4))),
    ]:
        got = sample(value, np.random.default_rng(7), 4)
        np.testing.assert_array_equal(got, direct(np.random.default_rng(7)))


def test_lognormal_without_spread_is_its_median() -> None:
    assert sample(LogNormal(3.0, 0.0), np.random.default_rng(0), 3).tolist() == [3.0] * 3


def test_choice_draws_only_its_values_with_normalised_weights() -> None:
    rng = np.random.default_rng(0)
    draws = sample(Choice([1.0, 2.0, 3.0], [0.0, 3.0, 1.0]), rng, 4000)
    assert set(draws.tolist()) == {2.0, 3.0}  # weight 0: never
    assert (draws == 2.0).mean() == pytest.approx(0.75, abs=0.03)
    uniform = sample(Choice([5.0, 6.0]), np.random.default_rng(0), 4000)
    assert (uniform == 5.0).mean() == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, 2.0),
        (Uniform(1.0, 3.0), 2.0),
        (LogNormal(2.0, 0.5), 2.0 * math.exp(0.125)),
        (Exponential(0.25), 0.25),
        (Choice([1.0, 3.0]), 2.0),
        (Choice([1.0, 3.0], [3.0, 1.0]), 1.5),
    ],
)
def test_means_are_exact_and_match_large_samples(value: Value, expected: float) -> None:
    assert mean(value) == pytest.approx(expected)
    draws = sample(value, np.random.default_rng(3), 200_000)
    assert draws.mean() == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize(
    ("value", "bound"),
    [
        (-1.0, -1.0),
        (Uniform(3.0, -2.0), -2.0),  # low and high in either order
        (Choice([4.0, -5.0, 1.0]), -5.0),
        (LogNormal(1.0, 1.0), 0.0),
        (Exponential(1.0), 0.0),
    ],
)
def test_lower_bounds(value: Value, bound: float) -> None:
    assert lower_bound(value) == bound


def test_zipf_ranks_by_popularity() -> None:
    # s = 1 over 3 keys: weights 1, 1/2, 1/3 of 11/6 => 6/11, 3/11, 2/11.
    keys = Zipf(3, 1.0).sample(np.random.default_rng(0), 60_000)
    shares = np.bincount(keys, minlength=3) / keys.size
    np.testing.assert_allclose(shares, [6 / 11, 3 / 11, 2 / 11], atol=0.01)
    assert keys.dtype == np.int64


def test_zipf_edges() -> None:
    rng = np.random.default_rng(0)
    assert Zipf(1, 1.2).sample(rng, 5).tolist() == [0] * 5
    flat = Zipf(4, 0.0).sample(rng, 40_000)
    np.testing.assert_allclose(np.bincount(flat) / flat.size, [0.25] * 4, atol=0.01)
    many = Zipf(10, 3.0).sample(rng, 10_000)
    assert many.min() >= 0 and many.max() <= 9
    assert Zipf(5, 1.0).sample(rng, 0).shape == (0,)
