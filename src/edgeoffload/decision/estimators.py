"""Estimators of the link a device will see next, from the transfers it has observed.

- :class:`Ewma`: exponentially weighted moving average (``alpha`` on the newest sample);
- :class:`HarmonicMean`: harmonic mean of the last ``k`` samples, the robust throughput
  predictor of MPC video streaming (Yin et al., SIGCOMM 2015): one very fast sample
  cannot inflate it, a slow one pulls it down at once;
- :class:`BandwidthPredictor`: a small MLP over multi-scale features of the last
  :data:`WINDOW` one-second samples, trained on every bundled dataset
  (``edgeoffload.decision.train.predictor``), run in numpy; it predicts the mean
  throughput over the next 1 s and 5 s as a point and as quantiles (p10, p50, p90),
  the [p10, p90] interval calibrated online on the link's own outcomes
  (:class:`IntervalCalibrator`); :func:`upload_quantiles` turns them into upload times;
- :class:`RttEstimator`: smoothed round-trip time as TCP keeps it (RFC 6298, alpha 1/8).

Each has ``observe(sample)`` and ``predict()``; the ``*_series`` functions compute the
same predictions over a whole series at once, for evaluation and training data.

The learned model is scale-free: every input is relative to the window's mean
(:func:`window_features`) and it predicts a log-ratio correction to the last sample,
so a model trained on 3G traces (median 1 Mbit/s) applies unchanged to 5G ones
(15 Mbit/s), and an output of 0 is the last-sample baseline itself.
"""

from __future__ import annotations

import copy
import functools
from collections import deque
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from ..errors import ConfigError
from .modelfile import ModelFiles
from .nn import Mlp

F64 = NDArray[np.float64]

#: Samples below this share of the window's harmonic mean are floored (log of zero).
FLOOR = 1e-3
#: Transfers smaller than this say more about latency than bandwidth: not sampled (the
#: client's rule, and the simulator's, so that both learn from the same transfers).
MIN_SAMPLE_BYTES = 32 * 1024


class Ewma:
    """``estimate += alpha * (sample - estimate)``; the first sample sets it."""

    def __init__(self, alpha: float = 0.25, initial: float | None = None) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"EWMA alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.value = initial

    def observe(self, sample: float) -> None:
        self.value = (
            sample if self.value is None else self.value + self.alpha * (sample - self.value)
        )

    def predict(self) -> float:
        return float("nan") if self.value is None else self.value


class HarmonicMean:
    """Harmonic mean of the last ``k`` samples (samples <= 0 count as ``floor``)."""

    def __init__(self, k: int = 5, floor: float = 1e-9) -> None:
        if k < 1:
            raise ConfigError(f"harmonic mean needs k >= 1, got {k}")
        self.samples: deque[float] = deque(maxlen=k)
        self.floor = floor

    def observe(self, sample: float) -> None:
        self.samples.append(max(sample, self.floor))

    def predict(self) -> float:
        if not self.samples:
            return float("nan")
        return len(self.samples) / sum(1.0 / s for s in self.samples)


class RttEstimator:
    """Smoothed RTT (RFC 6298): ``srtt += (r - srtt) / 8``; the first sample sets it."""

    def __init__(self, initial_s: float | None = None) -> None:
        self.srtt = initial_s

    def observe(self, rtt_s: float) -> None:
        self.srtt = rtt_s if self.srtt is None else self.srtt + (rtt_s - self.srtt) / 8.0

    def predict(self) -> float:
        return float("nan") if self.srtt is None else self.srtt


# -- whole series (evaluation, training data) -----------------------------------------------


def ewma_series(x: F64, alpha: float = 0.25) -> F64:
    """``out[t]``: the EWMA after observing ``x[0..t]``."""
    out = np.empty(len(x))
    value = float(x[0]) if len(x) else 0.0
    for i, sample in enumerate(x.tolist()):
        value += alpha * (sample - value)
        out[i] = value
    return out


def harmonic_series(x: F64, k: int = 5, floor: float = 1e-9) -> F64:
    """``out[t]``: harmonic mean of ``x[t-k+1..t]`` (fewer at the start)."""
    inv = 1.0 / np.maximum(x, floor)
    csum = np.concatenate(([0.0], np.cumsum(inv)))
    idx = np.arange(len(x))
    lo = np.maximum(0, idx - k + 1)
    return np.asarray((idx - lo + 1) / (csum[idx + 1] - csum[lo]), dtype=np.float64)


def future_mean(x: F64, horizon: int) -> F64:
    """``out[t]``: mean of ``x[t+1..t+horizon]`` (NaN where the series ends first)."""
    out = np.full(len(x), np.nan)
    if len(x) > horizon:
        csum = np.concatenate(([0.0], np.cumsum(x)))
        t = np.arange(len(x) - horizon)
        out[t] = (csum[t + 1 + horizon] - csum[t + 1]) / horizon
    return out


def windows(x: F64, length: int) -> F64:
    """``out[t - length + 1]`` = ``x[t-length+1..t]`` for every full window, (n, length)."""
    if len(x) < length:
        return np.zeros((0, length))
    return np.asarray(sliding_window_view(x, length), dtype=np.float64)


def prediction_error(predicted: F64, actual: F64, min_actual: float) -> dict[str, float]:
    """MAPE (share, samples with ``actual >= min_actual`` and above 0: a zero actual has
    no relative error) and RMSE (same unit)."""
    keep = np.isfinite(actual) & np.isfinite(predicted) & (actual >= min_actual) & (actual > 0)
    p, a = predicted[keep], actual[keep]
    return {
        "mape": float(np.mean(np.abs(p - a) / a)),
        "rmse": float(np.sqrt(np.mean((p - a) ** 2))),
        "n": int(keep.sum()),
    }


# -- the learned predictor ------------------------------------------------------------------

#: The kind name of a learned bandwidth predictor's model folder.
KIND = "bandwidth_quantile"
#: Seconds of history the features see (a full window; fewer are padded, see observe).
WINDOW = 32
#: The last samples given as they are (relative to the window's mean).
LAGS = 8
#: EWMA weights of the smoothed-level features, each computed over the window.
EWMA_ALPHAS = (0.5, 0.25, 0.1)
#: Spans (seconds) of the recent minimum, maximum and spread features.
SPANS = (4, 8, 16, 32)
#: Spans of the step-size features (one step fewer than samples).
STEPS = (4, 8, 16, 31)
#: The quantiles predicted per horizon; [p10, p90] is the interval calibrated online.
QUANTILES = (0.1, 0.5, 0.9)
#: Outputs per horizon: a point prediction trained on the absolute percentage error
#: (MAPE's optimum lies below the median when the spread is wide), then the quantiles.
OUTPUTS = ("point", "p10", "p50", "p90")
#: The methods a model folder's point prediction blends per horizon, in this order.
POINT_METHODS = ("learned", "last", "harmonic_mean", "ewma")
#: The baselines a learned predictor must beat (the issue's, and the table's).
BASELINES = ("last", "harmonic_mean", "ewma")
#: A prediction of 0 (an outage) enters a blend's logarithm as this many Mbit/s.
BLEND_FLOOR = 1e-9
#: The EWMA and harmonic-mean baselines' parameters (the ones the table compares with).
EWMA_ALPHA = 0.25
HM_K = 5
#: A second at or under this share of the window's largest is an outage in the features.
OUTAGE_SHARE_OF_MAX = 0.01


def feature_names() -> list[str]:
    """The learned model's inputs, in order (``meta.json`` keeps them; a model trained on
    other features is refused)."""
    names = [f"log(x[t-{i}] / mean)" for i in range(LAGS)]
    names += [f"log(ewma{a} / mean)" for a in EWMA_ALPHAS]
    names.append(f"log(hm{HM_K} / mean)")
    for k in SPANS:
        names += [f"log(min{k} / mean)", f"log(max{k} / mean)", f"std(log x){k}"]
    for k in STEPS:
        names += [f"mean|dlog x|{k}", f"share(|dlog x| < 0.01){k}"]
    names += ["trend5", "since_outage / window", "outage_share"]
    return names


def blend(predictions: F64, weights: F64) -> F64:
    """The weighted geometric mean of ``predictions`` (one row per method of
    :data:`POINT_METHODS`, Mbit/s) with ``weights`` (summing to 1): the point prediction
    a model folder ships. Geometric, because the methods' errors are ratios (MAPE) and
    a throughput spans decades; one function for the online predictor and the
    evaluation, so both give the same figure."""
    logs = np.log(np.maximum(np.asarray(predictions, dtype=np.float64), BLEND_FLOOR))
    return np.asarray(np.exp(np.tensordot(np.asarray(weights, dtype=np.float64), logs, 1)))


def point_weights(spec: object) -> F64:
    """The weights (in :data:`POINT_METHODS` order) of one horizon's ``meta["point"]``:
    a method's name (all weight on it) or ``{method: weight}`` summing to 1.

    Raises:
        ConfigError: an unknown method, a negative weight, or weights not summing to 1.
    """
    if isinstance(spec, str):
        spec = {spec: 1.0}
    if not isinstance(spec, dict) or not set(spec) <= set(POINT_METHODS):
        raise ConfigError(f"a point must name methods of {POINT_METHODS}, got {spec!r}")
    try:
        weights = np.array([float(spec.get(m, 0.0)) for m in POINT_METHODS])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"a point's weights must be numbers, got {spec!r}") from exc
    if not (np.isfinite(weights).all() and (weights >= 0).all()) or abs(weights.sum() - 1) > 1e-6:
        raise ConfigError(f"a point's weights must be >= 0 and sum to 1, got {spec!r}")
    return weights


def point_spec(weights: F64) -> dict[str, float]:
    """``meta["point"]``'s form of one horizon's blend (:func:`point_weights` reads it
    back): ``{method: weight}`` of the methods with a weight, rounded to 6 places."""
    return {m: round(float(w), 6) for m, w in zip(POINT_METHODS, weights, strict=True) if w > 0}


def window_features(w: F64) -> tuple[F64, F64]:
    """Inputs of the learned model for windows ``w`` (n, :data:`WINDOW`) in Mbit/s:
    (features (n, len(feature_names())), scale ``s`` (n,), the window's mean).

    Every feature is scale-free (a log ratio to ``s``, a spread of logs, a share or a
    time), so a model trained on 3G traces (median 1 Mbit/s) applies unchanged to 5G
    ones (15 Mbit/s); it sees the level (last samples, EWMAs of several spans, harmonic
    mean), the recent range and spread, how much the link moves per second and how
    often it stands still, the trend, and how long ago the last outage was.
    """
    w = np.maximum(np.asarray(w, dtype=np.float64), 0.0)
    s = np.maximum(w.mean(axis=1), 1e-9)

    def ratio(v: F64) -> F64:
        return np.asarray(np.log(np.maximum(v / s, FLOOR)))

    lw = np.log(np.maximum(w / s[:, None], FLOOR))
    cols = [lw[:, -1 - i] for i in range(LAGS)]
    for a in EWMA_ALPHAS:
        kernel = (1.0 - a) ** np.arange(WINDOW - 1, -1, -1.0)
        cols.append(ratio(w @ (kernel / kernel.sum())))
    cols.append(ratio(HM_K / np.sum(1.0 / np.maximum(w[:, -HM_K:], 1e-9), axis=1)))
    for k in SPANS:
        part = lw[:, -k:]
        cols += [part.min(axis=1), part.max(axis=1), part.std(axis=1)]
    steps = np.abs(np.diff(lw, axis=1))
    for k in STEPS:
        cols += [steps[:, -k:].mean(axis=1), (steps[:, -k:] < 0.01).mean(axis=1)]
    cols.append(lw[:, -5:] @ np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) / 10.0)
    outage = w <= OUTAGE_SHARE_OF_MAX * w.max(axis=1, keepdims=True)
    latest = np.where(outage, np.arange(WINDOW), -1).max(axis=1)
    cols.append(np.where(latest < 0, WINDOW, WINDOW - 1 - latest) / WINDOW)
    cols.append(outage.mean(axis=1))
    return np.column_stack(cols), s


class IntervalCalibrator:
    """Adaptive conformal inference (Gibbs and Candès, NeurIPS 2021) on each tail of
    the predicted [p10, p90]: once the outcome of a prediction is known, a tail that
    missed it widens by ``gamma``, one that held narrows by ``gamma * 0.1 / 0.9``, so
    the long-run miss rate of each tail is 10 % on any link, whatever the model learned
    from other links. The widening is a factor on the log distance from the median.
    """

    def __init__(self, gamma: float, tail: float = QUANTILES[0]) -> None:
        self.gamma = gamma
        self.tail = tail
        self.lo = 0.0  # log of the lower tail's factor
        self.hi = 0.0

    def interval(self, q10: float, q50: float, q90: float) -> tuple[float, float]:
        """The calibrated (low, high) in Mbit/s around the model's quantiles."""
        return (
            q50 * (q10 / q50) ** float(np.exp(self.lo)),
            q50 * (q90 / q50) ** float(np.exp(self.hi)),
        )

    def update(self, low: float, high: float, actual: float) -> None:
        """The mean throughput that came true for an interval given earlier."""
        self.lo = min(3.0, max(-3.0, self.lo + self.gamma * (float(actual < low) - self.tail)))
        self.hi = min(3.0, max(-3.0, self.hi + self.gamma * (float(actual > high) - self.tail)))


def calibrated_intervals(
    quantiles: F64, actual: F64, horizon: int, gamma: float
) -> tuple[F64, F64]:
    """(low, high) of every second of one series as the online predictor gives them:
    ``quantiles`` (n, 3) Mbit/s for consecutive seconds, ``actual`` (n,) the mean of the
    ``horizon`` seconds after each; the interval at second i has learnt from every
    outcome known by then (those of seconds up to ``i - horizon``)."""
    cal = IntervalCalibrator(gamma)
    n = len(actual)
    low, high = np.empty(n), np.empty(n)
    q = quantiles.tolist()
    for i in range(n):
        j = i - horizon
        if j >= 0:
            cal.update(float(low[j]), float(high[j]), float(actual[j]))
        low[i], high[i] = cal.interval(*q[i])
    return low, high


def upload_seconds(quantiles_mbps: F64, size_bytes: float, rtt_s: float = 0.0) -> F64:
    """Upload-time quantiles (p10, p50, p90 seconds) from bandwidth quantiles (p10, p50,
    p90 Mbit/s) along the last axis: the time's p10 is the bandwidth's p90 (time falls
    as bandwidth rises); a bandwidth of 0 gives an infinite time."""
    q = np.asarray(quantiles_mbps, dtype=np.float64)[..., ::-1]
    megabits = 8.0 * size_bytes / 1e6
    with np.errstate(divide="ignore"):
        return np.asarray(rtt_s + megabits / np.maximum(q, 0.0), dtype=np.float64)


#: The shipped predictor's folder, beside the shipped policy in the package.
DEFAULT_BANDWIDTH_MODEL = Path(__file__).resolve().parent / "models" / "bandwidth"


class BandwidthPredictor:
    """The learned bandwidth predictor of a model folder (numpy, no runtime library).

    Batch: :meth:`outputs` gives, for full windows, the learned point prediction and the
    model's p10/p50/p90 of the mean throughput over each horizon (``horizons_s``, 1 s
    and 5 s). Online: :meth:`observe` one-second samples; then :meth:`predict` is the
    point prediction the folder ships for that horizon: a :func:`blend` of the learned
    one and the baselines, with the weights chosen in leave-one-dataset-out evaluation
    (``meta["point"]``), :meth:`quantiles` the calibrated interval with the
    median, and :meth:`upload_quantiles` the upload time of a payload. Before a full
    window the oldest sample is repeated to fill it.

    Raises:
        ConfigError: the folder is not such a predictor, was trained on other
            features, or misses weights.
    """

    def __init__(self, folder: str | Path = DEFAULT_BANDWIDTH_MODEL) -> None:
        self.folder = Path(folder)
        files = ModelFiles.load(folder, KIND)
        meta = files.meta
        try:
            self.horizons_s = [int(h) for h in meta["horizons_s"]]
            self.point = {int(h): point_weights(m) for h, m in meta["point"].items()}
            self.gamma = float(meta["gamma"])
            features = list(meta["features"])
            self.mean = np.asarray(files.arrays["scaler.mean"], dtype=np.float64)
            self.std = np.asarray(files.arrays["scaler.std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"bandwidth model {folder}: bad meta.json or weights ({exc})"
            ) from exc
        except ConfigError as exc:
            raise ConfigError(f"bandwidth model {folder}: meta 'point': {exc}") from exc
        if features != feature_names():
            raise ConfigError(
                f"bandwidth model {folder} was trained on other features than this version "
                "computes: retrain it (make train)"
            )
        if sorted(self.point) != sorted(self.horizons_s):
            raise ConfigError(
                f"bandwidth model {folder}: meta 'point' must give one blend of "
                f"{POINT_METHODS} per horizon {self.horizons_s}, got {meta['point']}"
            )
        self.meta = meta
        self.mlp = Mlp.from_arrays(files.arrays)
        if self.mlp.n_outputs != len(self.horizons_s) * len(OUTPUTS):
            raise ConfigError(
                f"bandwidth model {folder}: {self.mlp.n_outputs} outputs, not "
                f"{len(OUTPUTS)} for each of {len(self.horizons_s)} horizons"
            )
        self.reset()

    def reset(self) -> None:
        """Forget the link: no samples, the calibration back to the model's own interval
        (a copy of a predictor reset is a new link on the same weights)."""
        self._recent: deque[float] = deque(maxlen=WINDOW + max(self.horizons_s))
        self._ewma = Ewma(EWMA_ALPHA)
        self._hm = HarmonicMean(HM_K)
        self._count = 0
        self._current: F64 | None = None  # (horizons, 4) for the latest second
        self._cal = {h: IntervalCalibrator(self.gamma) for h in self.horizons_s}
        self._pending: dict[int, deque[tuple[int, float, float]]] = {
            h: deque() for h in self.horizons_s
        }
        self._interval: dict[int, tuple[float, float]] = {}

    def outputs(self, w: F64) -> F64:
        """(n, horizons, 4) Mbit/s for full windows ``w`` (n, :data:`WINDOW`): the
        learned point prediction, then p10 <= p50 <= p90 (uncalibrated)."""
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != WINDOW:
            raise ConfigError(f"bandwidth windows must be (n, {WINDOW}), got {w.shape}")
        z, s = window_features(w)
        out = self.mlp((z - self.mean) / self.std).reshape(len(w), len(self.horizons_s), 4)
        # The network predicts a correction to the last sample (both logs of ratios to s).
        # Clipped to the targets' range in training (a ratio of FLOOR to 1 / FLOOR): a
        # network extrapolates arbitrarily, and exp of it can overflow.
        out = np.clip(out + z[:, 0, None, None], np.log(FLOOR), -np.log(FLOOR))
        out[:, :, 1:] = np.sort(out[:, :, 1:], axis=2)
        return np.asarray(s[:, None, None] * np.exp(out), dtype=np.float64)

    # -- online -------------------------------------------------------------------------

    def observe(self, mbps: float) -> None:
        """One more second's mean throughput: resolves the intervals whose horizon has
        passed (the calibration learns from them), then predicts from the new window
        (one forward pass per second)."""
        sample = max(float(mbps), 0.0)
        self._recent.append(sample)
        self._ewma.observe(sample)
        self._hm.observe(sample)
        self._count += 1
        history = list(self._recent)
        for h, pending in self._pending.items():
            while pending and pending[0][0] + h <= self._count:
                t, low, high = pending.popleft()
                back = self._count - t  # samples after the one the interval was given at
                actual = sum(history[len(history) - back : len(history) - back + h]) / h
                self._cal[h].update(low, high, actual)
        window = history[-WINDOW:]
        window = [window[0]] * (WINDOW - len(window)) + window
        self._current = self.outputs(np.array([window]))[0]
        for i, h in enumerate(self.horizons_s):
            q10, q50, q90 = self._current[i, 1:].tolist()
            self._interval[h] = self._cal[h].interval(q10, q50, q90)
            self._pending[h].append((self._count, *self._interval[h]))

    def _row(self, horizon_s: int) -> int:
        if horizon_s not in self.horizons_s:
            raise ConfigError(f"horizon {horizon_s} s not predicted (have {self.horizons_s})")
        return self.horizons_s.index(horizon_s)

    def predict(self, horizon_s: int = 1) -> float:
        """Mean Mbit/s over the next ``horizon_s`` by the shipped blend (NaN before any
        sample)."""
        row = self._row(horizon_s)
        if self._current is None:
            return float("nan")
        methods = np.array(
            [self._current[row, 0], self._recent[-1], self._hm.predict(), self._ewma.predict()]
        )
        return float(blend(methods, self.point[horizon_s]))

    def quantiles(self, horizon_s: int = 1) -> tuple[float, float, float]:
        """(p10, p50, p90) Mbit/s of the mean over the next ``horizon_s``, the interval
        calibrated on this link's own outcomes so far (NaNs before any sample)."""
        row = self._row(horizon_s)
        if self._current is None:
            return (float("nan"),) * 3
        low, high = self._interval[horizon_s]
        return low, float(self._current[row, 2]), high

    def upload_quantiles(self, size_bytes: float, rtt_s: float = 0.0) -> tuple[float, float, float]:
        """(p10, p50, p90) seconds to upload ``size_bytes`` plus ``rtt_s``: the
        bandwidth quantiles of the horizon nearest the median upload time (the 1 s
        figures for a short upload, the 5 s ones for a longer one)."""
        megabits = 8.0 * size_bytes / 1e6
        median = self.quantiles(self.horizons_s[0])[1]
        guess = megabits / max(median, 1e-9)
        horizon = min(self.horizons_s, key=lambda h: abs(np.log(max(guess, 1e-9) / h)))
        t10, t50, t90 = upload_seconds(np.array(self.quantiles(horizon)), size_bytes, rtt_s)
        return float(t10), float(t50), float(t90)


@functools.cache
def _shipped() -> BandwidthPredictor:
    """The shipped predictor, read once per process."""
    return BandwidthPredictor()


def upload_quantiles(
    recent_mbps: list[float] | F64,
    size_bytes: float,
    rtt_s: float = 0.0,
    predictor: BandwidthPredictor | None = None,
) -> tuple[float, float, float]:
    """(p10, p50, p90) seconds to upload ``size_bytes`` on a link whose last one-second
    throughputs (Mbit/s, oldest first) were ``recent_mbps``, by a fresh online predictor
    (``predictor``'s folder, or the shipped one) replaying them, so its interval is
    calibrated on them. A caller that sees every second should keep a
    :class:`BandwidthPredictor` and call its :meth:`~BandwidthPredictor.upload_quantiles`.

    Raises:
        ConfigError: no samples.
    """
    if len(recent_mbps) == 0:
        raise ConfigError("upload_quantiles needs at least one throughput sample")
    fresh = copy.copy(predictor or _shipped())
    fresh.reset()
    for v in np.asarray(recent_mbps, dtype=np.float64).tolist():
        fresh.observe(v)
    return fresh.upload_quantiles(size_bytes, rtt_s)
