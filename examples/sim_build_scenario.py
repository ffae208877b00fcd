"""Build a simulator scenario in Python, run two policies on it, print a comparison.

    .venv/bin/python examples/sim_build_scenario.py [--duration 60]

The same scenario as a YAML file would list the same fields (docs/simulator.md).
"""

from __future__ import annotations

import argparse

from edgeoffload import sim
from edgeoffload.sim.distributions import LogNormal, Uniform


def scenario(duration_s: float) -> sim.Scenario:
    detect = sim.AppSpec(
        cpu_cycles=LogNormal(median=6e8, sigma=0.3),
        input_bytes=LogNormal(median=4e4, sigma=0.3),
        output_bytes=800.0,
        deadline_s=0.8,
    )
    cameras = sim.DeviceGroup(
        name="camera",
        count=12,
        cpu_hz=Uniform(low=1.0e9, high=2.0e9),
        battery_j=20_000.0,
        dvfs_levels=[0.5, 0.75, 1.0],
        link=sim.LinkSpec(dataset="ghent_4g", uplink_scale=0.4, rtt_ms=25.0),
        workload=[
            sim.WorkloadSpec(
                app="detect", arrivals=sim.ArrivalSpec(process="periodic", rate_hz=2.0)
            )
        ],
    )
    edge = sim.NodeGroup(name="edge", count=2, cores=4, speed_hz=3e9, dvfs_levels=[0.6, 0.8, 1.0])
    # validate() checks it exactly as a file would be checked (errors name the field).
    return sim.validate(
        sim.Scenario(
            name="python_built",
            duration_s=duration_s,
            seed=4,
            apps={"detect": detect},
            devices=[cameras],
            nodes=[edge],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    results = sim.compare(scenario(args.duration), ["always_local", "cost_model"])
    for result in results:
        s = sim.summarize(result)
        print(
            f"{s['policy']:>12}: {s['tasks']} tasks, p95 {1000 * s['latency_s']['p95']:.0f} ms, "
            f"deadline misses {100 * s['deadline_miss_rate']:.1f} %, "
            f"device energy {s['device_energy_j']:.0f} J, "
            f"offloaded {100 * s['offload_share']:.0f} %"
        )


if __name__ == "__main__":
    main()
