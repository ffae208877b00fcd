"""Measure an example's tasks: CPU cycles and wire sizes, the figures behind the
``@task(...)`` hints and the README's comparison with the simulator's scenario.

``python -m examples.measure traffic`` (or ``ultrasound``, ``aoi``) runs each task of the
example's workload on this machine (``--n`` requests, ``--per-task`` of each kind) and
prints, per task, the median CPU time (``time.process_time``, so other processes'
load does not count, though a shared cache and memory bus still do) converted to cycles
at the decision engine's reference 2.5 GHz (:data:`DEFAULT_SPEED_HZ`), and the median
msgpack-encoded sizes of the arguments and of the result (what crosses the link).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

from edgeoffload.client.placement import DEFAULT_SPEED_HZ
from edgeoffload.protocol.codec import Codec
from edgeoffload.tasks import spec_of


def measure(example: str, n: int = 200, per_task: int = 20, seed: int = 0) -> dict[str, Any]:
    """Per task name: median ``cpu_cycles``, ``input_bytes``, ``output_bytes``, the
    hint the task declares for the first measured request, and how many were run."""
    workload = importlib.import_module(f"examples.{example}.workload")
    importlib.import_module(f"examples.{example}.tasks")
    codec = Codec()
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    hints: dict[str, float] = {}
    for request in workload.workload(n, seed):
        s = samples[request.task]
        if len(s["cpu_cycles"]) >= per_task:
            continue
        spec = spec_of(request.task)
        assert spec is not None, request.task
        hints.setdefault(request.task, spec.hints(request.args).cpu_cycles)
        c0 = time.process_time()
        result = spec.fn(*request.args)
        s["cpu_cycles"].append((time.process_time() - c0) * DEFAULT_SPEED_HZ)
        s["input_bytes"].append(len(codec.encode_value(list(request.args))))
        s["output_bytes"].append(len(codec.encode_value(result)))
    return {
        name: {
            **{k: statistics.median(v) for k, v in s.items()},
            "hint_cpu_cycles": hints[name],
            "runs": len(s["cpu_cycles"]),
        }
        for name, s in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.measure", description=__doc__)
    parser.add_argument("example", choices=["aoi", "traffic", "ultrasound"])
    parser.add_argument("--n", type=int, default=200, help="workload size to draw from")
    parser.add_argument("--per-task", type=int, default=20, help="runs of each task")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    figures = measure(args.example, args.n, args.per_task, args.seed)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(json.dumps({"loadavg": load, "tasks": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
