"""Which node gets a task: pure choices over the nodes that can take it.

Every policy sees the same :class:`Candidate` rows, built by the client from its own
in-flight counts, the node's load reports (a ``Status`` every heartbeat on the data
connection) and the controller's table (speed, labels), and returns a node id.

- ``least_in_flight``: the fewest of this client's tasks in flight.
- ``least_loaded``: the least load per worker, load being the node's queued plus
  running tasks or this client's in-flight count, whichever is larger (a node's report
  is up to one heartbeat old; our own count is exact but partial).
- ``power_of_two``: two candidates at random, the less loaded (Mitzenmacher 2001): nearly
  the balance of least-loaded with far less herding when many clients decide at once
  on the same stale reports.
- ``latency_aware``: the earliest expected completion = round trip + transfer time at
  the estimated bandwidth + queue wait + compute time at the node's speed.

Ties break by round-trip time, then by node id, so choices are deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node that could take the task, as the client sees it now. Zero means unknown
    for ``speed_hz`` and ``up_bps``."""

    node_id: str
    in_flight: int
    rtt_s: float = 0.0
    queued: int = 0
    running: int = 0
    workers: int = 1
    speed_hz: float = 0.0
    up_bps: float = 0.0

    @property
    def load(self) -> float:
        """Tasks per worker ahead of a new one."""
        return max(self.queued + self.running, self.in_flight) / max(1, self.workers)


@dataclass(frozen=True, slots=True)
class TaskCost:
    """What latency-aware placement needs to know about the task."""

    cpu_cycles: float = 0.0
    input_bytes: float = 0.0
    output_bytes: float = 0.0
    #: Mean run time observed for this task (used when a node's speed is unknown).
    observed_run_s: float | None = None


class Placement(Protocol):
    name: str

    def choose(self, candidates: Sequence[Candidate], task: TaskCost) -> str | None: ...


def _tie(c: Candidate) -> tuple[float, str]:
    return (c.rtt_s, c.node_id)


class LeastInFlight:
    name = "least_in_flight"

    def choose(self, candidates: Sequence[Candidate], task: TaskCost) -> str | None:
        if not candidates:
            return None
        return min(candidates, key=lambda c: (c.in_flight, *_tie(c))).node_id


class LeastLoaded:
    name = "least_loaded"

    def choose(self, candidates: Sequence[Candidate], task: TaskCost) -> str | None:
        if not candidates:
            return None
        return min(candidates, key=lambda c: (c.load, *_tie(c))).node_id


class PowerOfTwo:
    name = "power_of_two"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def choose(self, candidates: Sequence[Candidate], task: TaskCost) -> str | None:
        if len(candidates) <= 2:
            return LeastLoaded().choose(candidates, task)
        pair = self._rng.sample(list(candidates), 2)
        return min(pair, key=lambda c: (c.load, *_tie(c))).node_id


class LatencyAware:
    name = "latency_aware"

    def choose(self, candidates: Sequence[Candidate], task: TaskCost) -> str | None:
        if not candidates:
            return None
        return min(candidates, key=lambda c: (expected_completion_s(c, task), *_tie(c))).node_id


#: Speed assumed for a node that has not reported one (a 2.5 GHz core).
DEFAULT_SPEED_HZ = 2.5e9


def expected_completion_s(c: Candidate, task: TaskCost) -> float:
    """Round trip + transfer + queue wait + compute, in seconds, for ``task`` on ``c``.

    Compute time is the task's cycles at the node's speed (:data:`DEFAULT_SPEED_HZ`
    when unknown), or the observed run time for a task without a cycles hint.
    """
    if task.cpu_cycles > 0:
        compute = task.cpu_cycles / (c.speed_hz if c.speed_hz > 0 else DEFAULT_SPEED_HZ)
    else:
        compute = task.observed_run_s or 0.0
    transfer = (task.input_bytes + task.output_bytes) * 8.0 / c.up_bps if c.up_bps > 0 else 0.0
    return c.rtt_s + transfer + c.load * compute + compute


PLACEMENTS = ("least_in_flight", "least_loaded", "power_of_two", "latency_aware")


def make_placement(name: str, seed: int | None = None) -> Placement:
    """The placement policy called ``name`` (one of :data:`PLACEMENTS`)."""
    if name == "least_in_flight":
        return LeastInFlight()
    if name == "least_loaded":
        return LeastLoaded()
    if name == "power_of_two":
        return PowerOfTwo(seed)
    if name == "latency_aware":
        return LatencyAware()
    raise ValueError(f"unknown placement {name!r}; choose from {', '.join(PLACEMENTS)}")
