"""Estimators of the link a device will see next, from the transfers it has observed.

- :class:`Ewma`: exponentially weighted moving average (``alpha`` on the newest sample);
- :class:`HarmonicMean`: harmonic mean of the last ``k`` samples, the robust throughput
  predictor of MPC video streaming (Yin et al., SIGCOMM 2015): one very fast sample
  cannot inflate it, a slow one pulls it down at once;
- :class:`LearnedPredictor`: a small GRU over the last ``window`` one-second samples,
  trained on the Pensieve traces (``edgeoffload.decision.train.predictor``), run in
  numpy; it predicts the mean throughput over the next 1 s and 5 s;
- :class:`RttEstimator`: smoothed round-trip time as TCP keeps it (RFC 6298, alpha 1/8).

Each has ``observe(sample)`` and ``predict()``; the ``*_series`` functions compute the
same predictions over a whole series at once, for evaluation and training data.

The learned model is scale-free: it sees its window divided by the window's harmonic
mean (log), and predicts the log ratio of the future mean to that harmonic mean. So a
model trained on 3G traces (median 1 Mbit/s) applies unchanged to 5G ones (15 Mbit/s);
and an output of 0 is the harmonic-mean baseline itself.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from ..errors import ConfigError
from .modelfile import ModelFiles
from .nn import Gru

F64 = NDArray[np.float64]

#: Samples below this share of the window's harmonic mean are floored (log of zero).
FLOOR = 1e-3
#: The kind name of a learned bandwidth predictor's model folder.
KIND = "bandwidth_gru"


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


def window_features(w: F64, k: int = 5) -> tuple[F64, F64]:
    """The learned model's input for windows ``w`` (n, L): ``log(w / s)`` with ``s`` the
    harmonic mean of each window's last ``k`` samples; returns (features, s)."""
    tail = np.maximum(w[:, -k:], 1e-9)
    s = k / np.sum(1.0 / tail, axis=1)
    z = np.log(np.maximum(w / s[:, None], FLOOR))
    return z, s


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


class LearnedPredictor:
    """The GRU bandwidth predictor of a model folder.

    ``predict_windows(w)`` -> (n, len(horizons_s)) predictions for full windows; online,
    ``observe`` one-second samples then ``predict()`` (the first horizon), falling back
    to the harmonic mean until a full window has been seen.

    Args:
        folder: the model folder.
        runtime: ``"onnx"`` (onnxruntime, imported on first use: measured faster for this
            recurrent network, docs/decision.md), ``"numpy"``, or ``"auto"``: onnxruntime
            when it is installed and the folder has the ONNX file, else numpy.

    Raises:
        ConfigError: the folder is not a bandwidth predictor or misses weights, or an
            unknown runtime.
    """

    def __init__(self, folder: str | Path, runtime: str = "auto") -> None:
        if runtime not in ("auto", "onnx", "numpy"):
            raise ConfigError(f"predictor runtime must be auto, onnx or numpy, not {runtime!r}")
        self.folder = Path(folder)
        self.runtime = runtime
        self._session: Any = None
        files = ModelFiles.load(folder, KIND)
        self.meta = files.meta
        try:
            self.window = int(files.meta["window"])
            self.k = int(files.meta["k"])
            self.horizons_s = [int(h) for h in files.meta["horizons_s"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bandwidth model {folder}: bad meta.json ({exc})") from exc
        self.gru = Gru.from_arrays(files.arrays)
        if self.gru.head.n_outputs != len(self.horizons_s):
            raise ConfigError(
                f"bandwidth model {folder}: {self.gru.head.n_outputs} outputs for "
                f"{len(self.horizons_s)} horizons"
            )
        self._recent: deque[float] = deque(maxlen=self.window)

    def predict_windows(self, w: F64) -> F64:
        z, s = window_features(np.asarray(w, dtype=np.float64), self.k)
        session = self._onnx_session()
        if session is not None:
            out = session.run(None, {"x": z[:, :, None].astype(np.float32)})[0]
        else:
            out = self.gru(z[:, :, None])
        return np.asarray(s[:, None] * np.exp(out), dtype=np.float64)

    def _onnx_session(self) -> Any:
        if self.runtime == "numpy" or self._session is False:
            return None
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError:
                if self.runtime == "onnx":
                    raise ConfigError("predictor runtime onnx needs onnxruntime") from None
                self._session = False
                return None
            path = self.folder / "model.onnx"
            if not path.exists():
                if self.runtime == "onnx":
                    raise ConfigError(f"bandwidth model {self.folder} has no model.onnx")
                self._session = False
                return None
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def observe(self, sample: float) -> None:
        self._recent.append(max(sample, 0.0))

    def predict(self) -> float:
        if not self._recent:
            return float("nan")
        if len(self._recent) < self.window:
            tail = list(self._recent)[-self.k :]
            return len(tail) / sum(1.0 / max(v, 1e-9) for v in tail)
        return float(self.predict_windows(np.array([self._recent]))[0, 0])
