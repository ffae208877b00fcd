"""The learned MLP policy's whole decision as one compiled loop (numba): per task, the
cost model's figures of every option, the option features, their clip to the training
range, the network, the softmax and the choice, with no numpy call per step.

Why: at one task the numpy path spends its time on the calls, not the arithmetic (each
numpy call on a (4, 18) array costs about as much as all its multiplications), and a
batch of 1,000 makes ~50 passes over (1000, 4) planes before the network. One compiled
call does both in a few microseconds (docs/decision.md, ``bench decide --parts timing``).

This module imports numba, so nothing imports it at module level: the learned policy
imports it on its first decision (:meth:`~.learned.Scorer.kernel`). numba takes about
half a second to import, longer than a node may take to start; its machine code is
cached on disk (``cache=True``), so only the first process on a machine compiles.
Without numba the learned policy keeps its numpy paths, which decide the same.

The kernel follows the operations of :func:`~.costs.costs_of`, :func:`~.costs.cost_of`
and :func:`~.learned.fill_features` one for one, in float64 throughout; only the
network's sums may be reordered (``fastmath`` reassociation, in :func:`_dense` alone:
what lets LLVM vectorise a dot product), a difference of a few ulps in a score.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
#: The option features that differ between a task's options (the others, the task's
#: and the device's, are the same on every row: they enter the first layer once).
PER_OPTION = (0, 1, 2, 3, 4, 5, 6, 7, 8, 15)
SHARED = (9, 10, 11, 12, 13, 14, 16)
N_FEATURES = 17
#: The largest float, what np.nan_to_num makes of an infinity.
BIG = float(np.finfo(np.float64).max)


def pack(
    latency_weight: float,
    deadline_penalty: float,
    low: F64,
    high: F64,
    weights: tuple[F64, ...],
    biases: tuple[F64, ...],
) -> tuple[F64, NDArray[np.int64]]:
    """The flat parameter vector and the layer sizes :func:`decide_tasks` reads: the
    cost weights, the clip bounds of the :data:`SHARED` then the :data:`PER_OPTION`
    features, the first layer's weights of those two groups and its bias, then each
    further layer's weights and bias; weights transposed (a row per output unit), and
    of the last layer only the score's row. (One array argument instead of a dozen: each
    argument costs the dispatcher about 70 ns.)"""
    order = np.array(SHARED + PER_OPTION)
    w0 = weights[0]
    parts = [np.array([latency_weight, deadline_penalty]), low[order], high[order]]
    parts += [w0[list(SHARED)].T.ravel(), w0[list(PER_OPTION)].T.ravel(), biases[0]]
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights[1:], biases[1:], strict=True), start=1):
        if i == last:
            parts += [w[:, :1].T.ravel(), b[:1]]
        else:
            parts += [w.T.ravel(), b]
    if last == 0:  # no hidden layer: the first layer is the score's
        raise ValueError("the kernel needs at least one hidden layer")
    dims = [w0.shape[0], *(w.shape[1] for w in weights[:-1]), 1]
    flat = np.ascontiguousarray(np.concatenate(parts), dtype=np.float64)
    return flat, np.array(dims, dtype=np.int64)


FASTMATH = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)
def _dense(wt: F64, bias: F64, x: F64, out: F64, relu: bool) -> None:  # pragma: no cover
    """``out = wt @ x + bias``, then ``max(., 0)`` (NaN propagating) with ``relu``."""
    for j in range(wt.shape[0]):
        acc = 0.0
        for i in range(wt.shape[1]):
            acc += wt[j, i] * x[i]
        v = acc + bias[j]
        if relu and v < 0.0:
            v = 0.0
        out[j] = v


#: (cycles, input bytes, output bytes, deadline, priority) arrays (n,); the device's
#: nine floats; (speed, queue, load, up, down, rtt) arrays (k,) of the nodes.
_TASKS = (numba.float64[::1],) * 5
_DEVICE = (numba.float64,) * 9
_NODES = (numba.float64[::1],) * 6


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _costs(  # pragma: no cover (compiled)
    t: int,
    tasks: tuple[F64, F64, F64, F64, F64],
    device: tuple[float, ...],
    nodes: tuple[F64, F64, F64, F64, F64, F64],
    lw: float,
    penalty: float,
    w_e: float,
    lat: F64,
    en: F64,
    tr: F64,
    cost: F64,
    ln_cost: F64,
) -> float:
    """Task ``t``'s latency, energy, transfer time, cost and log cost per option, as
    costs_of and cost_of (absent options: inf); returns the least log cost."""
    cycles, in_bytes, out_bytes, deadline, _ = tasks
    cpu_hz, device_load, _, kappa, transmit_w, receive_w, idle_w, local_q, uplink_q = device
    speed, queue, _, up_bps, down_bps, rtt = nodes
    inf = math.inf
    c = cycles[t]
    d_in = in_bytes[t] * 8.0
    d_out = out_bytes[t] * 8.0
    lat[0] = local_q + c / (cpu_hz * max(1e-3, 1.0 - device_load))
    en[0] = kappa * cpu_hz * cpu_hz * c
    tr[0] = 0.0
    for j in range(speed.shape[0]):
        up = d_in / up_bps[j]
        down = d_out / down_bps[j]
        wait = rtt[j] + queue[j] + c / speed[j]
        lt = uplink_q + up + wait + down
        e = transmit_w * up + idle_w * wait + receive_w * down
        lat[j + 1] = inf if math.isnan(lt) else lt
        en[j + 1] = inf if math.isnan(e) else e
        tr[j + 1] = up + down
    dl = deadline[t]
    min_ln = inf
    for o in range(lat.shape[0]):
        late = lat[o] - dl
        if not late > 0.0:  # np.maximum(0, late): NaN propagates
            late = late if math.isnan(late) else 0.0
        v = lw * lat[o] + w_e * en[o] + penalty * late
        cost[o] = inf if math.isnan(v) else v
        ln_cost[o] = math.log(max(cost[o], 1e-12))
        min_ln = min(min_ln, ln_cost[o])
    return min_ln


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _features(  # pragma: no cover (compiled)
    t: int,
    o: int,
    tasks: tuple[F64, F64, F64, F64, F64],
    device: tuple[float, ...],
    nodes: tuple[F64, F64, F64, F64, F64, F64],
    log_w_e: float,
    lat: F64,
    en: F64,
    tr: F64,
    ln_cost: F64,
    min_ln: float,
    x: F64,
) -> None:
    """Option ``o`` of task ``t``'s features (OPTION_FEATURES order) into ``x``, as
    fill_features (an available option)."""
    cycles, in_bytes, out_bytes, deadline, priority = tasks
    battery, device_load, local_q, uplink_q = device[2], device[1], device[7], device[8]
    queue, node_load, rtt = nodes[1], nodes[2], nodes[5]
    dl = deadline[t]
    horizon = max(dl if math.isfinite(dl) else 1e9, 1e-9)
    lt = lat[o]
    inv = 1.0 / lt
    log_t = math.log10(max(lt, 1e-9))
    x[0] = 1.0 if o == 0 else 0.0
    x[1] = log_t
    x[2] = math.log10(max(en[o], 1e-12))
    x[3] = min(ln_cost[o] - min_ln, 10.0)
    x[4] = min(max(math.log(horizon) - math.log(10.0) * log_t, -5.0), 5.0)
    x[5] = tr[o] * inv
    if o == 0:
        x[6] = 0.0 * inv
        x[7] = local_q * inv
        x[8] = 0.0 * inv
        x[15] = 0.0
    else:
        x[6] = queue[o - 1] * inv
        x[7] = uplink_q * inv
        x[8] = rtt[o - 1] * inv
        v = node_load[o - 1]  # np.nan_to_num
        x[15] = 0.0 if math.isnan(v) else min(max(v, -BIG), BIG)
    x[9] = math.log10(max(cycles[t], 1.0))
    x[10] = math.log10(max(in_bytes[t], 1.0))
    x[11] = math.log10(max(out_bytes[t], 1.0))
    x[12] = battery
    x[13] = log_w_e
    x[14] = device_load
    x[16] = priority[t]


@numba.njit(
    numba.void(
        *_TASKS,
        *_DEVICE,
        *_NODES,
        numba.float64[::1],
        numba.int64[::1],
        numba.int64[::1],
        numba.float64[:, ::1],
    ),
    cache=True,
    nogil=True,
    error_model="numpy",
)
def decide_tasks(  # pragma: no cover (compiled)
    cycles: F64,
    in_bytes: F64,
    out_bytes: F64,
    deadline: F64,
    priority: F64,
    cpu_hz: float,
    device_load: float,
    battery: float,
    kappa: float,
    transmit_w: float,
    receive_w: float,
    idle_w: float,
    local_queue_s: float,
    uplink_queue_s: float,
    speed: F64,
    queue: F64,
    node_load: F64,
    up_bps: F64,
    down_bps: F64,
    rtt: F64,
    params: F64,
    dims: NDArray[np.int64],
    target: NDArray[np.int64],
    out: F64,
) -> None:
    """Decide ``n`` tasks sharing one device and ``k`` nodes, the network in float64
    (:func:`pack`'s parameters): writes ``target`` (n,) (the option's column minus one)
    and ``out`` (3, n): confidence, latency, energy. The learned policy's path for one
    task: for a batch, numpy's vectorised logarithms and a matrix product are faster
    (this kernel's libm logarithms cost ~15 ns each, ~16 per task; the network's
    ~5,000 multiply-adds per task run ~4x slower than a BLAS's).

    Compiled for float64 C-contiguous arrays only (one signature: nothing compiles at a
    surprising moment later); other inputs raise TypeError, and the caller takes its
    numpy path.

    NOTE: mirrors the numpy reference in the corner cases too: an absent option (a NaN
    node) has an infinite cost and no probability; a row with no finite option, or a NaN
    score, picks column 0 with a NaN confidence (numpy's argmax of a NaN row).
    """
    tasks = (cycles, in_bytes, out_bytes, deadline, priority)
    device = (
        cpu_hz,
        device_load,
        battery,
        kappa,
        transmit_w,
        receive_w,
        idle_w,
        local_queue_s,
        uplink_queue_s,
    )
    nodes = (speed, queue, node_load, up_bps, down_bps, rtt)
    m = speed.shape[0] + 1
    ns, no = len(SHARED), len(PER_OPTION)
    lw = params[0]
    penalty = params[1]
    low = params[2 : 2 + N_FEATURES]
    high = params[2 + N_FEATURES : 2 + 2 * N_FEATURES]
    h1 = dims[1]
    at = 2 + 2 * N_FEATURES
    w_shared = params[at : at + h1 * ns].reshape((h1, ns))
    at += h1 * ns
    w_option = params[at : at + h1 * no].reshape((h1, no))
    at += h1 * no
    b0 = params[at : at + h1]
    at += h1
    layers = []
    for layer in range(1, dims.shape[0] - 1):
        width, out_width = dims[layer], dims[layer + 1]
        wt = params[at : at + width * out_width].reshape((out_width, width))
        at += width * out_width
        layers.append((wt, params[at : at + out_width]))
        at += out_width
    widest = 0
    for i in range(dims.shape[0]):
        widest = max(widest, dims[i])
    base = np.empty(h1)
    act = np.empty(widest)
    nxt = np.empty(widest)
    lat = np.empty(m)
    en = np.empty(m)
    tr = np.empty(m)
    cost = np.empty(m)
    ln_cost = np.empty(m)
    score = np.empty(m)
    x = np.empty(N_FEATURES)
    xs = np.empty(ns)
    xo = np.empty(no)
    w_e = (1.0 - lw) / max(0.05, battery)
    log_w_e = math.log10(max(w_e, 1e-12))
    inf = math.inf
    for t in range(cycles.shape[0]):
        min_ln = _costs(t, tasks, device, nodes, lw, penalty, w_e, lat, en, tr, cost, ln_cost)
        done = False  # the features every option shares enter the first layer once
        for o in range(m):
            if not math.isfinite(cost[o]):
                score[o] = -inf
                continue
            _features(t, o, tasks, device, nodes, log_w_e, lat, en, tr, ln_cost, min_ln, x)
            # Clipped as np.minimum(np.maximum(v, low), high): NaN stays NaN.
            if not done:
                for i in range(ns):
                    v, lo, hi = x[SHARED[i]], low[i], high[i]
                    xs[i] = lo if v < lo else hi if v > hi else v
                _dense(w_shared, b0, xs, base, False)
                done = True
            for i in range(no):
                v, lo, hi = x[PER_OPTION[i]], low[ns + i], high[ns + i]
                xo[i] = lo if v < lo else hi if v > hi else v
            _dense(w_option, base, xo, act, True)
            for li in range(len(layers)):
                wt, b = layers[li]
                _dense(wt, b, act, nxt, li < len(layers) - 1)  # the last is the score
                act[: wt.shape[0]] = nxt[: wt.shape[0]]
            score[o] = act[0]
        # Softmax over the available options and the first most probable, as numpy.
        top = -inf
        any_nan = False
        for o in range(m):
            if math.isnan(score[o]):
                any_nan = True
            elif score[o] > top:
                top = score[o]
        best = 0
        confidence = math.nan
        if math.isfinite(top) and not any_nan:
            total = 0.0
            for o in range(m):
                score[o] = math.exp(score[o] - top)
                total += score[o]
            p_best = -1.0
            for o in range(m):
                p = score[o] / total
                if p > p_best:
                    p_best = p
                    best = o
            confidence = p_best
        target[t] = best - 1
        out[0, t] = confidence
        out[1, t] = lat[best]
        out[2, t] = en[best]
