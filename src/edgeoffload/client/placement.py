"""Which node gets a task: pure choices over the nodes the client is connected to.

For now: least in-flight (the client's own count of its tasks on each node), ties to
the node with the lower round-trip time, then by name for determinism. The node-table
issue adds load- and latency-aware policies behind the same function shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node that could take the task, as the client sees it now."""

    node_id: str
    in_flight: int
    rtt_s: float = 0.0


def least_in_flight(candidates: Sequence[Candidate]) -> str | None:
    """The candidate with the fewest of our tasks in flight (None if there is none)."""
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.in_flight, c.rtt_s, c.node_id)).node_id


Placement = Callable[[Sequence[Candidate]], str | None]
