"""Small scenarios for the simulator's tests."""

from __future__ import annotations

from typing import Any

from edgeoffload.sim.scenario import Scenario, from_dict


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
