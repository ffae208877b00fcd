"""The seed article's model, rebuilt to check its claim: an LSTM over 12 dynamic
parameters of a task's recent history that says offload or not (P(offload) > 0.7), said
to reach 92.3 % accuracy on 100,000 historical tasks.

The article names the parameters only by group ("network state, node load and the
rest"); these are the 12 of ours that fit, each a field the decision already sees
(:data:`SEED_PARAMETERS`): nine of the system's state, which change from task to task,
and three of the task's demand. The node's figures are those of the node an offload
would go to (the candidate of lowest expected latency, the one ``always_edge`` picks):
the article's decision is binary, so its model sees one offload target. What it does
not see, and our option scorer does: the device's and the node's CPU speed, the power
model, the output size and the priority (static, or not in the article's list), and
the cost model's estimates built from them.

A task's input is the sequence of the last :data:`STEPS` tasks of its device (its own
parameters last, oldest first, zero-padded after scaling), so the LSTM has a history to
read. The label is the hindsight oracle's choice reduced to local (0) or offload (1),
and accuracy is agreement with it on that binary choice. The split is by device
(:func:`device_split`): no test device's tasks, nor its history, are trained on.

Torch is imported inside :func:`fit` and :func:`predict` only (the ``train`` extra).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..costs import CostWeights, option_costs
from ..evaluation import Labelled
from ..features import F64, I64
from ..modelfile import Scaler

#: The 12 dynamic parameters, and where each comes from (``NodeFeatures`` of the offload
#: target, ``DeviceState``, ``TaskBatch``); sizes and times on a log10 scale.
SEED_PARAMETERS: dict[str, str] = {
    "log10_up_bps": "network: NodeFeatures.up_bps (uplink throughput estimate)",
    "log10_down_bps": "network: NodeFeatures.down_bps (downlink throughput estimate)",
    "log10_rtt_s": "network: NodeFeatures.rtt_s (round-trip time estimate)",
    "log10_node_queue_s": "node load: NodeFeatures.queue_s (wait before a task starts)",
    "node_load": "node load: NodeFeatures.load (busy share)",
    "device_load": "device: DeviceState.load (CPU busy share)",
    "battery": "device: DeviceState.battery",
    "log10_local_queue_s": "device: DeviceState.local_queue_s (its CPU backlog)",
    "log10_uplink_queue_s": "device: DeviceState.uplink_queue_s (its radio backlog)",
    "log10_cycles": "task: TaskBatch.cpu_cycles",
    "log10_input_bytes": "task: TaskBatch.input_bytes",
    "log10_deadline_s": "task: TaskBatch.deadline_s (none: 100 s)",
}
#: Tasks of history per input sequence (the current one last).
STEPS = 8
#: The seed's rule: offload when P(offload) exceeds it.
THRESHOLD = 0.7
#: A task without a deadline, as a number (longer than any task here takes).
NO_DEADLINE_S = 100.0


@dataclass(frozen=True, slots=True)
class SeedConfig:
    hidden: int = 32
    epochs: int = 12
    batch_size: int = 256
    learning_rate: float = 3e-3
    seed: int = 0
    test_share: float = 0.2


def offload_target(labelled: Labelled) -> I64:
    """Per task, the column (1 + i) of the node an offload goes to: lowest expected
    latency (as ``always_edge``); 0 where there is no node."""
    if labelled.ctx.k == 0:
        return np.zeros(len(labelled), dtype=np.int64)
    latency, _, _ = option_costs(labelled.ctx)
    node = 1 + np.argmin(latency[:, 1:], axis=1)
    return np.asarray(np.where(np.isfinite(latency[:, 1:]).any(axis=1), node, 0), dtype=np.int64)


def parameters(labelled: Labelled) -> F64:
    """(n, 12): :data:`SEED_PARAMETERS` of every task."""
    ctx = labelled.ctx
    n = len(ctx)
    target = offload_target(labelled)
    if ctx.k:
        node = ctx.nodes[np.arange(n), np.maximum(target - 1, 0)]
        node = np.where((target > 0)[:, None], node, 0.0)
    else:
        node = np.zeros((n, ctx.nodes.shape[2]))

    def log(a: F64, floor: float) -> F64:
        return np.asarray(np.log10(np.maximum(np.nan_to_num(a), floor)), dtype=np.float64)

    t, d = ctx.tasks, ctx.device
    deadline = np.where(np.isfinite(t[:, 5]), t[:, 5], NO_DEADLINE_S)
    return np.column_stack(
        [
            log(node[:, 4], 1.0),
            log(node[:, 5], 1.0),
            log(node[:, 6], 1e-4),
            log(node[:, 2], 1e-4),
            node[:, 3],
            d[:, 1],
            d[:, 2],
            log(d[:, 7], 1e-4),
            log(d[:, 8], 1e-4),
            log(t[:, 0], 1.0),
            log(t[:, 3], 1.0),
            log(deadline, 1e-3),
        ]
    )


def labels(labelled: Labelled, weights: CostWeights) -> NDArray[np.int64]:
    """1 where the oracle offloads (an option of lowest realised cost is a node), else 0."""
    return np.asarray(labelled.oracle(weights) > 0, dtype=np.int64)


def sequences(values: F64, run: I64, device_id: I64, created_s: F64, steps: int = STEPS) -> F64:
    """(n, steps, P): for each task, the values of its device's last ``steps`` tasks in
    the same run (its own last, oldest first; zero before the device's first task).
    Tasks created at one instant keep their record order."""
    n, p = values.shape
    out = np.zeros((n, steps, p))
    order = np.lexsort((np.arange(n), created_s, device_id, run))
    key_run, key_dev = run[order], device_id[order]
    for lag in range(steps):
        src = np.arange(n) - lag
        ok = src >= 0
        s = np.maximum(src, 0)
        ok &= (key_run[s] == key_run) & (key_dev[s] == key_dev)
        out[order[ok], steps - 1 - lag] = values[order[s[ok]]]
    return out


def device_split(run: I64, device_id: I64, test_share: float, seed: int) -> NDArray[np.bool_]:
    """True for the test rows: every task of a seeded random ``test_share`` of the
    (run, device) pairs."""
    pairs, group = np.unique(np.column_stack([run, device_id]), axis=0, return_inverse=True)
    rng = np.random.default_rng(seed)
    n_test = max(1, round(test_share * len(pairs)))
    test_groups = rng.permutation(len(pairs))[:n_test]
    return np.asarray(np.isin(group.ravel(), test_groups))


@dataclass
class SeedModel:
    """A fitted seed LSTM: its scaler (fitted on the training rows' parameters), its
    torch state (numpy arrays) and its config."""

    scaler: Scaler
    state: dict[str, F64]
    config: SeedConfig
    train_loss: list[float]

    def meta(self) -> dict[str, Any]:
        return {
            "parameters": list(SEED_PARAMETERS),
            "steps": STEPS,
            "threshold": THRESHOLD,
            "fit": asdict(self.config),
            "train_loss": self.train_loss,
        }


def _net(config: SeedConfig) -> Any:
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(len(SEED_PARAMETERS), config.hidden, batch_first=True)
            self.out = torch.nn.Linear(config.hidden, 1)

        def forward(self, seq: torch.Tensor) -> torch.Tensor:
            h, _ = self.lstm(seq)
            logit: torch.Tensor = self.out(h[:, -1]).squeeze(-1)
            return logit

    return Net()


def fit(seqs: F64, y: NDArray[np.int64], config: SeedConfig | None = None) -> SeedModel:
    """Train the LSTM (binary cross-entropy, Adam on shuffled minibatches) on sequences
    (n, STEPS, 12) and labels (n,). Seeded and single-threaded: the same inputs give the
    same weights, bit for bit."""
    import torch

    from .policy import deterministic_torch, minibatch_adam

    config = config or SeedConfig()
    rng = np.random.default_rng(config.seed)
    with deterministic_torch(config.seed):
        scaler = Scaler.fit(seqs.reshape(-1, seqs.shape[2]))
        net = _net(config)
        xt = torch.as_tensor(scaler(seqs), dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.float32)

        def batch_loss(idx: Any) -> Any:
            return torch.nn.functional.binary_cross_entropy_with_logits(net(xt[idx]), yt[idx])

        losses = minibatch_adam(net, batch_loss, len(y), config, rng)
        state = {k: v.detach().double().numpy().copy() for k, v in net.state_dict().items()}
    return SeedModel(scaler, state, config, losses)


def predict(model: SeedModel, seqs: F64) -> F64:
    """P(offload) (n,) of sequences."""
    import torch

    from .policy import deterministic_torch

    with deterministic_torch(model.config.seed):
        net = _net(model.config)
        net.load_state_dict(
            {k: torch.as_tensor(v, dtype=torch.float32) for k, v in model.state.items()}
        )
        net.eval()
        with torch.no_grad():
            logit = net(torch.as_tensor(model.scaler(seqs), dtype=torch.float32))
        return np.asarray(torch.sigmoid(logit).double().numpy(), dtype=np.float64)


def choices(p_offload: F64, target: I64, threshold: float = THRESHOLD) -> I64:
    """The seed rule's choice as columns (0: local, else the offload target)."""
    return np.asarray(np.where((p_offload > threshold) & (target > 0), target, 0), dtype=np.int64)


def binary_accuracy(choice: I64, y: NDArray[np.int64]) -> float:
    """Share of tasks whose local/offload choice is the oracle's."""
    return float(((choice > 0).astype(np.int64) == y).mean())
