"""When devices create tasks: arrival processes drawn one view interval at a time.

Each (device group, workload entry) pair is one :class:`ArrivalSource`; asked for an
interval ``[t0, t1)`` and a set of devices, it returns who creates a task when, for all
of them in a few numpy calls. Processes:

- ``poisson``: event counts ~ Poisson(rate * interval) per device, times uniform in
  the interval (the order statistics of a Poisson process);
- ``periodic``: every ``1/rate`` s from a random phase per device (camera frames);
- ``trace``: a real request trace (``data/workload``) replayed from a random offset per
  device, looped, its clock scaled so that its mean rate is ``rate_hz``;
- ``times``: at the instants ``times_s``, the same for every device, once (a real run's
  request times replayed; nothing drawn).

Each event creates ``burst`` tasks at the same instant (e.g. one frame from each of an
intersection's cameras).
"""

from __future__ import annotations

import math

import numpy as np

from ..decision.features import F64, I64
from ..traces import load_workload
from .scenario import ArrivalSpec


class ArrivalSource:
    """Arrivals of one workload entry for the devices ``devices`` (global ids)."""

    def __init__(self, spec: ArrivalSpec, app: int, devices: I64, rng: np.random.Generator) -> None:
        self.spec = spec
        self.app = app
        self.devices = devices
        self.rate = spec.rate_hz
        n = devices.size
        self._phase = rng.uniform(0.0, 1.0 / self.rate, n) if spec.process == "periodic" else None
        self._trace: F64 | None = None
        self._times = np.sort(np.asarray(spec.times_s or [], dtype=np.float64))
        self._sizes: F64 | None = None
        if spec.process == "trace":
            assert spec.workload is not None  # checked on load
            arrivals = load_workload(spec.workload)
            mean_gap = arrivals.duration_s / max(1, len(arrivals) - 1)
            # One loop of the trace, in simulated seconds at the requested rate: its
            # clock runs ``rate / native rate`` times as fast (trace seconds per
            # simulated second). Once inverted, so 10 Hz asked of a 2.6 Hz trace gave
            # 0.66 Hz; tests/unit/sim/test_workload.py checks the rate.
            scale = self.rate / arrivals.mean_rate_hz()
            self._trace = np.asarray(arrivals.arrival_s) / scale
            self._period = (arrivals.duration_s + mean_gap) / scale
            self._offset = rng.uniform(0.0, self._period, n)
            if spec.size_column is not None:
                column = arrivals.columns.get(spec.size_column)
                if column is None:
                    from ..errors import ConfigError

                    known = ", ".join(arrivals.columns)
                    raise ConfigError(
                        f"arrivals.size_column: {spec.size_column!r} is not a column of "
                        f"{spec.workload} (known: {known})"
                    )
                median = float(np.nanmedian(column))
                self._sizes = np.nan_to_num(column / median, nan=1.0)
        self._index: dict[int, I64] = {}

    def select(self, phase_of: I64, phase: int) -> I64:
        """Positions (into ``devices``) of the devices in refresh phase ``phase``."""
        cached = self._index.get(phase)
        if cached is None:
            cached = np.flatnonzero(phase_of[self.devices] == phase)
            self._index[phase] = cached
        return cached

    def draw(
        self, rng: np.random.Generator, positions: I64, t0: float, t1: float
    ) -> tuple[I64, F64, F64]:
        """Tasks of the devices at ``positions`` created in ``[t0, t1)``.

        Returns:
            (device ids, creation times, size multipliers), one entry per task.
        """
        if positions.size == 0:
            empty = np.zeros(0)
            return np.zeros(0, dtype=np.int64), empty, empty
        spec = self.spec
        if spec.process == "poisson":
            counts = rng.poisson(self.rate * (t1 - t0), positions.size)
            where = np.repeat(positions, counts)
            times = t0 + rng.random(where.size) * (t1 - t0)
            sizes = np.ones(where.size)
        elif spec.process == "periodic":
            assert self._phase is not None
            phase = self._phase[positions]
            first = np.maximum(0.0, np.ceil((t0 - phase) * self.rate))
            counts = (np.ceil((t1 - phase) * self.rate) - first).astype(np.int64)
            counts = np.maximum(counts, 0)
            where = np.repeat(positions, counts)
            k = np.repeat(first, counts) + _ranks(counts)
            times = np.repeat(phase, counts) + k / self.rate
            sizes = np.ones(where.size)
        elif spec.process == "times":
            at = self._times
            chosen = at[np.searchsorted(at, t0, "left") : np.searchsorted(at, t1, "left")]
            where = np.repeat(positions, chosen.size)
            times = np.tile(chosen, positions.size)
            sizes = np.ones(where.size)
        else:
            where, times, sizes = self._from_trace(positions, t0, t1)
        if spec.burst > 1:
            where = np.repeat(where, spec.burst)
            times = np.repeat(times, spec.burst)
            sizes = np.repeat(sizes, spec.burst)
        return self.devices[where], times, sizes

    def _from_trace(self, positions: I64, t0: float, t1: float) -> tuple[I64, F64, F64]:
        assert self._trace is not None
        trace, period = self._trace, self._period
        where: list[I64] = []
        times: list[F64] = []
        picks: list[I64] = []
        for pos in positions.tolist():
            # Trace time = sim time + offset, looped every period.
            lo = t0 + self._offset[pos]
            hi = t1 + self._offset[pos]
            loop = math.floor(lo / period)
            while loop * period < hi:
                base = loop * period
                a = np.searchsorted(trace, lo - base, side="left")
                b = np.searchsorted(trace, hi - base, side="left")
                if b > a:
                    idx = np.arange(a, b)
                    picks.append(idx)
                    times.append(trace[idx] + base - self._offset[pos])
                    where.append(np.full(b - a, pos, dtype=np.int64))
                loop += 1
        if not where:
            empty = np.zeros(0)
            return np.zeros(0, dtype=np.int64), empty, empty
        chosen = np.concatenate(picks)
        sizes = self._sizes[chosen] if self._sizes is not None else np.ones(chosen.size)
        return np.concatenate(where), np.concatenate(times), sizes


def _ranks(counts: I64) -> F64:
    """0, 1, ..., c-1 for each count c, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return (np.arange(total) - starts).astype(np.float64)
