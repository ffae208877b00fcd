"""Write a run's records (CSV or Parquet) and summaries (JSON).

Records get readable ``app``, ``node``, ``outcome`` and ``reason`` columns next to the
numeric ones. Parquet needs pyarrow (the ``sim`` extra); CSV is written with the
standard library when pyarrow is missing.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .results import OUTCOME_NAMES, REASON_NAMES, SimResult

FORMATS = ("csv", "parquet")


def table(result: SimResult) -> dict[str, list[Any]]:
    """The records as named columns of plain values (task id first)."""
    r = result.records
    n = result.n_tasks
    names = [*result.node_names]
    columns: dict[str, list[Any]] = {"task": list(range(n))}
    for name, values in r.items():
        columns[name] = values.tolist()
    columns["app_name"] = [result.apps[i] for i in r["app"].tolist()]
    columns["node"] = [
        "local" if t == -1 else ("" if t < 0 else names[t]) for t in r["target"].tolist()
    ]
    columns["outcome_name"] = [OUTCOME_NAMES[o] for o in r["outcome"].tolist()]
    columns["reason_name"] = [REASON_NAMES[x] for x in r["reason"].tolist()]
    return columns


def write_records(result: SimResult, path: Path, fmt: str = "csv") -> Path:
    """Write the per-task records to ``path`` (suffix added if missing).

    Raises:
        ConfigError: unknown format, or Parquet without pyarrow.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"records format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = path.with_suffix(f".{fmt}")
    columns = table(result)
    if fmt == "parquet":
        try:
            import pyarrow as pa  # type: ignore[import-untyped]
            import pyarrow.parquet as pq  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigError(
                "Parquet output needs pyarrow (pip install 'edgeoffload[sim]')"
            ) from exc
        pq.write_table(pa.table(columns), path)
        return path
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(zip(*columns.values(), strict=True))
    return path


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
