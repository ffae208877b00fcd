"""DROO's learned decision method: a DNN proposes K modes, the convex subproblem scores them.

After Huang, Bi and Zhang (IEEE TMC 2020; ``revenol/DROO``): a fully connected network
maps a frame's channel gains to a relaxed offloading mode in (0, 1)^N; order-preserving
quantization turns it into K binary candidates; the subproblem
(:class:`~.problem.ModeSolver`) scores each; the best is the decision,
and it is stored in a replay memory the network is trained on every few frames (it learns
from its own best choices, never from labels). K adapts to the index of recent winners.

What differs from the authors' code, and why:
- frames are handled a block of ``training_interval`` at a time (the network only changes
  every ``training_interval`` frames there too, so the decisions are the same kind): one
  forward pass and one vectorised scoring call per block instead of per frame and per mode;
- K is adapted after each block (their code: every 32 frames);
- the forward pass runs in numpy (:class:`~edgeoffload.decision.nn.Mlp`); torch is used to
  take the training steps only (imported on first use).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..nn import Mlp
from .problem import F64, Modes, ModeSolver, bisection_reference

if TYPE_CHECKING:
    from collections.abc import Callable


def order_preserving(p: F64, k: int) -> Modes:
    """K binary modes per row of relaxed modes ``p`` (batch, N) -> (batch, k, N).

    The first is ``p > 0.5``; the i-th other one thresholds ``p`` at its i-th entry
    closest to 0.5 (DROO eq. 8-9): ``p > p_i`` if ``p_i > 0.5`` else ``p >= p_i``, so the
    candidates keep the order of ``p``.
    """
    p = np.asarray(p, dtype=np.float64)
    first = (p > 0.5)[:, None, :]
    if k <= 1:
        return first
    idx = np.argsort(np.abs(p - 0.5), axis=1, kind="stable")[:, : k - 1]
    thr = np.take_along_axis(p, idx, axis=1)[:, :, None]  # (batch, k-1, 1)
    others = np.where(thr > 0.5, p[:, None, :] > thr, p[:, None, :] >= thr)
    return np.concatenate([first, others], axis=1)


@dataclass(frozen=True, slots=True)
class DrooConfig:
    """The authors' settings (``main.py`` / ``memoryPyTorch.py``) unless noted."""

    hidden: tuple[int, ...] = (120, 80)
    learning_rate: float = 0.01
    training_interval: int = 10
    batch_size: int = 128
    memory_size: int = 1024
    max_k: int = 10
    # The authors adapt K to save scoring time; scoring all N candidates at once is cheap
    # here, and a fixed K = N loses fewer optima (docs/decision.md).
    adaptive_k: bool = False
    input_scale: float = 1e6  # the network sees h * 1e6, as in the authors' code
    seed: int = 0


class _Trainer:
    """The torch side: one network, Adam, binary cross-entropy (as in the authors' code)."""

    def __init__(self, sizes: list[int], config: DrooConfig) -> None:
        import torch

        torch.manual_seed(config.seed)
        # NOTE: one thread: for a 10-120-80-10 network, more threads only add contention
        # (measured 20 ms per step with the default on 2 busy cores).
        torch.set_num_threads(1)
        layers: list[Any] = []
        for a, b in itertools.pairwise(sizes):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.torch = torch
        self.net = torch.nn.Sequential(*layers[:-1])  # logits; sigmoid in the loss
        self.opt = torch.optim.Adam(
            self.net.parameters(), lr=config.learning_rate, betas=(0.09, 0.999), weight_decay=1e-4
        )
        self.loss = torch.nn.BCEWithLogitsLoss()

    def step(self, x: F64, y: F64) -> float:
        torch = self.torch
        self.opt.zero_grad()
        out = self.net(torch.as_tensor(x, dtype=torch.float32))
        loss = self.loss(out, torch.as_tensor(y, dtype=torch.float32))
        loss.backward()
        self.opt.step()
        return float(loss.item())

    def mlp(self) -> Mlp:
        linears = [m for m in self.net if isinstance(m, self.torch.nn.Linear)]
        return Mlp(
            tuple(m.weight.detach().double().numpy().T.copy() for m in linears),
            tuple(m.bias.detach().double().numpy().copy() for m in linears),
            "sigmoid",
        )


@dataclass
class DrooRun:
    """What one pass over frames produced (per frame)."""

    modes: Modes
    rates: F64
    k_used: NDArray[np.int64]
    decide_s: float  # wall time spent deciding (forward pass, quantization, scoring)
    train_s: float  # wall time spent in training steps
    losses: list[float] = field(default_factory=list)


class DrooAgent:
    """The DNN, its replay memory and the adaptive K.

    Args:
        n: devices per frame.
        config: the settings.
        solver: the subproblem scorer.
    """

    def __init__(self, n: int, config: DrooConfig | None = None, solver: ModeSolver | None = None):
        self.n = n
        self.config = config or DrooConfig()
        self.solver = solver or ModeSolver()
        self._trainer = _Trainer([n, *self.config.hidden, n], self.config)
        self.mlp = self._trainer.mlp()
        self.k = self.config.max_k
        self._rng = np.random.default_rng(self.config.seed)
        self._mem_x = np.zeros((self.config.memory_size, n))
        self._mem_y = np.zeros((self.config.memory_size, n))
        self._stored = 0
        self._recent_best: list[int] = []

    def propose(self, h: F64, k: int | None = None) -> Modes:
        """K candidate modes per frame of ``h`` (frames, N)."""
        return order_preserving(self.mlp(h * self.config.input_scale), k or self.k)

    def remember(self, h: F64, modes: Modes) -> None:
        """Store frames with their best modes in the replay memory (oldest overwritten)."""
        size = self.config.memory_size
        for row_h, row_m in zip(h, modes, strict=True):
            slot = self._stored % size
            self._mem_x[slot] = row_h * self.config.input_scale
            self._mem_y[slot] = row_m
            self._stored += 1

    def learn(self) -> float:
        """One training step on a random batch of the memory; refreshes the numpy copy."""
        filled = min(self._stored, self.config.memory_size)
        idx = self._rng.choice(filled, size=self.config.batch_size)
        loss = self._trainer.step(self._mem_x[idx], self._mem_y[idx])
        self.mlp = self._trainer.mlp()
        return loss

    def adapt_k(self, best_index: NDArray[np.int64]) -> None:
        """DROO's adaptive K: one more than the highest winning index lately (capped)."""
        if not self.config.adaptive_k:
            return
        self._recent_best = [*self._recent_best, *best_index.tolist()][-32:]
        self.k = min(max(self._recent_best) + 2, self.config.max_k)

    def run(self, h: F64, learn: bool = True) -> DrooRun:
        """Decide for every frame of ``h`` (frames, N) a block at a time, learning as it goes
        (``learn=False``: frozen network, K still adapts)."""
        block = self.config.training_interval
        frames = h.shape[0]
        modes = np.zeros((frames, self.n), dtype=bool)
        rates = np.zeros(frames)
        k_used = np.zeros(frames, dtype=np.int64)
        decide_s = train_s = 0.0
        losses: list[float] = []
        for start in range(0, frames, block):
            hb = h[start : start + block]
            t0 = time.perf_counter()
            cand = self.propose(hb)
            r = self.solver.rates(hb, cand)
            best = np.argmax(r, axis=1)
            rows = np.arange(len(hb))
            modes[start : start + block] = cand[rows, best]
            rates[start : start + block] = r[rows, best]
            t1 = time.perf_counter()
            decide_s += t1 - t0
            k_used[start : start + block] = cand.shape[1]
            self.adapt_k(best)
            if learn:
                self.remember(hb, cand[rows, best])
                losses.append(self.learn())
                train_s += time.perf_counter() - t1
        return DrooRun(modes, rates, k_used, decide_s, train_s, losses)


def reference_decide(
    mlp: Mlp,
    h: F64,
    k_used: NDArray[np.int64],
    input_scale: float = 1e6,
    scorer: Callable[[F64, Modes], float] = bisection_reference,
) -> DrooRun:
    """The paper's per-frame decision with a given network: one forward pass per frame,
    then K candidates scored one at a time by ``scorer`` (the scalar bisection).

    ``k_used`` gives K per frame (use the one the vectorised run used, for the same work).
    """
    frames, n = h.shape
    modes = np.zeros((frames, n), dtype=bool)
    rates = np.zeros(frames)
    t0 = time.perf_counter()
    for i in range(frames):
        p = mlp(h[i : i + 1] * input_scale)
        cand = order_preserving(p, int(k_used[i]))[0]
        scores = [scorer(h[i], m) for m in cand]
        j = int(np.argmax(scores))
        modes[i] = cand[j]
        rates[i] = scores[j]
    return DrooRun(modes, rates, k_used.copy(), time.perf_counter() - t0, 0.0)
