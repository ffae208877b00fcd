"""Recent latencies per task name: the mean (for placement) and the p95 (for hedging)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Series:
    samples: deque[float]
    total: float = 0.0
    p95: float | None = None
    since_sort: int = 0


@dataclass
class TaskLatency:
    """The last ``window`` latencies of each task; the p95 is recomputed every
    ``resort_every`` samples (sorting on every task would cost more than it tells)."""

    window: int = 200
    min_samples: int = 20
    resort_every: int = 20
    _series: dict[str, _Series] = field(default_factory=dict)

    def add(self, task: str, seconds: float) -> None:
        s = self._series.get(task)
        if s is None:
            s = self._series[task] = _Series(deque())
        s.samples.append(seconds)
        s.total += seconds
        if len(s.samples) > self.window:
            s.total -= s.samples.popleft()
        s.since_sort += 1
        if len(s.samples) >= self.min_samples and (
            s.p95 is None or s.since_sort >= self.resort_every
        ):
            ordered = sorted(s.samples)
            s.p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            s.since_sort = 0

    def mean_s(self, task: str) -> float | None:
        s = self._series.get(task)
        return s.total / len(s.samples) if s and s.samples else None

    def p95_s(self, task: str) -> float | None:
        """None until ``min_samples`` latencies of this task have been seen."""
        s = self._series.get(task)
        return s.p95 if s else None
