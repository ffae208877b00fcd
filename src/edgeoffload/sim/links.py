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
than numpy for one transfer (a Python bisect costs a fraction of one numpy call);
:class:`LinkArrays` does the same arithmetic for many links at once.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

from ..decision.features import F64, I64
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
    into it and scale, and the FIFO state (``free_bits``, ``free_s``).

    Times are simulated seconds; ``offset_s`` shifts where in the trace the device is at
    time 0. The state lives in slot ``_i`` of two float arrays: the link's own, or
    those of the :class:`LinkArrays` built over it last, which then updates many links'
    state at once.
    """

    __slots__ = ("_base", "_bits", "_i", "_s", "_scale", "offset_s", "table")

    def __init__(self, table: TraceTable, offset_s: float, scale: float) -> None:
        self.table = table
        self.offset_s = offset_s
        self._scale = scale
        self._base = table.bits_at(offset_s)
        self._bits = array("d", [0.0])
        self._s = array("d", [0.0])
        self._i = 0

    @property
    def free_bits(self) -> float:
        """Where the last transfer ended, in this link's bits since time 0."""
        return self._bits[self._i]

    @free_bits.setter
    def free_bits(self, value: float) -> None:
        self._bits[self._i] = value

    @property
    def free_s(self) -> float:
        """When the last transfer ends (``time_at(free_bits)``, kept so that the
        device's uplink backlog costs no search: :meth:`backlog_s`)."""
        return self._s[self._i]

    @free_s.setter
    def free_s(self, value: float) -> None:
        self._s[self._i] = value

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
        slot = self._i
        free = self._bits[slot]
        if free > now_bits:
            start_bits = free
            start = self.time_at(free)
        else:
            start_bits, start = now_bits, t
        end_bits = start_bits + bits
        self._bits[slot] = end_bits
        if bits <= 0:
            self._s[slot] = max(self._s[slot], start)
            return start, start
        loops, r = divmod(end_bits / scale + self._base, period_bits)
        if r <= 0.0:
            end = max(start, self.time_at(end_bits))
        else:
            i = bisect_left(cum, r) - 1
            end = loops * period_s + times[i] + (r - cum[i]) / rates[i] - self.offset_s
            # max(): the inverse of a float integral can land a hair before its start.
            end = end if end > start else start
        self._s[slot] = end
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


class LinkArrays:
    """Many links of one direction as arrays, for transfers on many of them at once.

    The trace tables are flattened into one array per column; a search within link
    ``d``'s own table is one ``searchsorted`` over complex keys ``trace + 1j * value``
    (numpy orders complex numbers by real part, then imaginary part), so a whole set of
    transfers costs a few numpy calls whatever traces they replay; the rows where the
    link's previous answer still holds skip it (:meth:`_find`). Results equal
    :meth:`LinkDirection.transfer` bit for bit (the same float operations in the same
    order). The links' state moves into two arrays here (:attr:`free_bits`,
    :attr:`free_s`, index = position in ``links``), which the link objects then use as
    theirs: a link belongs to the last LinkArrays built over it.
    """

    def __init__(self, links: list[LinkDirection]) -> None:
        self.links = links
        self.free_bits = array("d", [link.free_bits for link in links])
        self.free_s = array("d", [link.free_s for link in links])
        for i, link in enumerate(links):
            link._bits, link._s, link._i = self.free_bits, self.free_s, i
        #: Numpy views of the state (the arrays never grow).
        self.free_bits_v = np.frombuffer(self.free_bits)
        self.free_s_v = np.frombuffer(self.free_s)
        tables: dict[int, int] = {}
        ordered: list[TraceTable] = []
        trace = []
        for link in links:
            j = tables.get(id(link.table))
            if j is None:
                j = tables[id(link.table)] = len(ordered)
                ordered.append(link.table)
            trace.append(j)
        self.trace = np.array(trace, dtype=np.float64)
        self.offset = np.array([link.offset_s for link in links], dtype=np.float64)
        self.scale = np.array([link._scale for link in links], dtype=np.float64)
        self.base = np.array([link._base for link in links], dtype=np.float64)
        self.period_s = np.array([t.period_s for t in ordered], dtype=np.float64)
        self.period_bits = np.array([t.period_bits for t in ordered], dtype=np.float64)
        time_keys, bit_keys, times, bits, rates = [], [], [], [], []
        times_next, bits_next = [], []
        for j, t in enumerate(ordered):
            time_keys.append(j + 1j * np.array(t.times))
            bit_keys.append(j + 1j * np.array(t.bits))
            times.append(t.times)
            bits.append(t.bits)
            rates.append([*t.rates, 0.0])  # aligned with times (one entry per sample start)
            times_next.append([*t.times[1:], math.inf])  # the next entry in the same table
            bits_next.append([*t.bits[1:], math.inf])
        self._time_keys = np.concatenate(time_keys) if ordered else np.zeros(0, complex)
        self._bit_keys = np.concatenate(bit_keys) if ordered else np.zeros(0, complex)
        self._times = np.concatenate(times) if ordered else np.zeros(0)
        self._bits = np.concatenate(bits) if ordered else np.zeros(0)
        self._rates = np.concatenate(rates) if ordered else np.zeros(0)
        self._times_next = np.concatenate(times_next) if ordered else np.zeros(0)
        self._bits_next = np.concatenate(bits_next) if ordered else np.zeros(0)
        # Per link: where its table starts in the flattened columns, and the last answer
        # of each search on it (a hint, checked before use: _find).
        first = np.cumsum([0, *(len(t.times) for t in ordered)], dtype=np.int64)
        self._first = first[np.array(trace, dtype=np.int64)]
        self._time_hint = self._first.copy()
        self._bit_hint = self._first.copy()

    def _search(self, keys: np.ndarray, trace: F64, value: F64, side: str) -> I64:
        """Per row, ``bisect(table, value) - 1`` in that row's own table, as an index
        into the flattened columns."""
        key = np.empty(value.size, dtype=np.complex128)
        key.real = trace
        key.imag = value
        found: I64 = np.searchsorted(keys, key, side=side) - 1  # type: ignore[call-overload]
        return found

    def _find(self, side: str, index: I64, trace: F64, value: F64) -> I64:
        """:meth:`_search` in the times (side "right") or the bits (side "left") of
        links ``index``, trying first each link's last answer (successive transfers on
        a link mostly fall in the same sample); the check is exact, so is the answer."""
        if side == "right":
            flat, after, hints = self._times, self._times_next, self._time_hint
            hint = hints[index]
            ok = (flat[hint] <= value) & (value < after[hint])
        else:
            flat, after, hints = self._bits, self._bits_next, self._bit_hint
            hint = hints[index]
            ok = (flat[hint] < value) & (value <= after[hint])
        if not ok.all():
            miss = np.flatnonzero(~ok)
            keys = self._time_keys if side == "right" else self._bit_keys
            found = self._search(keys, trace[miss], value[miss], side)
            hint[miss] = found
            # A hint stays within the link's own table (NaN, say, can land outside).
            links = index[miss]
            hints[links] = np.maximum(found, self._first[links])
        return hint

    def transfer(self, index: I64, t: F64, bits: F64) -> tuple[F64, F64, np.ndarray]:
        """:meth:`LinkDirection.transfer` of ``bits[i]`` offered at ``t[i]`` on link
        ``index[i]``, for links that each appear once.

        Returns:
            (start, end, done): ``done[i]`` False where the row needs the scalar method
            (an empty transfer, or a boundary case of the inverse); for the other rows
            the links' state is updated.
        """
        trace = self.trace[index]
        j = trace.astype(np.int64)
        period_s, period_bits = self.period_s[j], self.period_bits[j]
        offset, scale, base = self.offset[index], self.scale[index], self.base[index]
        times, cum, rates = self._times, self._bits, self._rates
        free = self.free_bits_v[index]
        loops, r = np.divmod(t + offset, period_s)
        i = self._find("right", index, trace, r)
        now_bits = (loops * period_bits + cum[i] + rates[i] * (r - times[i]) - base) * scale
        busy = free > now_bits
        start_bits = np.where(busy, free, now_bits)
        start = t.astype(np.float64)  # a copy
        odd = np.zeros(t.size, dtype=bool)
        if busy.any():  # rare: time_at(free), the start of a transfer queued behind another
            q = np.flatnonzero(busy)
            qs, qb = period_s[q], period_bits[q]
            loops, r = np.divmod(free[q] / scale[q] + base[q], qb)
            odd[q] = r <= 0.0
            r = np.where(r <= 0.0, qb, r)
            i = self._search(self._bit_keys, trace[q], r, "left")
            start[q] = loops * qs + times[i] + (r - cum[i]) / rates[i] - offset[q]
        end_bits = start_bits + bits
        loops, r = np.divmod(end_bits / scale + base, period_bits)
        odd |= (r <= 0.0) | (bits <= 0)
        r = np.where(r <= 0.0, period_bits, r)
        i = self._find("left", index, trace, r)
        end = loops * period_s + times[i] + (r - cum[i]) / rates[i] - offset
        end = np.where(end > start, end, start)
        done = ~odd
        if done.all():
            self.free_bits_v[index] = end_bits
            self.free_s_v[index] = end
        else:
            kept = index[done]
            self.free_bits_v[kept] = end_bits[done]
            self.free_s_v[kept] = end[done]
        return start, end, done
