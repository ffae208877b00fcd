"""The simulator: many devices, real bandwidth traces, edge nodes, the real policies.

Quick use::

    from edgeoffload import sim
    result = sim.run("manufacturing", "cost_model")          # a bundled scenario
    print(sim.summarize(result)["latency_s"])
    results = sim.compare("smart_city", ["always_local", "cost_model"])

Scenarios are files (YAML/TOML, :func:`load_scenario`) or structs built in Python
(:class:`Scenario` and friends in :mod:`.scenario`). ``docs/simulator.md`` is the
guide; :func:`oracle_records` makes labelled training data for the decision engine.
"""

from __future__ import annotations

from .options import SimOptions
from .oracle import OracleRecords, oracle_records
from .results import SimResult
from .runner import compare, run
from .scenario import (
    AppSpec,
    ArrivalSpec,
    BatchingSpec,
    CacheSpec,
    CloudSpec,
    DeviceGroup,
    FailureSpec,
    LinkSpec,
    NodeGroup,
    Scenario,
    StageSpec,
    WorkloadSpec,
    load_scenario,
    validate,
    with_overrides,
)
from .simulation import Simulation
from .summary import summarize

__all__ = [
    "AppSpec",
    "ArrivalSpec",
    "BatchingSpec",
    "CacheSpec",
    "CloudSpec",
    "DeviceGroup",
    "FailureSpec",
    "LinkSpec",
    "NodeGroup",
    "OracleRecords",
    "Scenario",
    "SimOptions",
    "SimResult",
    "Simulation",
    "StageSpec",
    "WorkloadSpec",
    "compare",
    "load_scenario",
    "oracle_records",
    "run",
    "summarize",
    "validate",
    "with_overrides",
]
