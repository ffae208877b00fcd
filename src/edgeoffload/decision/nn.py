"""Small neural networks run in numpy: the runtime fast path of the learned models.

Training happens in torch (the ``train`` extra, imported only by training code); the
trained weights are copied here, so deciding never imports torch. For networks this
small a numpy forward pass beats a runtime call (measured by ``edgeoffload bench decide``:
onnxruntime costs tens of microseconds per call for any size; see docs/decision.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError

F64 = NDArray[np.float64]
Output = Literal["identity", "sigmoid", "softmax"]


def sigmoid(x: F64) -> F64:
    """Logistic function without overflow warnings for large ``|x|``."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))


@dataclass(frozen=True, slots=True)
class Mlp:
    """A ReLU multilayer perceptron: ``weights[i]`` has shape (inputs, outputs).

    Args:
        weights: one matrix per layer.
        biases: one vector per layer.
        output: the last layer's activation.
    """

    weights: tuple[F64, ...]
    biases: tuple[F64, ...]
    output: Output = "identity"

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ConfigError("an MLP needs as many bias vectors as weight matrices (>= 1)")
        for w, nxt in zip(self.weights, self.weights[1:], strict=False):
            if w.shape[1] != nxt.shape[0]:
                raise ConfigError(f"MLP layer shapes do not chain: {w.shape} then {nxt.shape}")

    @property
    def n_inputs(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.weights[-1].shape[1])

    def as_float32(self) -> Mlp:
        """The same network in float32: half the memory traffic (the runtime's choice;
        outputs differ from float64 by about 1e-6 relative)."""
        return Mlp(
            tuple(w.astype(np.float32) for w in self.weights),
            tuple(b.astype(np.float32) for b in self.biases),
            self.output,
        )

    def __call__(self, x: NDArray[np.floating[Any]]) -> F64:
        """Outputs for inputs ``x`` of shape (batch, n_inputs), in the weights' dtype."""
        x = x.astype(self.weights[0].dtype, copy=False)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = np.maximum(x @ w + b, 0.0)
        return self._activate(x @ self.weights[-1] + self.biases[-1])

    def portable(self, x: NDArray[np.floating[Any]]) -> F64:
        """:meth:`__call__` with the same numbers on every machine, for float32 weights.

        A BLAS kernel sums a product in its own order (OpenBLAS picks one per CPU at run
        time), so float32 products differ in their last bits from machine to machine.
        Here each layer's products and sums are taken in float64, where float32 inputs
        multiply exactly and the order changes a sum by about 1e-16 relative, and then
        rounded to float32: the same float32 unless a sum lies within that of a rounding
        boundary (about one value in 10^8). Twice the float32 cost; the simulator's path
        (``sim.simulation.reproducible``), not the runtime's.
        """
        dtype = self.weights[0].dtype
        x = x.astype(dtype, copy=False)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            y = (x.astype(np.float64) @ w.astype(np.float64)).astype(dtype) + b
            x = y if i == last else np.maximum(y, 0.0)
        return self._activate(np.asarray(x))

    def _activate(self, y: F64) -> F64:
        if self.output == "sigmoid":
            return sigmoid(y)
        if self.output == "softmax":
            e = np.exp(y - y.max(axis=-1, keepdims=True))
            return np.asarray(e / e.sum(axis=-1, keepdims=True))
        return np.asarray(y)

    def arrays(self, prefix: str = "mlp") -> dict[str, F64]:
        """Named arrays for ``numpy.savez`` (read back by :meth:`from_arrays`)."""
        out: dict[str, F64] = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"{prefix}.w{i}"] = w
            out[f"{prefix}.b{i}"] = b
        return out

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, F64], prefix: str = "mlp", output: Output = "identity"
    ) -> Mlp:
        weights, biases = [], []
        i = 0
        while f"{prefix}.w{i}" in arrays:
            weights.append(np.asarray(arrays[f"{prefix}.w{i}"], dtype=np.float64))
            biases.append(np.asarray(arrays[f"{prefix}.b{i}"], dtype=np.float64))
            i += 1
        if not weights:
            raise ConfigError(f"no MLP weights named {prefix}.w0 in the model file")
        return cls(tuple(weights), tuple(biases), output)


@dataclass(frozen=True, slots=True)
class Lstm:
    """One LSTM layer (torch's gate order i, f, g, o); returns the last hidden state.

    ``w_ih`` (4H, inputs), ``w_hh`` (4H, H), ``b_ih`` and ``b_hh`` (4H,), as in
    ``torch.nn.LSTM``.
    """

    w_ih: F64
    w_hh: F64
    b_ih: F64
    b_hh: F64

    @property
    def hidden(self) -> int:
        return int(self.w_hh.shape[1])

    def __call__(self, x: F64) -> F64:
        """Last hidden state (batch, H) for sequences ``x`` (batch, steps, inputs)."""
        n_hidden = self.hidden
        h = np.zeros((x.shape[0], n_hidden))
        c = np.zeros((x.shape[0], n_hidden))
        gates_x = x @ self.w_ih.T + (self.b_ih + self.b_hh)
        for t in range(x.shape[1]):
            g = gates_x[:, t] + h @ self.w_hh.T
            i = sigmoid(g[:, :n_hidden])
            f = sigmoid(g[:, n_hidden : 2 * n_hidden])
            cell = np.tanh(g[:, 2 * n_hidden : 3 * n_hidden])
            o = sigmoid(g[:, 3 * n_hidden :])
            c = f * c + i * cell
            h = o * np.tanh(c)
        return h

    def arrays(self, prefix: str = "lstm") -> dict[str, F64]:
        return {
            f"{prefix}.w_ih": self.w_ih,
            f"{prefix}.w_hh": self.w_hh,
            f"{prefix}.b_ih": self.b_ih,
            f"{prefix}.b_hh": self.b_hh,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, F64], prefix: str = "lstm") -> Lstm:
        try:
            w_ih, w_hh, b_ih, b_hh = (
                np.asarray(arrays[f"{prefix}.{k}"], dtype=np.float64)
                for k in ("w_ih", "w_hh", "b_ih", "b_hh")
            )
        except KeyError as exc:
            raise ConfigError(f"no LSTM weights {exc.args[0]} in the model file") from None
        return cls(w_ih, w_hh, b_ih, b_hh)
