"""Running an ONNX model with ONNX Runtime: one session per process, fixed thread count.

Serving needs only this module, numpy and onnxruntime (the ``ml`` extra); torch is
never imported on this path. onnxruntime is imported on first use (164 ms, measured in
MACHINE.md), so a node that serves a model module still starts in its start-up budget
and pays the import in its workers, which load the session on their first task.

Threads: each pool worker is a process, so a session uses one intra-op thread by
default; with N workers the node then uses N cores, not N x cores threads fighting for
them. Benchmarks pass the same setting to every variant they compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

#: ONNX Runtime's tensor type names -> numpy dtype names.
ORT_DTYPES: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output: name, shape (None where the dimension is dynamic), dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str


def import_onnxruntime() -> Any:
    """The onnxruntime module (imported on first use).

    Raises:
        ConfigError: it is not installed (names the extra that brings it).
    """
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigError("onnxruntime is not installed: pip install 'edgeoffload[ml]'") from exc
    return onnxruntime


def open_session(path: str | Path | bytes, threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU with ``threads`` intra-op threads.

    ``path`` may also be a serialized model (bytes).

    Raises:
        ConfigError: the file is missing or is not a model ONNX Runtime can load.
    """
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: the NCHWc/QDQ notes are not for users
    source = path if isinstance(path, bytes) else str(path)
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # pybind exceptions (InvalidProtobuf, NoSuchFile...) share no base
        where = "model" if isinstance(path, bytes) else str(path)
        raise ConfigError(f"{where}: not a model ONNX Runtime can load ({exc})") from None


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorSpec(arg.name, shape, ORT_DTYPES.get(arg.type, arg.type))


class OnnxModel:
    """An ONNX model file and its session, created on the first run (never at import).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads of the session.
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        self.path = Path(path)
        self.threads = threads
        self._session: Any = None
        self._names: tuple[list[str], str] = ([], "")

    @property
    def session(self) -> Any:
        """The ``onnxruntime.InferenceSession`` (created on first access)."""
        if self._session is None:
            session = open_session(self.path, self.threads)
            self._names = ([session.get_outputs()[0].name], session.get_inputs()[0].name)
            self._session = session
        return self._session

    @property
    def input(self) -> TensorSpec:
        """The first (data) input."""
        return _spec(self.session.get_inputs()[0])

    @property
    def output(self) -> TensorSpec:
        """The first output (scores or logits for a classifier)."""
        return _spec(self.session.get_outputs()[0])

    def run(self, x: np.ndarray) -> np.ndarray:
        """The first output for the batch ``x`` (already of the input's shape and dtype)."""
        session = self.session
        outputs, input_name = self._names
        out: np.ndarray = session.run(outputs, {input_name: x})[0]
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class labels: the argmax of the first output along its last axis."""
        labels: np.ndarray = self.run(x).argmax(axis=-1)
        return labels


_MODELS: dict[tuple[Path, int], OnnxModel] = {}


def cached_model(path: str | Path, threads: int = 1) -> OnnxModel:
    """The process's one :class:`OnnxModel` for this file and thread count.

    A task calls this on every run; the session is built on the first call in each
    worker process, then reused (building it costs milliseconds, running it microseconds).
    """
    key = (Path(path).resolve(), threads)
    model = _MODELS.get(key)
    if model is None:
        model = _MODELS[key] = OnnxModel(key[0], threads)
    return model
