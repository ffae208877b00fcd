"""DROO's learner: order-preserving quantization and online learning from its own best."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.decision.droo.learner import (
    DrooAgent,
    DrooConfig,
    order_preserving,
    reference_decide,
)
from edgeoffload.decision.droo.problem import load_droo_data


def test_order_preserving_quantization_as_in_the_paper() -> None:
    p = np.array([[0.9, 0.2, 0.56, 0.47]])
    modes = order_preserving(p, 4)[0]
    assert modes.tolist() == [
        [True, False, True, False],  # p > 0.5
        [True, False, True, True],  # 0.47 is the closest to 0.5, below it: p >= 0.47
        [True, False, False, False],  # then 0.56, above it: p > 0.56
        [True, True, True, True],  # then 0.2: p >= 0.2
    ]


def test_candidates_keep_the_order_of_the_relaxed_mode() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((50, 10))
    modes = order_preserving(p, 10)
    assert modes.shape == (50, 10, 10)
    for b in range(50):
        order = np.argsort(-p[b])
        for m in modes[b]:
            ranked = m[order]
            # once a device is local, every device with a lower p is local too
            assert not (np.diff(ranked.astype(int)) > 0).any()


def test_k_of_one_is_the_rounded_mode() -> None:
    p = np.array([[0.7, 0.3], [0.5, 0.51]])
    assert order_preserving(p, 1)[:, 0].tolist() == [[True, False], [False, True]]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_learns_online_from_its_own_best_choices() -> None:
    data = load_droo_data()
    test = slice(24000, 24400)
    agent = DrooAgent(10, DrooConfig(seed=1))
    before = agent.run(data.h[test], learn=False)
    trained = agent.run(data.h[:4000], learn=True)
    after = agent.run(data.h[test], learn=False)
    ratio_before = (before.rates / data.obj[test]).mean()
    ratio_after = (after.rates / data.obj[test]).mean()
    assert ratio_after >= 0.999
    assert ratio_after > ratio_before + 0.02
    assert len(trained.losses) == 400
    assert trained.losses[-1] < trained.losses[0]
    # the reference picks the same modes from the same candidates, one at a time
    ref = reference_decide(agent.mlp, data.h[test][:20], after.k_used[:20])
    np.testing.assert_allclose(ref.rates, after.rates[:20], rtol=1e-7)
