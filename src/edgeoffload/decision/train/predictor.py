"""Train the learned bandwidth predictor (torch, the ``train`` extra) and evaluate it.

Data: every trace resampled to one-second means (exact time averages of the trace);
inputs are windows of the last ``window`` seconds, targets the mean over the next 1 s and
5 s, both relative to the window's harmonic mean (see
:mod:`edgeoffload.decision.estimators`). Training on ``pensieve_train`` (Pensieve's
cooked_traces); evaluation on the other datasets as they are, without retraining.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError
from ..estimators import (
    F64,
    KIND,
    LearnedPredictor,
    ewma_series,
    future_mean,
    harmonic_series,
    prediction_error,
    window_features,
    windows,
)
from ..modelfile import ModelFiles
from ..nn import Gru, Mlp


@dataclass(frozen=True, slots=True)
class PredictorConfig:
    window: int = 16
    k: int = 5  # harmonic mean of the last k samples: the scale and the baseline
    horizons_s: tuple[int, ...] = (1, 5)
    hidden: int = 32
    epochs: int = 6
    batch_size: int = 256
    learning_rate: float = 3e-3
    stride: int = 2  # every other window: neighbours overlap in all but one second
    seed: int = 0


def one_second_series(traces: Sequence[Any]) -> list[F64]:
    """Mbit/s per second of each trace (``edgeoffload.traces.Trace``), one period."""
    return [np.asarray(t.resample(1.0).mbps, dtype=np.float64) for t in traces]


def training_pairs(series: Sequence[F64], config: PredictorConfig) -> tuple[F64, F64]:
    """(inputs (n, window), log-ratio targets (n, horizons)) from every full window."""
    xs, ys = [], []
    last = max(config.horizons_s)
    for x in series:
        if len(x) < config.window + last:
            continue
        w = windows(x, config.window)[: len(x) - config.window + 1 - last]
        ends = np.arange(config.window - 1, config.window - 1 + len(w))
        z, s = window_features(w, config.k)
        targets = np.column_stack([future_mean(x, h)[ends] for h in config.horizons_s])
        ok = np.all(targets > 0, axis=1)
        xs.append(z[ok])
        ys.append(np.log(targets[ok] / s[ok, None]))
    if not xs:
        raise ConfigError(_too_short(config.window, last))
    return np.concatenate(xs), np.concatenate(ys)


def _too_short(window: int, ahead: int) -> str:
    """Said when no series can give one (window, future) pair: numpy's "need at least
    one array to concatenate" would say nothing about why."""
    return f"no series of at least {window + ahead} s (window {window} + {ahead} s ahead)"


@dataclass
class TrainedPredictor:
    files: ModelFiles
    onnx: bytes
    losses: list[float] = field(default_factory=list)


def train(series: Sequence[F64], config: PredictorConfig | None = None) -> TrainedPredictor:
    """Fit the GRU on ``series`` (torch, imported here); returns its model files."""
    import torch

    cfg = config or PredictorConfig()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(2)
    x, y = training_pairs(series, cfg)
    x, y = x[:: cfg.stride], y[:: cfg.stride]
    rng = np.random.default_rng(cfg.seed)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(1, cfg.hidden, batch_first=True)
            self.head = torch.nn.Linear(cfg.hidden, len(cfg.horizons_s))

        def forward(self, inp: torch.Tensor) -> torch.Tensor:
            out, _ = self.gru(inp)
            result: torch.Tensor = self.head(out[:, -1])
            return result

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    xt = torch.as_tensor(x[:, :, None], dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)
    losses = []
    for _ in range(cfg.epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(order), cfg.batch_size):
            idx = torch.as_tensor(order[start : start + cfg.batch_size])
            opt.zero_grad()
            # |predicted / actual - 1|: the absolute percentage error itself (targets and
            # outputs are logs of ratios to the same harmonic mean).
            loss = torch.abs(torch.exp(net(xt[idx]) - yt[idx]) - 1.0).mean()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.item()) * len(idx)
        losses.append(total / len(x))

    state = {
        k: np.asarray(v.detach().double().numpy(), dtype=np.float64)
        for k, v in net.state_dict().items()
    }
    head = Mlp((state["head.weight"].T.copy(),), (state["head.bias"],))
    gru = Gru(
        state["gru.weight_ih_l0"],
        state["gru.weight_hh_l0"],
        state["gru.bias_ih_l0"],
        state["gru.bias_hh_l0"],
        head,
    )
    net.eval()
    onnx = export_onnx(net, xt[:1])
    meta = {
        "window": cfg.window,
        "k": cfg.k,
        "horizons_s": list(cfg.horizons_s),
        "hidden": cfg.hidden,
        "epochs": cfg.epochs,
        "training_windows": len(x),
        "train_loss": losses,
        "features": [f"log(x[t-{cfg.window - 1 - i}] / hm{cfg.k})" for i in range(cfg.window)],
    }
    files = ModelFiles(KIND, meta, gru.arrays())
    return TrainedPredictor(files, onnx, losses)


def export_onnx(net: Any, example: Any) -> bytes:
    """ONNX bytes of a torch module with a dynamic batch axis on input ``x``."""
    import tempfile
    import warnings

    import torch

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # torch.onnx's TorchScript exporter is deprecated in favour of dynamo, which
        # needs onnxscript and writes the weights to a side file (../shared/MACHINE.md).
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            net,
            (example,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "n"}},
            dynamo=False,
        )
        return path.read_bytes()


#: Seconds under this share of the pooled non-zero median are outages, left out of MAPE.
OUTAGE_SHARE = 0.01


def outage_floor(series: Sequence[F64]) -> float:
    """The throughput under which a second counts as an outage: :data:`OUTAGE_SHARE`
    of the median of every non-zero second of all ``series`` pooled, so that a trace
    whose own median is 0 still gets a floor above 0.

    Raises:
        ConfigError: no second of any series has a throughput above 0.
    """
    pooled = np.concatenate([x[np.isfinite(x) & (x > 0)] for x in series])
    if pooled.size == 0:
        raise ConfigError("every second of the traces has 0 throughput: MAPE is undefined")
    return OUTAGE_SHARE * float(np.median(pooled))


def evaluate(
    predictor: LearnedPredictor, series: Sequence[F64], ewma_alpha: float = 0.25
) -> dict[str, dict[str, dict[str, float]]]:
    """Per horizon, per method (learned, harmonic_mean, ewma, last): MAPE and RMSE over
    every second with a full window behind it and the horizon ahead of it.

    MAPE skips seconds whose actual mean is under :data:`OUTAGE_SHARE` of the pooled
    median of every non-zero second of ``series`` (outages: a relative error of a
    near-zero throughput is meaningless); RMSE keeps them. The floor was each series'
    own median once, which is 0 for a trace mostly in outage: its zeros were kept and
    the MAPE came out inf (or NaN).

    Raises:
        ConfigError: no series is long enough, or no second has any throughput.
    """
    preds: dict[str, list[F64]] = {"learned": [], "harmonic_mean": [], "ewma": [], "last": []}
    actual: dict[int, list[F64]] = {h: [] for h in predictor.horizons_s}
    used: list[F64] = []
    last = max(predictor.horizons_s)
    for x in series:
        if len(x) < predictor.window + last:
            continue
        w = windows(x, predictor.window)[: len(x) - predictor.window + 1 - last]
        ends = np.arange(predictor.window - 1, predictor.window - 1 + len(w))
        preds["learned"].append(predictor.predict_windows(w))
        preds["harmonic_mean"].append(harmonic_series(x, predictor.k)[ends])
        preds["ewma"].append(ewma_series(x, ewma_alpha)[ends])
        preds["last"].append(x[ends])
        for h in predictor.horizons_s:
            actual[h].append(future_mean(x, h)[ends])
        used.append(x)
    if not used:
        raise ConfigError(_too_short(predictor.window, last))
    floor = outage_floor(used)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for i, h in enumerate(predictor.horizons_s):
        a = np.concatenate(actual[h])
        keep = a >= floor
        row: dict[str, dict[str, float]] = {}
        for name, parts in preds.items():
            p = np.concatenate(parts)
            p = p[:, i] if p.ndim == 2 else p
            err = prediction_error(p[keep], a[keep], 0.0)
            rmse = float(np.sqrt(np.mean((p - a) ** 2)))
            row[name] = {"mape": err["mape"], "rmse": rmse, "n": err["n"]}
        out[f"{h}s"] = row
    return out


def time_inference(folder: str | Path, repeats: int = 300) -> dict[str, float]:
    """Microseconds per call, numpy vs onnxruntime, for 1 window and for 1,000 (best of
    5 rounds; the two runtimes are checked to agree first)."""
    import timeit

    by_numpy = LearnedPredictor(folder, runtime="numpy")
    by_onnx = LearnedPredictor(folder, runtime="onnx")
    rng = np.random.default_rng(0)
    one = rng.uniform(0.5, 5.0, (1, by_numpy.window))
    many = rng.uniform(0.5, 5.0, (1000, by_numpy.window))
    np.testing.assert_allclose(
        by_onnx.predict_windows(many), by_numpy.predict_windows(many), rtol=1e-4
    )

    def clock(fn: Any, n: int) -> float:
        return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6

    few = max(3, repeats // 30)
    return {
        "numpy_1_us": clock(lambda: by_numpy.predict_windows(one), repeats),
        "numpy_1000_us": clock(lambda: by_numpy.predict_windows(many), few),
        "onnx_1_us": clock(lambda: by_onnx.predict_windows(one), repeats),
        "onnx_1000_us": clock(lambda: by_onnx.predict_windows(many), few),
    }
