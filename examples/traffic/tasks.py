"""Smart-city traffic signal control: queue estimation every second, a signal plan
every cycle, for each intersection (issue 13, part 1(b)).

An intersection has four approaches (N, E, S, W) of two lanes each: lane ``2a`` is the
through-and-right lane of approach ``a``, lane ``2a + 1`` its left-turn pocket. Its
sensors report, every second and per lane, three counts (the last :data:`WINDOW_S`
seconds of them travel with each estimate, the last :data:`PLAN_WINDOW_S` with each
plan, so that a task's result depends only on its arguments and identical readings
give identical, cacheable results):

- ``[..., 0]`` vehicles crossing the upstream loop detector (arrivals),
- ``[..., 1]`` vehicles crossing the stop-line loop detector (departures),
- ``[..., 2]`` the queue the approach camera counts, or :data:`NO_OBSERVATION`.

Two tasks, both small (tens of microseconds to tens of milliseconds), so that it is
many of them at once, batched into frames, that loads a link and a node:

- :func:`estimate_queues`: a scalar Kalman filter per lane over the input-output model
  (queue += arrivals - departures; the camera count corrects it), sent every second.
- :func:`signal_plan`: Webster's cycle length and green splits (Webster 1958) for a
  four-phase plan from the cycle's flows and estimated queues, refined by a grid search
  around it on a store-and-forward queue model (the delay each candidate plan gives over
  two cycles), sent once per cycle.

The cost hints were measured on this machine with ``process_time`` (CPU seconds times
the decision engine's reference 2.5 GHz; README, "Sizes"): ``python -m examples.measure
traffic`` prints them again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeoffload.tasks import task

#: Lanes per intersection: 4 approaches x (through-and-right, left).
LANES = 8
#: Seconds of readings an estimate gets, and how often plans are made (the scenario
#: asks for a plan every 10 s: a rolling horizon, each plan for the cycle ahead).
WINDOW_S = 10
#: Seconds of readings a plan gets (its flows are counted over a minute).
PLAN_WINDOW_S = 60
#: The camera saw nothing usable (night, glare, occlusion).
NO_OBSERVATION = 65535
#: Lanes served by each phase: NS through, NS left, EW through, EW left.
PHASE_LANES: tuple[tuple[int, ...], ...] = ((0, 4), (1, 5), (2, 6), (3, 7))
#: Saturation flow per lane, vehicles per hour of green (HCM base values: 1900 per
#: through lane less the usual adjustments; protected lefts 1600).
SATURATION_VPH = np.array([1800.0, 1600.0] * 4)
#: Lost time per phase change (amber + all-red + start-up loss), seconds.
LOST_PER_PHASE_S = 4.0
#: Shortest green a phase gets (pedestrian crossing), seconds.
MIN_GREEN_S = 5.0
#: Cycle length bounds, seconds.
CYCLE_MIN_S = 40.0
CYCLE_MAX_S = 150.0
#: Kalman noise: variance added per second per counted vehicle (detector miscounts)
#: plus a floor, and the camera count's variance.
PROCESS_VAR = 0.05
CAMERA_VAR = 1.0

#: Measured costs (CPU cycles at the 2.5 GHz reference; see the module docstring).
ESTIMATE_CYCLES = 3.5e5
PLAN_CYCLES = 3.0e7


def _window(counts: Any) -> np.ndarray:
    """The readings as a (seconds, LANES, 3) integer array, or a ValueError naming
    what is wrong (a node answers it as the task's failure)."""
    a = np.asarray(counts)
    if a.ndim != 3 or a.shape[1:] != (LANES, 3) or a.shape[0] < 1:
        raise ValueError(f"readings must have shape (seconds, {LANES}, 3), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"readings must be integer counts, got {a.dtype}")
    return a


def kalman_queues(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Queue per lane at the end of the window and its variance.

    The state starts from the first camera count (or empty, variance high), then each
    second predicts ``q + arrivals - departures`` (never below zero) and, when the
    camera saw the lane, corrects towards its count.
    """
    a = counts.astype(np.float64)
    first = counts[0, :, 2]
    seen = first != NO_OBSERVATION
    q = np.where(seen, a[0, :, 2], 0.0)
    p = np.where(seen, CAMERA_VAR, 100.0)
    for t in range(counts.shape[0]):
        arrivals, departures = a[t, :, 0], a[t, :, 1]
        q = np.maximum(q + arrivals - departures, 0.0)
        p = p + PROCESS_VAR * (1.0 + arrivals + departures)
        z = counts[t, :, 2]
        obs = z != NO_OBSERVATION
        k = np.where(obs, p / (p + CAMERA_VAR), 0.0)
        q = q + k * (np.where(obs, a[t, :, 2], q) - q)
        p = (1.0 - k) * p
    return q, p


@task(
    name="traffic_estimate",
    cpu_cycles=ESTIMATE_CYCLES,
    input_bytes=lambda counts: float(np.asarray(counts).nbytes + 34),
    output_bytes=2 * LANES * 8 + 24,
    mem_mb=1.0,
    cacheable=True,
    idempotent=True,
)
def estimate_queues(counts: Any) -> np.ndarray:
    """Estimated queue (vehicles) and its variance per lane, shape (LANES, 2)."""
    q, p = kalman_queues(_window(counts))
    return np.stack([q, p], axis=1)


def webster(flow_ratios: np.ndarray, lost_s: float) -> tuple[float, np.ndarray]:
    """Webster's optimum cycle ``(1.5 L + 5) / (1 - Y)`` (clipped to the bounds; at or
    past saturation the longest) and effective greens proportional to each phase's
    critical flow ratio, each at least :data:`MIN_GREEN_S`, summing to cycle - lost."""
    y = np.asarray(flow_ratios, dtype=np.float64)
    total = float(y.sum())
    cycle = CYCLE_MAX_S if total >= 0.95 else (1.5 * lost_s + 5.0) / (1.0 - total)
    cycle = float(np.clip(cycle, CYCLE_MIN_S, CYCLE_MAX_S))
    return cycle, _splits(cycle - lost_s, y)


def _splits(green_total: float | np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Greens: the minimum each, the rest shared by ``weights`` (equal if all zero).
    Broadcasts over leading axes of ``green_total`` and ``weights``."""
    w = np.asarray(weights, dtype=np.float64)
    s = w.sum(axis=-1, keepdims=True)
    share = np.where(s > 0, w / np.where(s > 0, s, 1.0), 1.0 / w.shape[-1])
    spare = np.asarray(green_total)[..., None] - MIN_GREEN_S * w.shape[-1]
    return MIN_GREEN_S + spare * share


def _simulated_delay(
    cycles: np.ndarray, greens: np.ndarray, arrive: np.ndarray, serve: np.ndarray, q0: np.ndarray
) -> np.ndarray:
    """Vehicle-seconds of queueing under each candidate plan over two longest cycles,
    on a store-and-forward (fluid) model: each lane's queue grows by its arrival rate
    and drains at its saturation flow while its phase is green.

    Args:
        cycles: (K,) cycle lengths; greens: (K, phases) effective greens.
        arrive, serve: (LANES,) vehicles per second; q0: (LANES,) queues now.
    """
    horizon = int(2 * CYCLE_MAX_S)
    t = np.arange(horizon, dtype=np.float64)
    pos = t[None, :] % cycles[:, None]  # (K, H): seconds into the cycle
    ends = np.cumsum(greens + LOST_PER_PHASE_S, axis=1)  # (K, P): phase i ends (with loss)
    starts = ends - greens - LOST_PER_PHASE_S
    green_phase = (pos[:, :, None] >= starts[:, None, :]) & (
        pos[:, :, None] < (starts + greens)[:, None, :]
    )  # (K, H, P)
    lane_phase = np.zeros((len(PHASE_LANES), LANES))
    for i, lanes in enumerate(PHASE_LANES):
        lane_phase[i, list(lanes)] = 1.0
    green_lane = green_phase.astype(np.float64) @ lane_phase  # (K, H, LANES)
    q = np.broadcast_to(q0, (len(cycles), LANES)).copy()
    delay = np.zeros(len(cycles))
    drain = green_lane * serve
    for step in range(horizon):
        q += arrive
        q -= np.minimum(q, drain[:, step])
        delay += q.sum(axis=1)
    return delay


def plan(counts: np.ndarray) -> dict[str, Any]:
    """The signal plan for the next cycle from one cycle of readings (see the module
    docstring); pure, the body of :func:`signal_plan`."""
    seconds = counts.shape[0]
    queues, _ = kalman_queues(counts)
    arrive = counts[:, :, 0].sum(axis=0) / seconds  # vehicles per second per lane
    serve = SATURATION_VPH / 3600.0
    # Demand: the arrival rate plus the standing queue spread over a longest cycle.
    demand = arrive + queues / CYCLE_MAX_S
    ratio = demand / serve
    y = np.array([ratio[list(lanes)].max() for lanes in PHASE_LANES])
    lost = LOST_PER_PHASE_S * len(PHASE_LANES)
    cycle0, green0 = webster(y, lost)
    # Candidates: cycles on a 5 s grid and splits between Webster's (by flow ratio)
    # and by queue share, Webster's own plan among them.
    q_phase = np.array([queues[list(lanes)].sum() for lanes in PHASE_LANES])
    cycles = np.unique(np.append(np.arange(CYCLE_MIN_S, CYCLE_MAX_S + 1, 5.0), cycle0))
    alphas = np.linspace(0.0, 1.0, 6)
    y_share = y / y.sum() if y.sum() > 0 else np.full(len(y), 1.0 / len(y))
    q_share = q_phase / q_phase.sum() if q_phase.sum() > 0 else y_share
    weights = alphas[:, None] * y_share + (1 - alphas[:, None]) * q_share  # (A, P)
    c_grid = np.repeat(cycles, len(alphas))
    w_grid = np.tile(weights, (len(cycles), 1))
    g_grid = _splits(c_grid - lost, w_grid)
    delay = _simulated_delay(c_grid, g_grid, arrive, serve, queues)
    webster_delay = _simulated_delay(np.array([cycle0]), green0[None, :], arrive, serve, queues)
    best = int(np.argmin(delay))
    if delay[best] < webster_delay[0]:
        cycle, greens, chosen = float(c_grid[best]), g_grid[best], float(delay[best])
    else:
        cycle, greens, chosen = cycle0, green0, float(webster_delay[0])
    return {
        "cycle_s": round(cycle, 3),
        "green_s": [round(float(g), 3) for g in greens],
        "lost_s": lost,
        "flow_ratio": [round(float(v), 5) for v in y],
        "webster_cycle_s": round(cycle0, 3),
        "delay_veh_s": round(chosen, 2),
        "queues": [round(float(v), 3) for v in queues],
    }


@task(
    name="traffic_plan",
    cpu_cycles=PLAN_CYCLES,
    input_bytes=lambda counts: float(np.asarray(counts).nbytes + 34),
    output_bytes=260,
    mem_mb=4.0,
    cacheable=True,
    idempotent=True,
)
def signal_plan(counts: Any) -> dict[str, Any]:
    """The next cycle's plan: ``cycle_s``, ``green_s`` per phase (effective greens,
    summing to ``cycle_s - lost_s``), the flow ratios, Webster's own cycle, the
    simulated delay of the chosen plan and the estimated queues."""
    return plan(_window(counts))


__all__ = [
    "LANES",
    "NO_OBSERVATION",
    "PHASE_LANES",
    "PLAN_WINDOW_S",
    "WINDOW_S",
    "estimate_queues",
    "kalman_queues",
    "plan",
    "signal_plan",
    "webster",
]
