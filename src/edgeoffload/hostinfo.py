"""Facts about this machine that decisions need: CPU speed, load, battery (psutil)."""

from __future__ import annotations

import functools
import time

#: Reference for the speed estimate: the calibration loop's rate on a 2.5 GHz Xeon
#: core (the project's CI machine), measured once; a machine reports its own rate
#: scaled by it.
_REFERENCE_LOOP_PER_S = 3.2e7
_REFERENCE_HZ = 2.5e9


@functools.cache
def cpu_speed_hz() -> float:
    """Cycles per second of one core: the CPU's maximum frequency when the OS reports
    it, else a 20 ms calibration loop scaled to the reference core (measured once)."""
    import psutil

    freq = psutil.cpu_freq()
    if freq is not None and freq.max:
        return float(freq.max) * 1e6
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.02:
        for _ in range(10_000):
            n += 1
    rate = n / (time.perf_counter() - t0)
    return _REFERENCE_HZ * rate / _REFERENCE_LOOP_PER_S


def cpu_load() -> float:
    """Busy share of the machine's CPUs since the previous call (0..1)."""
    import psutil

    return float(psutil.cpu_percent(None)) / 100.0


def battery_level() -> float:
    """Charge 0..1, or 1.0 for a machine on mains power or without a battery."""
    import psutil

    read = getattr(psutil, "sensors_battery", None)
    battery = read() if read is not None else None
    if battery is None or battery.power_plugged:
        return 1.0
    return max(0.0, min(1.0, float(battery.percent) / 100.0))
