"""Trained models that ship with the package, and how to run ONNX models.

The one bundled file is ``digits_cnn.onnx`` (about 150 KB): a small CNN trained on the
scikit-learn handwritten digits, served by :mod:`edgeoffload.examples.vision`. Larger
models are rebuilt by ``edgeoffload compress --build-models DIR`` (needs the ``train``
extra) instead of being stored in the repository: see docs/compression.md.

Nothing here imports onnxruntime at import time; :mod:`.runtime` does so when a model
is first run.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

#: Bundled model name -> file name in this package.
BUNDLED: dict[str, str] = {"digits_cnn": "digits_cnn.onnx"}


def bundled(name: str) -> Path:
    """The path of a bundled model file.

    Raises:
        ConfigError: no bundled model has that name, or its file is missing.
    """
    if name not in BUNDLED:
        raise ConfigError(f"no bundled model {name!r} (bundled: {', '.join(sorted(BUNDLED))})")
    path = Path(__file__).resolve().parent / BUNDLED[name]
    if not path.exists():
        raise ConfigError(f"bundled model file missing: {path} (run `make models`)")
    return path
