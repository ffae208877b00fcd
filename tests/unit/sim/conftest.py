"""Small scenarios for the simulator's tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeoffload.sim.scenario import Scenario, from_dict
from edgeoffload.sim.state import SimState


def small(**overrides: Any) -> Scenario:
    """A few devices on real 4G traces, two nodes, one app; ``overrides`` replace
    top-level fields (apps, devices, nodes, ...)."""
    doc: dict[str, Any] = {
        "name": "small",
        "duration_s": 20.0,
        "seed": 5,
        "apps": {
            "frame": {
                "cpu_cycles": {"dist": "lognormal", "median": 2e8, "sigma": 0.3},
                "input_bytes": {"dist": "lognormal", "median": 3e4, "sigma": 0.3},
                "output_bytes": 500,
                "deadline_s": 0.5,
            }
        },
        "devices": [
            {
                "count": 8,
                "cpu_hz": 1.5e9,
                "load": 0.1,
                "battery_j": 5000.0,
                "dvfs_levels": [0.5, 0.75, 1.0],
                "link": {"dataset": "ghent_4g", "uplink_scale": 0.5, "rtt_ms": 20},
                "workload": [{"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 5}}],
            }
        ],
        "nodes": [{"count": 2, "cores": 4, "speed_hz": 3e9, "dvfs_levels": [0.6, 0.8, 1.0]}],
    }
    doc.update(overrides)
    return from_dict(doc)


class Recorder:
    """Hooks (:class:`edgeoffload.sim.state.Hooks`) that record what the part under
    test called up to."""

    def __init__(self) -> None:
        self.closed: list[tuple[int, float, int, int]] = []
        self.resubmitted: list[tuple[int, int]] = []
        self.node_done: list[tuple[int, int, float]] = []
        self.local_done: list[tuple[int, float]] = []
        self.arrived: list[Any] = []

    def close(self, tid: int, at: float, outcome: int, reason: Any = 0) -> None:
        self.closed.append((tid, at, outcome, int(reason)))

    def resubmit(self, tid: int, failed_node: int) -> None:
        self.resubmitted.append((tid, failed_node))

    def node_done_hook(self, tid: int, node_index: int, now: float) -> None:
        self.node_done.append((tid, node_index, now))

    def local_done_hook(self, tid: int, end: float) -> None:
        self.local_done.append((tid, end))

    def arrive(self, arg: Any) -> None:
        self.arrived.append(arg)


class NodeHooks:
    """The three hooks a :class:`~edgeoffload.sim.node_queue.NodeQueue` takes."""

    def __init__(self, rec: Recorder) -> None:
        self.close = rec.close
        self.resubmit = rec.resubmit
        self.node_done = rec.node_done_hook


def state_of(scenario: Scenario, seed: int | None = None, **options: Any) -> SimState:
    """The shared state of ``scenario`` (world built, nothing run), under CostModel."""
    from edgeoffload.decision.policies import CostModel
    from edgeoffload.sim.options import SimOptions
    from edgeoffload.sim.simulation import Simulation

    return Simulation(scenario, CostModel(), seed=seed, options=SimOptions(**options)).state


def add_tasks(state: SimState, n: int, **columns: Any) -> list[int]:
    """Add ``n`` plain tasks of app 0 (columns default to the small scenario's sizes)."""
    defaults: dict[str, Any] = {
        "device": 0,
        "app": 0,
        "stage": -1,
        "created_s": 0.0,
        "cpu_cycles": 2e8,
        "mem_mb": 0.0,
        "io_ops": 0.0,
        "input_bytes": 3e4,
        "output_bytes": 500.0,
        "deadline_s": 0.5,
        "priority": 0,
        "key": -1,
    }
    defaults.update(columns)
    first = state.tasks.size
    values = {
        k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] * n)
        for k, v in defaults.items()
    }
    values["job"] = list(range(first, first + n))
    state.tasks.add(**values)
    return list(range(first, first + n))
