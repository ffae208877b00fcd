"""A model folder: ``meta.json`` (what it is, feature names and order, scaler, metrics),
``weights.npz`` (the numpy fast path) and ``model.onnx`` (the same network for
onnxruntime). Reading checks everything a runtime needs and says what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError

F64 = NDArray[np.float64]
META = "meta.json"
WEIGHTS = "weights.npz"
ONNX = "model.onnx"


def package_version() -> str:
    from .._version import __version__

    return __version__


@dataclass
class ModelFiles:
    """What a model folder holds, in memory.

    Attributes:
        kind: what the model is, e.g. ``"bandwidth_gru"`` or ``"policy_mlp"``.
        meta: JSON-able facts: ``features`` (names, in order), ``scaler``, ``metrics``...
        arrays: named weight arrays (``numpy.savez``).
    """

    kind: str
    meta: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, F64] = field(default_factory=dict)

    def save(self, folder: str | Path, onnx_bytes: bytes | None = None) -> Path:
        """Write the folder (created if needed); returns its path."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"kind": self.kind, "package_version": package_version(), **self.meta}
        (path / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        np.savez(path / WEIGHTS, **self.arrays)  # type: ignore[arg-type]
        if onnx_bytes:
            (path / ONNX).write_bytes(onnx_bytes)
        return path

    @classmethod
    def load(cls, folder: str | Path, kind: str | tuple[str, ...] | None = None) -> ModelFiles:
        """Read a folder written by :meth:`save`.

        Raises:
            ConfigError: the folder, its meta.json or weights.npz is missing or unreadable,
                or it holds another kind of model than ``kind``.
        """
        path = Path(folder)
        if not path.is_dir():
            raise ConfigError(f"model folder not found: {path}")
        try:
            meta = json.loads((path / META).read_text())
        except FileNotFoundError:
            raise ConfigError(f"model folder {path} has no {META}") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model folder {path}: cannot read {META}: {exc}") from exc
        if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str):
            raise ConfigError(f"model folder {path}: {META} has no 'kind'")
        wanted = (kind,) if isinstance(kind, str) else kind
        if wanted is not None and meta["kind"] not in wanted:
            raise ConfigError(
                f"model folder {path} holds a {meta['kind']!r} model, not {' or '.join(wanted)}"
            )
        try:
            with np.load(path / WEIGHTS) as npz:
                arrays = {name: np.asarray(npz[name], dtype=np.float64) for name in npz.files}
        except FileNotFoundError:
            raise ConfigError(f"model folder {path} has no {WEIGHTS}") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model folder {path}: cannot read {WEIGHTS}: {exc}") from exc
        kind_name = str(meta.pop("kind"))
        return cls(kind_name, meta, arrays)

    def array(self, name: str) -> F64:
        """A named array, or a ConfigError naming it."""
        try:
            return self.arrays[name]
        except KeyError:
            raise ConfigError(f"{self.kind} model has no array {name!r}") from None


@dataclass(frozen=True, slots=True)
class Scaler:
    """Standardisation fitted on training data: ``(x - mean) / scale``."""

    mean: F64
    scale: F64

    @classmethod
    def fit(cls, x: F64) -> Scaler:
        sd = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(sd > 1e-12, sd, 1.0))

    def __call__(self, x: F64) -> F64:
        return (x - self.mean) / self.scale

    def arrays(self, prefix: str = "scaler") -> dict[str, F64]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.scale": self.scale}

    @classmethod
    def from_files(cls, files: ModelFiles, prefix: str = "scaler") -> Scaler:
        return cls(files.array(f"{prefix}.mean"), files.array(f"{prefix}.scale"))
