"""Phi-accrual failure detection (Hayashibara et al., SRDS 2004; as in Akka and Cassandra).

Instead of "dead after N missed heartbeats", the detector keeps the recent intervals
between heartbeats and turns the silence so far into a suspicion level::

    phi(t) = -log10(P(an interval longer than t - last heartbeat))

with the interval modelled as a normal distribution of the observed mean and standard
deviation, the mean lengthened by ``acceptable_pause_s`` (Akka's
acceptable-heartbeat-pause) and the deviation floored at ``min_std_s``. phi = 1 means a
10 % chance that the node is merely slow, phi = 8 one in 10^8. Because the deviation
is learned, a node whose heartbeats jitter under load is given more slack than one on
a quiet link, so the detector is fast where it can be and patient where it must be.

Pure: time comes in as arguments (seconds of any monotonic clock). Used by the client
on each data connection and by the controller on node heartbeats.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

_LN10 = math.log(10.0)


@dataclass(slots=True)
class PhiAccrual:
    """Suspicion level of one peer from the arrival times of its heartbeats.

    Args:
        expected_interval_s: the heartbeat period (seeds the statistics).
        window: how many recent intervals are kept.
        min_std_s: floor of the standard deviation (a perfectly regular link must
            still tolerate a little jitter).
        acceptable_pause_s: a pause this long is not suspicious at all (garbage
            collection, a busy event loop under load).
    """

    expected_interval_s: float
    window: int = 100
    min_std_s: float = 0.05
    acceptable_pause_s: float = 0.3
    _intervals: deque[float] = field(default_factory=deque)
    _sum: float = 0.0
    _sum_sq: float = 0.0
    _last: float | None = None

    def __post_init__(self) -> None:
        # Seed with two intervals around the expected one, as Akka does, so that phi is
        # meaningful from the first heartbeat.
        spread = self.expected_interval_s / 4
        for interval in (self.expected_interval_s - spread, self.expected_interval_s + spread):
            self._add(interval)

    def heartbeat(self, now: float) -> None:
        """Record a heartbeat (any sign of life) at ``now``."""
        if self._last is not None:
            self._add(now - self._last)
        self._last = now

    def _add(self, interval: float) -> None:
        self._intervals.append(interval)
        self._sum += interval
        self._sum_sq += interval * interval
        if len(self._intervals) > self.window:
            old = self._intervals.popleft()
            self._sum -= old
            self._sum_sq -= old * old

    @property
    def last_heartbeat(self) -> float | None:
        return self._last

    def phi(self, now: float) -> float:
        """Suspicion level at ``now`` (0 before the first heartbeat)."""
        if self._last is None:
            return 0.0
        return self.phi_after(now - self._last)

    def phi_after(self, elapsed: float) -> float:
        """Suspicion level after ``elapsed`` seconds of silence."""
        n = len(self._intervals)
        mean = self._sum / n
        variance = max(0.0, self._sum_sq / n - mean * mean)
        std = max(self.min_std_s, math.sqrt(variance))
        z = (elapsed - (mean + self.acceptable_pause_s)) / std
        # P(X > elapsed) for a normal, with the logistic approximation of its CDF that
        # Akka uses (max error 1.4e-4): P = 1 / (1 + exp(y)). Then phi = log10(1 + e^y),
        # computed so that it neither overflows nor hits log(0) far out in either tail.
        y = z * (1.5976 + 0.070566 * z * z)
        if y > 30.0:
            return (y + math.log1p(math.exp(-y))) / _LN10
        return math.log1p(math.exp(y)) / _LN10

    def silence_to_reach(self, threshold: float) -> float:
        """Seconds of silence at which phi reaches ``threshold`` (to arm a timer rather
        than poll). Bisection: phi grows monotonically with the silence."""
        lo, hi = 0.0, max(1.0, self.expected_interval_s)
        while self.phi_after(hi) < threshold and hi < 3600.0:
            hi *= 2
        for _ in range(50):
            mid = (lo + hi) / 2
            if self.phi_after(mid) < threshold:
                lo = mid
            else:
                hi = mid
        return hi
