"""Run scenarios: one policy, several side by side, in-process.

Policies compared with :func:`compare` run on the same seed, so they see the same
world (devices, traces, offsets, failures) and the same task arrivals and sizes: the
world and every arrival are drawn in the same order whatever the policy decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..decision.base import Policy
from ..decision.registry import resolve
from .results import SimResult
from .scenario import Scenario, load_scenario, validate
from .simulation import Simulation


def as_scenario(scenario: Scenario | str) -> Scenario:
    """A scenario struct (validated), from a struct, a file path or a bundled name."""
    if isinstance(scenario, str):
        return load_scenario(scenario)
    return validate(scenario)


def run(
    scenario: Scenario | str,
    policy: Policy | str | None = None,
    *,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> SimResult:
    """Simulate ``scenario`` under ``policy`` (default: the scenario's) to the end.

    Raises:
        ConfigError: an invalid scenario or an unknown policy (named).
    """
    spec = as_scenario(scenario)
    chosen = resolve(policy or spec.policy) if policy is None or isinstance(policy, str) else policy
    sim = Simulation(spec, chosen, seed=seed)
    sim.run(progress=progress)
    return SimResult.of(sim)


def compare(
    scenario: Scenario | str, policies: Sequence[Policy | str], *, seed: int | None = None
) -> list[SimResult]:
    """Run each policy on the same seed (identical world and workload)."""
    spec = as_scenario(scenario)
    return [run(spec, p, seed=seed) for p in policies]
