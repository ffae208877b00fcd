"""The traffic workload: seeded detector readings from a grid of intersections.

Every second each intersection's sensors report (all at the same instant: the central
system polls every controller at the top of the second) and a ``traffic_estimate``
task is sent with the last :data:`~.tasks.WINDOW_S` seconds of readings; every
:data:`~.tasks.WINDOW_S` seconds (all
intersections together: a coordinated network shares its timing) a ``traffic_plan``
task with the last :data:`~.tasks.PLAN_WINDOW_S` seconds of readings. So the tasks come
in bursts of one per intersection, which is what batching is for.

Traffic is generated per lane as Poisson arrivals at a rate drawn per intersection and
lane (busy-hour volumes, 100-450 vehicles per hour per lane), departures at the stop
line during the lane's green of a fixed 40 s background plan (at most the saturation
flow), and a camera queue count with counting noise that misses one reading in five.

``repeat=True`` is night-time traffic: at about two intersections in three
(:data:`QUIET_SHARE`) it is so quiet that their readings follow one of a handful of
patterns, each a fixed one-cycle sequence shared by many intersections and repeated
every cycle, so that the same window of readings (and the same plan request) recurs:
the cache's case; the other intersections have light traffic, fresh every second.

Pure and seeded: no I/O, no clock; the same ``(n, seed, repeat)`` gives the same list.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .tasks import (
    LANES,
    NO_OBSERVATION,
    PHASE_LANES,
    PLAN_WINDOW_S,
    SATURATION_VPH,
    WINDOW_S,
    plan,
)

#: A queue estimate is stale once the next reading arrives (1 s); a plan must be
#: issued within the amber-plus-all-red gap that ends the cycle (see README).
DEADLINE_S = 1.0
#: Most intersections one workload drives (the scenario's 60).
MAX_INTERSECTIONS = 60
#: Tasks per intersection per cycle: one estimate a second and one plan.
TASKS_PER_CYCLE = WINDOW_S + 1
#: Distinct night-time patterns in the repetitive variant, and the share of
#: intersections that are that quiet (the others have light, fresh traffic).
NIGHT_PATTERNS = 4
QUIET_SHARE = 2 / 3
#: Background plan the readings are generated under (green per phase, seconds).
_BACKGROUND_GREEN = 6.0


class Request(NamedTuple):
    """One task to send (the contract in docs/examples; fields in that order)."""

    at_s: float
    task: str
    args: tuple[Any, ...]
    deadline_s: float | None
    group: str


def intersections_for(n: int) -> int:
    """Intersections for ``n`` tasks: enough that a cycle of them holds ``n`` tasks,
    at most :data:`MAX_INTERSECTIONS` (beyond that the workload runs longer)."""
    return max(1, min(MAX_INTERSECTIONS, math.ceil(n / TASKS_PER_CYCLE)))


def _green_lanes(second: np.ndarray) -> np.ndarray:
    """(T, LANES) bool: which lanes the background plan serves at each second."""
    period = len(PHASE_LANES) * (_BACKGROUND_GREEN + 4.0)
    phase_pos = second % period
    green = np.zeros((len(second), LANES), dtype=bool)
    for i, lanes in enumerate(PHASE_LANES):
        start = i * (_BACKGROUND_GREEN + 4.0)
        on = (phase_pos >= start) & (phase_pos < start + _BACKGROUND_GREEN)
        green[:, list(lanes)] = on[:, None]
    return green


def _readings(rng: np.random.Generator, seconds: int, rates_vps: np.ndarray) -> np.ndarray:
    """(seconds, LANES, 3) uint16 readings for one intersection (module docstring)."""
    arrivals = rng.poisson(rates_vps, size=(seconds, LANES))
    green = _green_lanes(np.arange(seconds, dtype=np.float64))
    capacity = SATURATION_VPH / 3600.0
    out = np.zeros((seconds, LANES, 3), dtype=np.uint16)
    q = np.zeros(LANES)
    for t in range(seconds):
        q += arrivals[t]
        # Departures: whole vehicles, at most the saturation flow's chance per second.
        can = rng.random(LANES) < capacity
        dep = np.where(green[t] & can & (q >= 1), 1, 0)
        q -= dep
        seen = rng.random(LANES) >= 0.2
        camera = np.clip(np.round(q + rng.normal(0.0, 0.7, LANES)), 0, None)
        out[t, :, 0] = arrivals[t]
        out[t, :, 1] = dep
        out[t, :, 2] = np.where(seen, camera, NO_OBSERVATION)
    return out


def _night_pattern(rng: np.random.Generator) -> np.ndarray:
    """One cycle of quiet readings: a car now and then, every queue seen empty."""
    out = np.zeros((WINDOW_S, LANES, 3), dtype=np.uint16)
    cars = rng.random((WINDOW_S, LANES)) < 0.05
    out[:, :, 0] = cars
    out[:, :, 1] = cars  # a green on demand: each car leaves in the second it came
    return out


def workload(n: int, seed: int = 0, *, repeat: bool = False) -> list[Request]:
    """``n`` tasks from :func:`intersections_for` intersections, in send order.

    Raises:
        ValueError: ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    count = intersections_for(n)
    cycles = math.ceil(n / (count * TASKS_PER_CYCLE))
    # Readings start PLAN_WINDOW_S before the first request (the sensors were on).
    warmup = PLAN_WINDOW_S
    seconds = warmup + cycles * WINDOW_S
    rates = rng.uniform(100.0, 450.0, size=(count, LANES)) / 3600.0
    rates[:, 1::2] *= 0.4  # left turns carry fewer vehicles
    if repeat:
        patterns = [_night_pattern(rng) for _ in range(NIGHT_PATTERNS)]
        which = rng.integers(0, NIGHT_PATTERNS, size=count)
        quiet = rng.random(count) < QUIET_SHARE
        reps = seconds // WINDOW_S
        streams = [
            np.tile(patterns[which[i]], (reps, 1, 1))
            if quiet[i]
            else _readings(rng, seconds, rates[i] * 0.3)  # light night traffic
            for i in range(count)
        ]
    else:
        streams = [_readings(rng, seconds, rates[i]) for i in range(count)]
    requests: list[Request] = []
    # Second t's readings arrive together at t - warmup (the central system polls
    # every controller at the top of each second, as NTCIP systems do).
    for t in range(warmup, seconds):
        at = float(t - warmup)
        for i in range(count):
            window = np.ascontiguousarray(streams[i][t - WINDOW_S + 1 : t + 1])
            requests.append(Request(at, "traffic_estimate", (window,), DEADLINE_S, "reading"))
            if (t - warmup) % WINDOW_S == 0:
                history = np.ascontiguousarray(streams[i][t - PLAN_WINDOW_S + 1 : t + 1])
                requests.append(Request(at, "traffic_plan", (history,), DEADLINE_S, "cycle"))
    return requests[:n]


def check(request: Request, result: Any) -> bool:
    """Is ``result`` the right answer to ``request``? Recomputed here (both tasks are
    deterministic and cheap) and compared, allowing for float rounding."""
    from .tasks import estimate_queues

    (window,) = request.args
    if request.task == "traffic_estimate":
        got = np.asarray(result, dtype=np.float64)
        want = estimate_queues(window)
        return got.shape == want.shape and bool(np.allclose(got, want, atol=1e-6))
    if request.task == "traffic_plan":
        if not isinstance(result, dict):
            return False
        want = plan(np.asarray(window))
        keys = ("cycle_s", "green_s", "lost_s", "webster_cycle_s")
        try:
            return all(np.allclose(result[k], want[k], atol=1e-3) for k in keys)
        except (KeyError, TypeError, ValueError):
            return False
    return False


__all__ = ["DEADLINE_S", "Request", "check", "intersections_for", "workload"]
