"""Write a run's records (CSV or Parquet) and summaries (JSON).

Records get readable ``app``, ``node``, ``outcome`` and ``reason`` columns next to the
numeric ones, and are written a chunk of rows at a time. Parquet needs pyarrow (the
``sim`` extra), which writes CSV too; without it CSV is written with the standard
library.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .results import OUTCOME_NAMES, REASON_NAMES, SimResult

FORMATS = ("csv", "parquet")
#: Rows converted and written at a time: memory stays bounded for runs of millions of
#: tasks (the stress scenario's 60 s are 6 M).
CHUNK_ROWS = 200_000


def table(result: SimResult, rows: slice = slice(None)) -> dict[str, np.ndarray]:
    """The records ``rows`` as named columns (task id first), with readable app, node,
    outcome and reason names."""
    r = result.records
    columns: dict[str, np.ndarray] = {"task": np.arange(result.n_tasks)[rows]}
    for name, values in r.items():
        columns[name] = values[rows]
    target = r["target"][rows]
    nodes = np.array(["", "local", *result.node_names], dtype=object)  # from target -2
    columns["app_name"] = np.array(result.apps, dtype=object)[r["app"][rows]]
    columns["node"] = nodes[target + 2]
    columns["outcome_name"] = _names(OUTCOME_NAMES, r["outcome"][rows])
    columns["reason_name"] = _names(REASON_NAMES, r["reason"][rows])
    return columns


def _names(names: dict[int, str], codes: np.ndarray) -> np.ndarray:
    lookup = np.empty(max(names) - min(names) + 1, dtype=object)
    for code, name in names.items():
        lookup[code - min(names)] = name
    return lookup[codes - min(names)]  # type: ignore[no-any-return]


def _chunks(result: SimResult) -> Iterator[dict[str, np.ndarray]]:
    for lo in range(0, max(result.n_tasks, 1), CHUNK_ROWS):
        yield table(result, slice(lo, lo + CHUNK_ROWS))


def write_records(result: SimResult, path: Path, fmt: str = "csv") -> Path:
    """Write the per-task records to ``path`` (suffix added if missing), a chunk of
    rows at a time; with pyarrow (the ``sim`` extra) CSV goes through its writer too.

    Raises:
        ConfigError: unknown format, or Parquet without pyarrow.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"records format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = path.with_suffix(f".{fmt}")
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as exc:
        if fmt == "parquet":
            raise ConfigError(
                "Parquet output needs pyarrow (pip install 'edgeoffload[sim]')"
            ) from exc
        _write_csv(result, path)
        return path
    writer: Any = None
    try:
        for chunk in _chunks(result):
            part = pa.table(chunk)
            if writer is None:
                make = pq.ParquetWriter if fmt == "parquet" else pa_csv.CSVWriter
                writer = make(str(path), part.schema)
            writer.write_table(part)
    finally:
        if writer is not None:
            writer.close()
    return path


def _write_csv(result: SimResult, path: Path) -> None:
    """CSV with the standard library (no pyarrow)."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        for i, chunk in enumerate(_chunks(result)):
            if i == 0:
                out.writerow(chunk)
            out.writerows(zip(*(column.tolist() for column in chunk.values()), strict=True))


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def write_json(data: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2) + "\n")
    return path
