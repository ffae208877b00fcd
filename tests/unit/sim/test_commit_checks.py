"""Two guards on what flows between the phases: a policy's answer checked before it is
carried out (sim/commit.py check, whole messages), and the loss countdown of the radio
(Radio.tries) with its run of successes given by hand: a run used up one transfer at a
time, a loss then a resend, and a transfer lost for good after max_retries resends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.decision.features import Decisions
from edgeoffload.decision.policies import CostModel
from edgeoffload.errors import InvalidState
from edgeoffload.sim.commit import check
from edgeoffload.sim.radio import Radio

from .conftest import Recorder, small, state_of


def decisions(targets: list[int]) -> Decisions:
    n = len(targets)
    return Decisions(np.array(targets, dtype=np.int64), np.ones(n), np.zeros(n), np.zeros(n))


def test_a_valid_answer_passes() -> None:
    check(CostModel(), decisions([-1, 0, 2]), n=3, k=3)
    check(CostModel(), decisions([]), n=0, k=0)  # nothing to decide: nothing to check


@pytest.mark.parametrize(
    ("targets", "n", "k", "message"),
    [
        ([0, 1], 3, 2, "policy 'cost_model' returned 2 decisions for 3 tasks"),
        ([0, 2], 2, 2, "policy 'cost_model' chose a target outside -1..1"),
        ([-2, 0], 2, 2, "policy 'cost_model' chose a target outside -1..1"),
        ([0], 1, 0, "policy 'cost_model' chose a target outside -1..-1"),
    ],
)
def test_a_bad_answer_is_refused_naming_the_policy(
    targets: list[int], n: int, k: int, message: str
) -> None:
    with pytest.raises(InvalidState) as err:
        check(CostModel(), decisions(targets), n=n, k=k)
    assert str(err.value) == message


def test_a_target_array_of_the_wrong_shape_is_refused() -> None:
    bad = Decisions(np.zeros((2, 1), dtype=np.int64), np.ones(2), np.zeros(2), np.zeros(2))
    with pytest.raises(InvalidState, match="returned 2 decisions for 2 tasks"):
        check(CostModel(), bad, n=2, k=1)


def lossy(max_retries: int) -> tuple[Radio, Any]:
    link = {"constant_mbps": 10, "loss": 0.5, "max_retries": max_retries}
    group = {"count": 1, "link": link, "workload": [{"app": "frame"}]}
    st = state_of(small(devices=[group]))
    return Radio(st, Recorder().close, Recorder().arrive), st


def test_a_run_of_successes_is_used_up_one_transfer_at_a_time() -> None:
    radio, st = lossy(max_retries=3)
    runs = iter([2, 1])
    radio.successes = lambda p: next(runs)  # type: ignore[method-assign]
    assert st.until_loss[0] < 0  # the device's first transfer draws its first run
    # The first run (2): two transfers get through at once.
    assert radio.tries(0) == (1, False) and st.until_loss[0] == 1
    assert radio.tries(0) == (1, False) and st.until_loss[0] == 0
    # The run is over: this transmission is lost, the next run (1) begins with its resend.
    assert radio.tries(0) == (2, False) and st.until_loss[0] == 0


def test_a_transfer_lost_more_than_max_retries_times_is_lost_for_good() -> None:
    radio, _ = lossy(max_retries=2)
    radio.successes = lambda p: 0  # type: ignore[method-assign]
    # Sent once and resent twice, every one lost.
    assert radio.tries(0) == (3, True)
    radio, _ = lossy(max_retries=0)
    radio.successes = lambda p: 0  # type: ignore[method-assign]
    assert radio.tries(0) == (1, True)


def test_successes_follow_the_geometric_law() -> None:
    radio, _ = lossy(max_retries=1)
    runs = np.array([radio.successes(0.25) for _ in range(20_000)])
    assert runs.min() == 0 and runs.dtype == np.int64
    # Geometric(p) - 1 has mean (1 - p) / p = 3.
    assert runs.mean() == pytest.approx(3.0, rel=0.05)
