"""Fit the learned policies on labelled decisions (torch and scikit-learn: the ``train``
extra, imported inside the functions).

- ``mlp``: one network scores every option
  (:data:`~edgeoffload.decision.learned.OPTION_FEATURES` in, one logit out), trained
  with a softmax over each decision's options against the oracle's choice
  (cross-entropy); saved as numpy weights (the runtime path) and ONNX.
- ``gbdt``: gradient-boosted trees (scikit-learn's GradientBoostingClassifier: skl2onnx
  1.20 cannot convert HistGradientBoostingClassifier under scikit-learn 1.9) on
  the same option rows, label "this option is the oracle's"; the decision is the option
  of highest probability; saved as ONNX (skl2onnx) for onnxruntime.

Both keep the scaler fitted on the training rows, the bounds the runtime clips inputs
to (:func:`~edgeoffload.decision.learned.input_bounds`), the feature names and order, the
cost weights of the labels and the validation metrics in ``meta.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from ..costs import CostWeights
from ..evaluation import Labelled
from ..features import F64
from ..learned import OPTION_FEATURES, input_bounds, option_features
from ..modelfile import ModelFiles, Scaler
from ..nn import Mlp
from .predictor import export_onnx


@dataclass(frozen=True, slots=True)
class FitConfig:
    hidden: tuple[int, ...] = (32, 32)
    epochs: int = 30
    batch_size: int = 512
    learning_rate: float = 3e-3
    seed: int = 0
    #: Weight of the expected log excess cost (a regret term) next to the cross-entropy:
    #: 0 trains for agreement only; more trades agreement for fewer costly mistakes.
    regret_weight: float = 0.0
    #: Project the scaled features on their first principal components (fitted on the
    #: training rows) before the network; None: no PCA. The projection is a fixed first
    #: layer, folded into the next one in the saved model (the runtime is unchanged).
    pca_components: int | None = None
    gbdt_iterations: int = 100
    gbdt_depth: int = 4


def log_excess(labelled: Labelled, weights: CostWeights) -> F64:
    """(n, m): log of each option's realised cost over the best one's (0 for the best,
    capped at 10; absent options 10)."""
    cost, _, _ = labelled.realised(weights)
    best = np.min(cost, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(np.maximum(cost, 1e-12) / np.maximum(best, 1e-12))
    return np.asarray(np.clip(np.nan_to_num(ratio, nan=10.0, posinf=10.0), 0.0, 10.0))


def prepare(labelled: Labelled, weights: CostWeights) -> tuple[F64, F64, F64]:
    """(option features (n, m, F), available (n, m), target (n, m)): the target spreads
    each decision's weight evenly over its optimal options (ties between identical
    nodes are not the model's to break)."""
    x, available, _, _ = option_features(labelled.ctx, weights)
    optimal = labelled.optimal(weights).astype(np.float64)
    return x, available, optimal / optimal.sum(axis=1, keepdims=True)


@dataclass
class Fitted:
    files: ModelFiles
    onnx: bytes


def _meta(
    kind: str, weights: CostWeights, config: FitConfig, n: int, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "features": list(OPTION_FEATURES),
        "cost": asdict(weights),
        "fit": {**asdict(config), "hidden": list(config.hidden)},
        "training_decisions": n,
        "model": kind,
        **extra,
    }


#: Training rows whose digest a policy model keeps (``records_digest`` in its meta).
DIGEST_ROWS = 2000


def records_digest(labelled: Labelled, rows: int = DIGEST_ROWS) -> dict[str, Any]:
    """The sha256 of the first ``rows`` training records (what each decision saw and
    what every option cost), saved with a model: a test re-records them and finds out
    when the simulator no longer produces what the shipped model was trained on (then
    ``make train`` no longer reproduces it: retrain)."""
    part = labelled.rows(slice(0, rows))
    h = hashlib.sha256()
    for a in (part.ctx.tasks, part.ctx.device, part.ctx.nodes, part.latency_s, part.energy_j):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return {"rows": len(part), "sha256": h.hexdigest()}


@contextlib.contextmanager
def deterministic_torch(seed: int) -> Iterator[None]:
    """Torch seeded, on one thread and with deterministic kernels, for the block: the
    same data give the same weights bit for bit on any machine (a matrix product split
    over more threads sums in another order, and ``make train`` must reproduce the
    shipped models wherever it runs). These networks are small: one thread costs little.
    The thread count and the deterministic flag are restored after."""
    import torch

    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)


class AdamSchedule(Protocol):
    """What :func:`minibatch_adam` reads of a training config (``FitConfig``, the seed
    LSTM's ``SeedConfig``)."""

    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def learning_rate(self) -> float: ...


def minibatch_adam(
    net: Any,
    batch_loss: Callable[[Any], Any],
    n: int,
    config: AdamSchedule,
    rng: np.random.Generator,
) -> list[float]:
    """Train ``net``'s trainable parameters with Adam on shuffled minibatches of the
    ``n`` rows (``batch_loss(indices)`` is a batch's loss); returns each epoch's mean
    loss. Every trainer of the package runs this one loop (seeded by ``rng``)."""
    import torch

    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=config.learning_rate)
    losses = []
    for _ in range(config.epochs):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = torch.as_tensor(order[start : start + config.batch_size])
            opt.zero_grad()
            loss = batch_loss(idx)
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(idx)
        losses.append(round(total / n, 5))
    return losses


def fit_mlp(labelled: Labelled, weights: CostWeights, config: FitConfig | None = None) -> Fitted:
    """Train the option-scoring MLP (see the module docstring); the same records and
    config give the same bytes (:func:`deterministic_torch`)."""
    config = config or FitConfig()
    with deterministic_torch(config.seed):
        return _fit_mlp(labelled, weights, config)


def _fit_mlp(labelled: Labelled, weights: CostWeights, config: FitConfig) -> Fitted:
    import torch

    rng = np.random.default_rng(config.seed)
    x, available, y = prepare(labelled, weights)
    n, _, f = x.shape
    scaler = Scaler.fit(x[available > 0])
    xs = np.where(available[:, :, None] > 0, scaler(x), 0.0)
    layers: list[Any] = []
    width = f
    explained = None
    if config.pca_components:
        rows = xs[available > 0]
        mean = rows.mean(axis=0)
        _, sv, vt = np.linalg.svd(rows - mean, full_matrices=False)
        components = vt[: config.pca_components]
        explained = float((sv[: config.pca_components] ** 2).sum() / (sv**2).sum())
        pca = torch.nn.Linear(f, config.pca_components)
        with torch.no_grad():
            pca.weight.copy_(torch.as_tensor(components))
            pca.bias.copy_(torch.as_tensor(-components @ mean))
        pca.requires_grad_(False)
        layers.append(pca)
        width = config.pca_components
    sizes = [width, *config.hidden]
    for a, b in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-1], 1))
    net = torch.nn.Sequential(*layers)
    xt = torch.as_tensor(xs, dtype=torch.float32)
    mask = torch.as_tensor(available > 0)
    yt = torch.as_tensor(y, dtype=torch.float32)
    excess = torch.as_tensor(log_excess(labelled, weights), dtype=torch.float32)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        logits = net(xt[idx]).squeeze(-1).masked_fill(~mask[idx], -1e9)
        loss = torch.nn.functional.cross_entropy(logits, yt[idx])  # soft targets
        if config.regret_weight:
            prob = torch.softmax(logits, dim=1)
            loss = loss + config.regret_weight * (prob * excess[idx]).sum(dim=1).mean()
        return loss

    losses = minibatch_adam(net, batch_loss, n, config, rng)
    linears = [mod for mod in net if isinstance(mod, torch.nn.Linear)]
    ws = [np.asarray(m.weight.detach().double().numpy().T, dtype=np.float64) for m in linears]
    bs = [np.asarray(m.bias.detach().double().numpy(), dtype=np.float64) for m in linears]
    if config.pca_components:  # two linear layers in a row are one: fold the projection
        ws[:2], bs[:2] = [ws[0] @ ws[1]], [bs[0] @ ws[1] + bs[1]]
    mlp = Mlp(tuple(w.copy() for w in ws), tuple(b.copy() for b in bs))
    net.eval()
    onnx = export_onnx(net, torch.zeros(1, f))
    extra: dict[str, Any] = {"train_loss": losses}
    if explained is not None:
        extra["pca_explained_variance"] = round(explained, 4)
    meta = _meta("mlp", weights, config, n, extra)
    bounds = input_bounds(x[available > 0])
    files = ModelFiles("policy_mlp", meta, {**mlp.arrays(), **scaler.arrays(), **bounds})
    return Fitted(files, onnx)


def fit_gbdt(labelled: Labelled, weights: CostWeights, config: FitConfig | None = None) -> Fitted:
    """Train the gradient-boosted baseline (see the module docstring)."""
    from sklearn.ensemble import GradientBoostingClassifier

    config = config or FitConfig()
    x, available, y = prepare(labelled, weights)
    n = x.shape[0]
    keep = available > 0
    scaler = Scaler.fit(x[keep])
    rows = scaler(x[keep])
    label = (y > 0)[keep].astype(np.int64)
    model = GradientBoostingClassifier(
        n_estimators=config.gbdt_iterations,
        max_depth=config.gbdt_depth,
        subsample=0.5,
        random_state=config.seed,
    )
    model.fit(rows, label)
    from skl2onnx import to_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onx = to_onnx(
            model,
            rows[:1].astype(np.float32),
            options={id(model): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    # skl2onnx names the input "X"; the runtime feeds "x".
    onx.graph.input[0].name = "x"
    for node in onx.graph.node:
        node.input[:] = ["x" if name == "X" else name for name in node.input]
    meta = _meta("gbdt", weights, config, n, {})
    files = ModelFiles("policy_gbdt", meta, {**scaler.arrays(), **input_bounds(x[keep])})
    return Fitted(files, onx.SerializeToString())


FITTERS = {"mlp": fit_mlp, "gbdt": fit_gbdt}


def fit_lstm(labelled: Labelled, weights: CostWeights, config: FitConfig | None = None) -> Fitted:
    """Train the option scorer with an LSTM over the device's recent calls
    (:mod:`edgeoffload.decision.history`): the LSTM's last state joins every option's
    features. Reproducible as :func:`fit_mlp`."""
    cfg = config or FitConfig()
    with deterministic_torch(cfg.seed):
        return _fit_lstm(labelled, weights, cfg)


def _fit_lstm(labelled: Labelled, weights: CostWeights, cfg: FitConfig) -> Fitted:
    import torch

    from ..history import HISTORY_FEATURES, KIND, STEPS, history_windows
    from ..nn import Lstm

    rng = np.random.default_rng(cfg.seed)
    x, available, y = prepare(labelled, weights)
    hist = history_windows(labelled.ctx, labelled.device_id, labelled.created_s)
    n, _, f = x.shape
    scaler = Scaler.fit(x[available > 0])
    h_scaler = Scaler.fit(hist.reshape(-1, hist.shape[2]))
    xs = np.where(available[:, :, None] > 0, scaler(x), 0.0)
    hs = h_scaler(hist)
    lstm_units = 16

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(len(HISTORY_FEATURES), lstm_units, batch_first=True)
            layers: list[Any] = []
            sizes = [f + lstm_units, *cfg.hidden]
            for a, b in itertools.pairwise(sizes):
                layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
            layers.append(torch.nn.Linear(sizes[-1], 1))
            self.head = torch.nn.Sequential(*layers)

        def forward(self, opts: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(seq)
            h = out[:, -1][:, None, :].expand(-1, opts.shape[1], -1)
            result: torch.Tensor = self.head(torch.cat([opts, h], dim=2)).squeeze(-1)
            return result

    net = Net()
    xt = torch.as_tensor(xs, dtype=torch.float32)
    ht = torch.as_tensor(hs, dtype=torch.float32)
    mask = torch.as_tensor(available > 0)
    yt = torch.as_tensor(y, dtype=torch.float32)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        logits = net(xt[idx], ht[idx]).masked_fill(~mask[idx], -1e9)
        loss: torch.Tensor = torch.nn.functional.cross_entropy(logits, yt[idx])
        return loss

    losses = minibatch_adam(net, batch_loss, n, cfg, rng)
    state = {
        k: np.asarray(v.detach().double().numpy(), dtype=np.float64)
        for k, v in net.state_dict().items()
    }
    lstm = Lstm(
        state["lstm.weight_ih_l0"],
        state["lstm.weight_hh_l0"],
        state["lstm.bias_ih_l0"],
        state["lstm.bias_hh_l0"],
    )
    linear = sorted({k.split(".")[1] for k in state if k.startswith("head.")}, key=int)
    mlp = Mlp(
        tuple(state[f"head.{i}.weight"].T.copy() for i in linear),
        tuple(state[f"head.{i}.bias"] for i in linear),
    )
    meta = _meta("lstm", weights, cfg, n, {"train_loss": losses})
    meta.update(history_features=list(HISTORY_FEATURES), steps=STEPS, lstm_units=lstm_units)
    arrays = {
        **lstm.arrays(),
        **mlp.arrays(),
        **scaler.arrays(),
        **h_scaler.arrays("history_scaler"),
    }
    # No ONNX for this one: the runtime is the numpy forward pass (two inputs).
    return Fitted(ModelFiles(KIND, meta, arrays), b"")


FITTERS["lstm"] = fit_lstm
