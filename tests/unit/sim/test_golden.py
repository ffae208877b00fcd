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


def test_the_learned_policys_compiled_kernel_leaves_the_simulation_unchanged() -> None:
    """Seen: the kernel (decision/kernel.py) loads on a thread and decides like the numpy
    path to 1e-9, not bit for bit; a run whose kernel arrived midway gave other
    confidences, and the ultrasound/learned digest changed with the tests run before
    it. A simulation is a function of its seed: it takes the numpy path."""
    import numpy as np

    from edgeoffload.decision.learned import LearnedPolicy, load_scorer
    from edgeoffload.sim.runner import run
    from edgeoffload.sim.scenario import load_scenario, with_overrides

    scorer = load_scorer()
    assert scorer.kernel(wait=True) is not None  # loaded before the run starts
    spec = with_overrides(load_scenario("ultrasound"), {"duration_s": 120.0})
    got = run(spec, LearnedPolicy(scorer), seed=2).records
    want = run(spec, LearnedPolicy(scorer, compiled=False), seed=2).records
    for name in ("confidence", "target", "latency_s"):
        np.testing.assert_array_equal(got[name], want[name])
