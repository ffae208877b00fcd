"""The simulator's outputs are exactly those recorded in golden.json (see golden.py):
any change of a number in any output array of any case fails here, naming it."""

from __future__ import annotations

import json

import pytest

from . import golden

CASES = {case.name: case for case in golden.cases()}


def _recorded() -> dict[str, dict[str, str]]:
    return json.loads(golden.PATH.read_text())  # type: ignore[no-any-return]


def test_every_case_is_recorded() -> None:
    assert sorted(_recorded()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_match_the_golden_digests(name: str) -> None:
    expected = _recorded()[name]
    got = golden.compute(CASES[name])
    assert sorted(got) == sorted(expected), f"{name}: the set of output arrays changed"
    for array, value in got.items():
        assert value == expected[array], f"{name}: {array} differs from golden.json"


def test_digest_sees_dtype_shape_and_bytes() -> None:
    import numpy as np

    a = np.arange(6, dtype=np.int64)
    assert golden.digest(a) == golden.digest(a.copy())
    assert golden.digest(a) != golden.digest(a.reshape(2, 3))
    assert golden.digest(a) != golden.digest(a.astype(np.float64))
    b = a.astype(np.float64)
    b[3] = np.nextafter(b[3], 4.0)
    assert golden.digest(b) != golden.digest(a.astype(np.float64))
