"""Measure what a running :class:`~edgeoffload.emulation.network.Emulation` achieves.

The mahimahi paper validates mm-link by comparing what crossed the emulated link with
the trace it replayed; these functions do the same with real traffic between the
namespaces (the probes of :mod:`.probe`): the rate one TCP stream achieves in each
trace step, the RTT and loss UDP probes see, and the slowdown of a CPU-bound loop under
the device's CPU cap. Each returns plain data for the fidelity report
(``bench emulation``) and the integration test.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from ..traces import Trace
from .network import Emulation
from .plan import rate_at

PROBE = [sys.executable, "-m", "edgeoffload.emulation.probe"]


def _started(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"probe did not start: {line!r}")


@dataclass(frozen=True)
class RateRun:
    """Bytes one TCP stream delivered, per bin, and where the bins sit on the replay.

    Attributes:
        bin_s: bin width.
        offset_s: the first bin's start, in seconds since the replay started.
        mbps: achieved rate per bin.
    """

    bin_s: float
    offset_s: float
    mbps: list[float]

    def mean_mbps(self, skip_s: float = 0.0) -> float:
        k = int(skip_s / self.bin_s)
        return statistics.fmean(self.mbps[k:]) if self.mbps[k:] else 0.0


def measure_rate(
    emu: Emulation,
    seconds: float,
    *,
    link: int = 0,
    bin_s: float = 0.1,
    port: int = 5201,
    direction: str = "up",
) -> RateRun:
    """One TCP stream for ``seconds`` over ``link`` (``up``: device to edge)."""
    edge = emu.edge_addresses[link]
    if direction == "up":
        sink_argv = emu.edge_argv(link, [*PROBE, "sink", str(port), str(seconds), str(bin_s)])
        source_argv = emu.device_argv(
            [*PROBE, "source", edge, str(port), str(seconds)], capped=False
        )
    else:
        device = emu.plan.links[link].device_address
        sink_argv = emu.device_argv(
            [*PROBE, "sink", str(port), str(seconds), str(bin_s)], capped=False
        )
        source_argv = emu.edge_argv(link, [*PROBE, "source", device, str(port), str(seconds)])
    sink = subprocess.Popen(sink_argv, stdout=subprocess.PIPE, text=True)
    try:
        _started(sink)
        subprocess.run(source_argv, check=True, timeout=seconds + 30)
        out, _ = sink.communicate(timeout=30)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    bins = result["bins_bytes"][: int(seconds / bin_s)]
    start = result["start"] or 0.0
    offset = start - (emu.replay_start or start)
    return RateRun(bin_s, offset, [b * 8 / bin_s / 1e6 for b in bins])


def per_step(run: RateRun, trace: Trace, settle_s: float = 0.0) -> list[dict[str, float]]:
    """Achieved against the trace for every trace step the run covers.

    A step is clipped to the run; its achieved rate is the mean of the bins that lie
    wholly inside it after its first ``settle_s`` (the time TCP needs to find a new
    rate; for a step the run starts in, after the run's first ``settle_s``: the
    connection's own start). Steps with fewer than two such bins are left out.
    """
    rows = []
    t0 = run.offset_s
    t_end = t0 + len(run.mbps) * run.bin_s
    period = trace.duration_s
    n_periods = int(t_end // period) + 1
    starts = [float(t) + k * period for k in range(n_periods) for t in trace.times_s]
    starts.append(n_periods * period)
    for a, b in itertools.pairwise(starts):
        lo, hi = max(a, t0) + settle_s, min(b, t_end)
        first = math.ceil((lo - t0) / run.bin_s - 1e-9)
        last = math.floor((hi - t0) / run.bin_s + 1e-9)  # exclusive
        if last - first < 2:
            continue
        achieved = statistics.fmean(run.mbps[first:last])
        rows.append(
            {
                "start_s": round(a, 3),
                "span_s": round(b - a, 3),
                "measured_s": round((last - first) * run.bin_s, 3),
                "trace_mbps": round(rate_at(trace, a), 4),
                "achieved_mbps": round(achieved, 4),
            }
        )
    return rows


def measure_rtt_loss(
    emu: Emulation, count: int, interval_s: float, *, link: int = 0, port: int = 5202
) -> dict[str, Any]:
    """UDP probes from the device to an echo on edge ``link``: RTTs and the loss."""
    echo = subprocess.Popen(
        emu.edge_argv(link, [*PROBE, "echo", str(port)]), stdout=subprocess.PIPE, text=True
    )
    try:
        _started(echo)
        out = subprocess.run(
            emu.device_argv(
                [*PROBE, "ping", emu.edge_addresses[link], str(port), str(count), str(interval_s)],
                capped=False,
            ),
            check=True,
            capture_output=True,
            text=True,
            timeout=count * interval_s + 30,
        ).stdout
    finally:
        echo.kill()
        echo.wait()
        if echo.stdout:
            echo.stdout.close()
    result: dict[str, Any] = json.loads(out)
    rtts = sorted(result["rtts_ms"])
    lost = result["sent"] - len(rtts)
    return {
        "sent": result["sent"],
        "received": len(rtts),
        "round_trip_loss": lost / result["sent"],
        "rtt_ms": _summary(rtts),
    }


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def q(p: float) -> float:
        return values[min(len(values) - 1, round(p * (len(values) - 1)))]

    return {
        "min": round(values[0], 3),
        "p50": round(q(0.5), 3),
        "mean": round(statistics.fmean(values), 3),
        "p95": round(q(0.95), 3),
        "max": round(values[-1], 3),
        "stdev": round(statistics.pstdev(values), 3),
    }


def measure_cpu(emu: Emulation, additions: int) -> dict[str, float]:
    """A CPU-bound loop on the device, unconstrained and under the cap: wall and CPU
    seconds of each, and the slowdown (capped wall / unconstrained wall)."""

    def spin(capped: bool) -> dict[str, float]:
        out = subprocess.run(
            emu.device_argv([*PROBE, "spin", str(additions)], capped=capped),
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout
        return json.loads(out)  # type: ignore[no-any-return]

    free = spin(False)
    capped = spin(True)
    return {
        "additions": additions,
        "free_wall_s": round(free["wall_s"], 3),
        "free_cpu_s": round(free["cpu_s"], 3),
        "capped_wall_s": round(capped["wall_s"], 3),
        "capped_cpu_s": round(capped["cpu_s"], 3),
        "slowdown": round(capped["wall_s"] / free["wall_s"], 3),
        # against the loop's CPU time: the slowdown on an otherwise idle core (the free
        # run's wall time includes waiting for the other processes on this machine)
        "slowdown_vs_idle": round(capped["wall_s"] / free["cpu_s"], 3),
        # CPU time per wall second: what the cap let the loop have (about the share)
        "capped_cpu_share": round(capped["cpu_s"] / capped["wall_s"], 3),
        "free_cpu_share": round(free["cpu_s"] / free["wall_s"], 3),
        "cpu_share": emu.spec.device_cpu or 1.0,
    }
