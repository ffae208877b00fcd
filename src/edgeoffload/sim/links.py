"""Trace-driven links: when does a transfer end, given the capacity over time?

A link direction carries at most ``C(t)`` bits per second, ``C`` a real trace
(:class:`~edgeoffload.traces.Trace`, looped) scaled and shifted per device. Transfers
share it first-come first-served. Both questions reduce to the cumulative capacity
``B(t)`` (bits the link can carry from 0 to t), piecewise linear, and its inverse:

- a transfer of ``b`` bits offered at ``t`` starts at bit ``s = max(B(t), free)``
  (``free``: where the previous transfer ended, in bits) and ends at ``B⁻¹(s + b)``;
- so the link's whole state is one number, ``free``, and every transfer costs two
  binary searches, whatever the trace.

This is Lindley's recursion in the bits domain; a zero-capacity stretch of a trace
(an outage) simply holds transfers until capacity returns. Lists and ``bisect`` rather
than numpy: these are scalar questions asked once per transfer, where a Python bisect
costs a fraction of one numpy call.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ..traces import Trace


@dataclass(frozen=True, slots=True)
class TraceTable:
    """One trace as lookup lists, shared by every device that replays it."""

    times: list[float]  # sample starts, then the period
    bits: list[float]  # cumulative bits at each entry of ``times``
    rates: list[float]  # bits per second of each sample
    period_s: float
    period_bits: float

    @classmethod
    def of(cls, trace: Trace) -> TraceTable:
        times = [*trace.times_s.tolist(), trace.duration_s]
        bits = trace.cumulative_bits().tolist()
        rates = (trace.mbps * 1e6).tolist()
        return cls(times, bits, rates, trace.duration_s, bits[-1])

    def bits_at(self, t: float) -> float:
        """Cumulative bits from 0 to ``t`` (>= 0) of the looped trace."""
        loops, r = divmod(t, self.period_s)
        i = bisect_right(self.times, r) - 1
        return loops * self.period_bits + self.bits[i] + self.rates[i] * (r - self.times[i])

    def time_at(self, b: float) -> float:
        """Earliest time at which the cumulative bits reach ``b`` (>= 0)."""
        loops, r = divmod(b, self.period_bits)
        if r <= 0.0:
            if loops == 0:
                return 0.0
            # On a period boundary: the last bit went out in the previous period (the
            # search below must not land after a trailing outage).
            loops -= 1
            r = self.period_bits
        i = bisect_left(self.bits, r) - 1
        return loops * self.period_s + self.times[i] + (r - self.bits[i]) / self.rates[i]


class LinkDirection:
    """One direction of one device's link: a shared trace table, this device's offset
    into it and scale, and the FIFO state.

    Times are simulated seconds; ``offset_s`` shifts where in the trace the device is at
    time 0.
    """

    __slots__ = ("_base", "_scale", "free_bits", "free_s", "offset_s", "table")

    def __init__(self, table: TraceTable, offset_s: float, scale: float) -> None:
        self.table = table
        self.offset_s = offset_s
        self._scale = scale
        self._base = table.bits_at(offset_s)
        #: Where the last transfer ended, in this link's bits since time 0.
        self.free_bits = 0.0
        #: When the last transfer ends (``time_at(free_bits)``, kept so that the
        #: device's uplink backlog costs no search: :meth:`backlog_s`).
        self.free_s = 0.0

    def bits_at(self, t: float) -> float:
        """Bits this link could carry from 0 to ``t``."""
        return (self.table.bits_at(t + self.offset_s) - self._base) * self._scale

    def time_at(self, b: float) -> float:
        """When the cumulative capacity reaches ``b`` bits."""
        return self.table.time_at(b / self._scale + self._base) - self.offset_s

    def transfer(self, t: float, bits: float) -> tuple[float, float]:
        """Queue ``bits`` offered at ``t`` behind earlier transfers.

        Returns:
            (start, end): when its first bit goes out and when its last bit is through.
        """
        # NOTE: bits_at and time_at inlined (this runs twice per offloaded task; the
        # calls cost a third of the stress benchmark's link time).
        table = self.table
        times, cum, rates = table.times, table.bits, table.rates
        period_s, period_bits = table.period_s, table.period_bits
        scale = self._scale
        loops, r = divmod(t + self.offset_s, period_s)
        i = bisect_right(times, r) - 1
        now_bits = (loops * period_bits + cum[i] + rates[i] * (r - times[i]) - self._base) * scale
        free = self.free_bits
        if free > now_bits:
            start_bits = free
            start = self.time_at(free)
        else:
            start_bits, start = now_bits, t
        end_bits = start_bits + bits
        self.free_bits = end_bits
        if bits <= 0:
            self.free_s = max(self.free_s, start)
            return start, start
        loops, r = divmod(end_bits / scale + self._base, period_bits)
        if r <= 0.0:
            end = max(start, self.time_at(end_bits))
        else:
            i = bisect_left(cum, r) - 1
            end = loops * period_s + times[i] + (r - cum[i]) / rates[i] - self.offset_s
            # max(): the inverse of a float integral can land a hair before its start.
            end = end if end > start else start
        self.free_s = end
        return start, end

    def backlog_s(self, t: float) -> float:
        """How long transfers already queued keep the link busy after ``t``: the wait
        of a transfer offered at ``t`` before its first bit goes out (0: idle)."""
        wait = self.free_s - t
        return wait if wait > 0.0 else 0.0

    def alone(self, t: float, bits: float) -> float:
        """When ``bits`` offered at ``t`` would be through on an idle link."""
        return max(t, self.time_at(self.bits_at(t) + bits)) if bits > 0 else t

    def probe(self, t: float, bits: float) -> tuple[float, float]:
        """What :meth:`transfer` would return, without queueing it (for hindsight)."""
        saved = self.free_bits, self.free_s
        try:
            return self.transfer(t, bits)
        finally:
            self.free_bits, self.free_s = saved

    def mean_bps(self) -> float:
        return self.table.period_bits / self.table.period_s * self._scale

    def capacity_bps(self, t: float) -> float:
        """Capacity at time ``t``."""
        table = self.table
        r = math.fmod(t + self.offset_s, table.period_s)
        return table.rates[bisect_right(table.times, r) - 1] * self._scale
