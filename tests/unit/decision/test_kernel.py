"""The learned policy's compiled one-task kernel (decision/kernel.py) against the model
as trained (float64 numpy, nothing folded: ``LearnedPolicy.reference``) and against the
numpy one-task path it replaces, on thousands of random contexts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgeoffload.decision.features import Context, TaskBatch
from edgeoffload.decision.learned import LearnedPolicy, load_scorer

from .test_learned import awkward_context, objects


@pytest.fixture(scope="module")
def policies() -> tuple[LearnedPolicy, LearnedPolicy]:
    scorer = load_scorer()
    assert scorer.kernel(wait=True) is not None  # numba is installed by the test extra
    return LearnedPolicy(scorer), LearnedPolicy(scorer, compiled=False)


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_one_task_kernel_decides_as_the_reference_on_random_contexts(
    policies: tuple[LearnedPolicy, LearnedPolicy], k: int
) -> None:
    fast, numpy_path = policies
    n = 1500
    ctx = awkward_context(n, k, seed=100 + k)
    want = fast.reference(ctx)
    for i in range(n):
        got = fast.decide(*objects(ctx, i))
        before = numpy_path.decide(*objects(ctx, i))
        assert got.target[0] == want.target[i] == before.target[0]
        assert abs(got.confidence[0] - want.confidence[i]) <= 1e-9
        assert abs(got.confidence[0] - before.confidence[0]) <= 1e-9
        assert got.expected_latency_s[0] == pytest.approx(want.expected_latency_s[i], rel=1e-12)
        assert got.expected_energy_j[0] == pytest.approx(want.expected_energy_j[i], rel=1e-12)


def test_rows_without_any_option_and_nan_inputs_decide_as_the_reference(
    policies: tuple[LearnedPolicy, LearnedPolicy],
) -> None:
    fast, _ = policies
    ctx = awkward_context(40, 3, seed=7)
    tasks, device, nodes = ctx.tasks.copy(), ctx.device.copy(), ctx.nodes.copy()
    tasks[::3, 0] = np.nan  # no finite cost anywhere: column 0, NaN confidence
    tasks[1::3, 5] = np.inf  # no deadline
    nodes[2::3, :, 3] = np.nan  # a NaN node load counts as 0 (np.nan_to_num)
    odd = Context(tasks, device, nodes)
    with np.errstate(invalid="ignore"):  # numpy warns on its NaN rows
        want = fast.reference(odd)
    for i in range(40):
        got = fast.decide(*objects(odd, i))
        assert got.target[0] == want.target[i]
        np.testing.assert_allclose(got.confidence, want.confidence[i : i + 1], atol=1e-9)
        np.testing.assert_array_equal(got.expected_latency_s, want.expected_latency_s[i : i + 1])


def test_inputs_it_was_not_compiled_for_take_the_numpy_path(
    policies: tuple[LearnedPolicy, LearnedPolicy],
) -> None:
    fast, numpy_path = policies
    ctx = awkward_context(10, 3, seed=3)
    tasks, device, nodes = objects(ctx, 4)
    single = tasks.cpu_cycles.astype(np.float32)  # not float64
    odd = TaskBatch(single, *(getattr(tasks, f) for f in TaskBatch.__slots__[1:]))
    compiled = fast.scorer.kernel(wait=True)
    assert compiled is not None
    assert fast._decide_compiled(compiled, odd, device, nodes) is None  # numba refused it
    got, want = fast.decide(odd, device, nodes), numpy_path.decide(tasks, device, nodes)
    assert got.target[0] == want.target[0]
    assert got.confidence[0] == pytest.approx(want.confidence[0], rel=1e-6)


def test_importing_the_client_and_the_policies_does_not_import_numba() -> None:
    code = (
        "import sys, edgeoffload.client, edgeoffload.decision.registry, "
        "edgeoffload.decision.learned; print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_first_decision_never_waits_for_the_kernel_to_load() -> None:
    """Loading it takes about 1.5 s (numba's import and disk cache; 10-25 s when it
    compiles): the first decisions take the numpy path while it loads on a thread."""
    code = (
        "from edgeoffload.decision.learned import LearnedPolicy, load_scorer\n"
        "from tests.unit.decision.test_kernel import awkward_context, objects\n"
        "scorer = load_scorer()\n"
        "policy = LearnedPolicy(scorer)\n"
        "tasks, device, nodes = objects(awkward_context(1, 3, seed=5), 0)\n"
        "first = policy.decide(tasks, device, nodes)\n"
        "loading = scorer._kernel is None  # decided while the kernel was still loading\n"
        "assert scorer.kernel(wait=True) is not None\n"
        "later = policy.decide(tasks, device, nodes)\n"
        "print(loading, int(first.target[0]) == int(later.target[0]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
