"""What a device believes about its link: bandwidth estimates from its own transfers.

**Hook for the decision engine's estimators.** A device learns a throughput sample
(bits over transmission time) when each of its transfers completes; the estimate its
policy sees is refreshed with the samples that completed by its next view (no sample
from the future leaks into a decision). The estimator here is an exponentially weighted
moving average; ``edgeoffload.decision.estimators`` (issue 5) can replace it by passing
any object with the same three methods to :class:`~edgeoffload.sim.simulation.Simulation`.
"""

from __future__ import annotations

from typing import Protocol


class BandwidthEstimator(Protocol):
    """Per-device estimates of uplink and downlink bandwidth, in bit/s."""

    def observe(self, device: int, uplink: bool, bps: float) -> None:
        """Fold in one completed transfer's throughput."""

    def up_bps(self, device: int) -> float: ...

    def down_bps(self, device: int) -> float: ...


class EwmaBandwidth:
    """``estimate += alpha * (sample - estimate)`` per device and direction.

    Args:
        initial_up_bps, initial_down_bps: per-device starting estimates (the simulator
            passes each link's long-run mean, as if learnt from earlier transfers).
        alpha: weight of the newest sample.
    """

    __slots__ = ("_down", "_up", "alpha")

    def __init__(
        self, initial_up_bps: list[float], initial_down_bps: list[float], alpha: float
    ) -> None:
        self._up = list(initial_up_bps)
        self._down = list(initial_down_bps)
        self.alpha = alpha

    def observe(self, device: int, uplink: bool, bps: float) -> None:
        values = self._up if uplink else self._down
        values[device] += self.alpha * (bps - values[device])

    def up_bps(self, device: int) -> float:
        return self._up[device]

    def down_bps(self, device: int) -> float:
        return self._down[device]
