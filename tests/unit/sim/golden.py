"""Golden digests of the simulator's outputs: the regression guard for "bit-identical".

Every refactoring of the simulator's hot paths must leave its numbers exactly as they
were. This module runs a fixed set of short cases (the bundled scenarios, shortened,
over fixed seeds and several policies; the training world's oracle records; a
Gymnasium episode) and reduces every output array to a digest: sha256 of its bytes,
with its dtype and shape. ``golden.json`` holds the digests of the code as it was when
they were written; ``test_golden.py`` recomputes them and names the first case and
array that differs.

Regenerate only for an intended change of behaviour (and say so in the commit)::

    python -m tests.unit.sim.golden --write

The cases are chosen to go through every path that has a fast and a slow version:
rounds of one decision per device (stress, cost_model), the batching window
(manufacturing with ``window_s``), caches and the priority discipline (smart_city),
task graphs (ultrasound), capture (oracle records), an online policy that observes
outcomes (``online``: the per-call path), the learned default, and the Gymnasium
mode (external decisions, closed-task reports).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

PATH = Path(__file__).with_name("golden.json")

#: The training world (the decision engine's scenario), by file.
TRAINING = Path(__file__).parents[3] / "src/edgeoffload/decision/scenarios/offload_mix.yaml"


def digest(value: Any) -> str:
    """sha256 of an array's bytes, with its dtype and shape (so a reshape or a cast
    that keeps the bytes is still a change). Object arrays and other values go through
    their JSON text."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        data = np.ascontiguousarray(value)
        head = f"{data.dtype.str}{list(data.shape)}".encode()
        return hashlib.sha256(head + data.tobytes()).hexdigest()[:32]
    text = json.dumps(_plain(value), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        return repr(value)  # exact, and NaN/inf survive
    return value


def _result_arrays(result: Any) -> Iterator[tuple[str, Any]]:
    """Every output of a :class:`SimResult` except the wall-clock time."""
    for name in sorted(result.records):
        yield f"records.{name}", result.records[name]
    for name in ("timeline_s", "node_load", "link_times_s", "link_up_mbps", "link_down_mbps"):
        yield name, getattr(result, name)
    yield "nodes", result.nodes
    yield "apps+names", [result.apps, result.node_names, result.link_name]
    yield "totals", [result.uplink_saved_bytes, result.events, result.sim_end_s]


def _run(
    scenario: str, policy: str, seed: int, overrides: dict[str, Any]
) -> Callable[[], Iterator[tuple[str, Any]]]:
    def go() -> Iterator[tuple[str, Any]]:
        from edgeoffload.sim.runner import run
        from edgeoffload.sim.scenario import load_scenario, with_overrides

        spec = with_overrides(load_scenario(scenario), overrides)
        # The online policy's multipliers overflow to inf on a few outliers; numpy
        # warns, and the warning is not what this guard is about.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            result = run(spec, policy, seed=seed)
        yield from _result_arrays(result)

    return go


def _oracle(seed: int, duration_s: float) -> Callable[[], Iterator[tuple[str, Any]]]:
    def go() -> Iterator[tuple[str, Any]]:
        from edgeoffload.sim.oracle import oracle_records
        from edgeoffload.sim.scenario import load_scenario, with_overrides

        spec = with_overrides(load_scenario(str(TRAINING)), {"duration_s": duration_s})
        rec = oracle_records(spec, "cost_model", seed=seed)
        for f in fields(rec):
            yield f"oracle.{f.name}", getattr(rec, f.name)

    return go


def _episode(seed: int, steps: int) -> Callable[[], Iterator[tuple[str, Any]]]:
    """A Gymnasium episode of the default training world with a fixed action rule
    (cycling through the actions), then its records."""

    def go() -> Iterator[tuple[str, Any]]:
        from edgeoffload.sim.env import OffloadEnv, default_scenario
        from edgeoffload.sim.results import SimResult
        from edgeoffload.sim.scenario import with_overrides

        env = OffloadEnv(with_overrides(default_scenario(), {"duration_s": 40.0}))
        obs, _ = env.reset(seed=seed)
        observations, rewards = [obs], []
        done = False
        n = int(env.action_space.n)
        for i in range(steps):
            obs, reward, done, _, _ = env.step(i % n)
            observations.append(obs)
            rewards.append(reward)
            if done:
                break
        yield "env.observations", np.array(observations)
        yield "env.rewards", np.array(rewards)
        assert env.sim is not None
        if done:
            yield from _result_arrays(SimResult.of(env.sim))

    return go


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], Iterator[tuple[str, Any]]]


def cases() -> list[Case]:
    short = {"duration_s": 120.0}
    return [
        # 10,000 devices and 100 nodes: the numpy rounds, arrivals and finishes.
        Case("stress/cost_model/seed0", _run("stress", "cost_model", 0, {"duration_s": 1.0})),
        Case("stress/always_edge/seed1", _run("stress", "always_edge", 1, {"duration_s": 0.5})),
        # FIFO nodes with failures; a batching window.
        Case(
            "manufacturing/cost_model/seed1",  # to past the restart at 150 s
            _run("manufacturing", "cost_model", 1, {"duration_s": 200.0}),
        ),
        Case("manufacturing/always_local/seed2", _run("manufacturing", "always_local", 2, short)),
        Case(
            "manufacturing/window/always_edge/seed3",
            _run(
                "manufacturing",
                "always_edge",
                3,
                {**short, "batching.window_s": 0.02, "batching.max_items": 4},
            ),
        ),
        # Result caches, the priority discipline, failures.
        Case("smart_city/cost_model/seed1", _run("smart_city", "cost_model", 1, short)),
        Case("smart_city/online/seed2", _run("smart_city", "online", 2, short)),
        Case("smart_city/random/seed3", _run("smart_city", "random", 3, short)),
        Case(
            "smart_city/crashes+input_cache/cost_model/seed4",
            _run(
                "smart_city",
                "cost_model",
                4,
                {
                    "duration_s": 60.0,
                    "nodes[0].failures.mtbf_s": 30.0,
                    "nodes[0].failures.mttr_s": 5.0,
                    "nodes[0].cache.input_items": 100,
                },
            ),
        ),
        # Task graphs.
        Case("ultrasound/cost_model/seed1", _run("ultrasound", "cost_model", 1, short)),
        Case("ultrasound/learned/seed2", _run("ultrasound", "learned", 2, short)),
        Case("ultrasound/always_edge/seed3", _run("ultrasound", "always_edge", 3, short)),
        # The training world: capture and hindsight costs; the learned default.
        Case("offload_mix/oracle/seed1", _oracle(1, 60.0)),
        Case("offload_mix/oracle/seed2", _oracle(2, 60.0)),
        Case("offload_mix/learned/seed3", _run(str(TRAINING), "learned", 3, {"duration_s": 60.0})),
        # Gymnasium mode.
        Case("env/default/seed4", _episode(4, 100_000)),
    ]


def compute(case: Case) -> dict[str, str]:
    return {name: digest(value) for name, value in case.make()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {PATH.name}")
    parser.add_argument("--only", help="cases whose name contains this")
    args = parser.parse_args(argv)
    out: dict[str, dict[str, str]] = {}
    for case in cases():
        if args.only and args.only not in case.name:
            continue
        import time

        t0 = time.perf_counter()
        out[case.name] = compute(case)
        took = time.perf_counter() - t0
        print(f"{case.name}: {len(out[case.name])} arrays, {took:.2f} s", file=sys.stderr)
    total = sum(len(v) for v in out.values())
    print(f"{total} arrays in {len(out)} cases", file=sys.stderr)
    if args.write:
        PATH.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    else:
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
