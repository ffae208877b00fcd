"""The local fallback timer in the simulator (``SimOptions(fallback=True)``, the
client's rule in ``client.ownership``): an offload whose outcome comes later than its
budget is abandoned then and run on its device; off, budgets are ignored."""

from __future__ import annotations

import numpy as np

from edgeoffload.decision.features import Context, Decisions
from edgeoffload.decision.policies import AlwaysEdge
from edgeoffload.sim.options import SimOptions
from edgeoffload.sim.results import SimResult
from edgeoffload.sim.simulation import Simulation
from edgeoffload.sim.table import Outcome
from edgeoffload.sim.validation import conservation

from .conftest import small


class EdgeWithBudget(AlwaysEdge):
    """always_edge, giving every task the same fallback budget."""

    def __init__(self, budget_s: float) -> None:
        super().__init__()
        self.budget_s = budget_s

    def decide_context(self, ctx: Context) -> Decisions:
        d = super().decide_context(ctx)
        budget = np.full(len(d.target), self.budget_s)
        return Decisions(d.target, d.confidence, d.expected_latency_s, d.expected_energy_j, budget)


def run(budget_s: float, fallback: bool) -> tuple[Simulation, SimResult]:
    sim = Simulation(small(), EdgeWithBudget(budget_s), options=SimOptions(fallback=fallback))
    sim.run()
    return sim, SimResult.of(sim)


def test_a_budget_shorter_than_any_offload_runs_every_task_on_its_device() -> None:
    # 1 ms: less than the 20 ms RTT alone, so every offload is late for it
    sim, result = run(0.001, fallback=True)
    c = conservation(result.records)
    assert c["unended"] == 0 and c["done"] + c["dropped"] + c["failed"] == c["tasks"]
    assert sim.lifecycle.fallbacks == result.n_tasks
    done = result.records["outcome"] == int(Outcome.DONE)
    # each ends after the budget, with a local run (at least 2e8 cycles at 1.5 GHz
    # at most, a tenth of the sample's median, so > 10 ms) after it
    assert (result.records["latency_s"][done] > 0.001 + 0.01).all()


def test_without_the_option_or_with_a_long_budget_nothing_falls_back() -> None:
    sim, off = run(0.001, fallback=False)
    assert sim.lifecycle.fallbacks == 0
    sim, long = run(1e6, fallback=True)
    assert sim.lifecycle.fallbacks == 0
    for column in ("latency_s", "energy_j", "target"):
        np.testing.assert_array_equal(off.records[column], long.records[column], err_msg=column)
