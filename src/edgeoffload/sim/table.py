"""The per-task table the simulator writes into while it runs.

One Python list per column, index = task id, grown a view interval at a time (``add``
extends every column at once from numpy arrays). Lists rather than numpy arrays because
the event handlers read and write one element at a time, where a list index costs a
fraction of a numpy scalar access; :meth:`TaskTable.arrays` converts once at the end.

Every task ends exactly once (:class:`Outcome`): ``done``, ``dropped`` with a
:class:`Reason`, or ``failed`` with a reason.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Any

import numpy as np

from ..decision.features import F64, I64


class Outcome(IntEnum):
    PENDING = -1
    DONE = 0
    DROPPED = 1
    FAILED = 2


class Reason(IntEnum):
    NONE = 0
    #: Could not start before its deadline (the node never starts such a task).
    DEADLINE_EXPIRED = 1
    #: Created after its device's battery ran out.
    BATTERY_EMPTY = 2
    #: Placed ``max_attempts`` times (crashes, refusals) without an answer.
    MAX_ATTEMPTS = 3
    #: A transfer was lost more than ``max_retries`` times.
    LINK_LOST = 4


#: Columns set when a task is created, and their numpy dtypes.
STATIC: dict[str, type] = {
    "device": np.int64,
    "app": np.int64,
    "job": np.int64,
    "stage": np.int64,
    "created_s": np.float64,
    "cpu_cycles": np.float64,
    "mem_mb": np.float64,
    "io_ops": np.float64,
    "input_bytes": np.float64,
    "output_bytes": np.float64,
    "deadline_s": np.float64,
    "priority": np.float64,
    "key": np.int64,
}

NAN = math.nan
INF = math.inf

#: Columns filled in as the task goes, with their initial values.
DYNAMIC: dict[str, Any] = {
    "target": -2,  # -2 undecided, -1 local, else the node's index
    "attempts": 0,
    "outcome": int(Outcome.PENDING),
    "reason": int(Reason.NONE),
    "decided_s": NAN,
    "node_arrival_s": NAN,
    "start_s": NAN,  # compute start (device or node)
    "finish_s": NAN,  # compute end
    "end_s": NAN,  # result at the device (or the drop/failure time)
    "energy_j": 0.0,  # device energy
    "energy_max_freq_j": 0.0,  # the same at maximum device frequency
    "node_energy_j": 0.0,  # node dynamic energy
    "node_energy_max_freq_j": 0.0,
    "up_bytes": 0.0,  # over the device's uplink, its share of headers included
    "down_bytes": 0.0,
    "input_cache_hit": 0,
    "result_cache_hit": 0,
    "level": NAN,  # DVFS frequency level it ran at
    "batch": 0,  # tasks in the transfer that carried it
    "expected_latency_s": NAN,  # what the policy expected
    "expected_energy_j": NAN,
    "confidence": NAN,
    "upload_end_s": NAN,
    "compute_by_s": INF,
    "service_s": NAN,
}


def _by_value(columns: dict[str, Any]) -> list[tuple[list[str], Any]]:
    """Column names grouped by initial value (``0`` and ``0.0`` apart)."""
    groups: dict[tuple[type, str], tuple[list[str], Any]] = {}
    for name, default in columns.items():
        groups.setdefault((type(default), repr(default)), ([], default))[0].append(name)
    return list(groups.values())


#: The DYNAMIC columns by initial value (``add`` makes one fill list per value).
_DEFAULTS = _by_value(DYNAMIC)


def _as_list(values: np.ndarray) -> list[Any]:
    """``values.tolist()``; a column of one value (bit for bit) as ``[value] * n``,
    which costs a fraction."""
    if values.size > 1 and values.dtype in (np.float64, np.int64):
        bits = values.view(np.int64)
        if bits[0] == bits[-1] and not (bits != bits[0]).any():
            return [values[0].item()] * values.size
    return values.tolist()  # type: ignore[no-any-return]


_INT_DYNAMIC = {
    "target",
    "attempts",
    "outcome",
    "reason",
    "input_cache_hit",
    "result_cache_hit",
    "batch",
}


class TaskTable:
    """Columns as lists; see the module docstring."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in (*STATIC, *DYNAMIC)}
        for name, column in self.columns.items():
            setattr(self, name, column)
        self.size = 0

    # Typed handles for the hot columns (the same lists as in ``columns``).
    device: list[int]
    app: list[int]
    job: list[int]
    stage: list[int]
    created_s: list[float]
    cpu_cycles: list[float]
    input_bytes: list[float]
    output_bytes: list[float]
    deadline_s: list[float]
    priority: list[float]
    key: list[int]
    target: list[int]
    attempts: list[int]
    outcome: list[int]
    reason: list[int]
    decided_s: list[float]
    node_arrival_s: list[float]
    start_s: list[float]
    finish_s: list[float]
    end_s: list[float]
    energy_j: list[float]
    energy_max_freq_j: list[float]
    node_energy_j: list[float]
    node_energy_max_freq_j: list[float]
    up_bytes: list[float]
    down_bytes: list[float]
    input_cache_hit: list[int]
    result_cache_hit: list[int]
    level: list[float]
    batch: list[int]
    expected_latency_s: list[float]
    expected_energy_j: list[float]
    confidence: list[float]
    upload_end_s: list[float]
    compute_by_s: list[float]
    service_s: list[float]

    def add(self, **static: F64 | I64 | list[Any]) -> int:
        """Append tasks (every static column, equal lengths); returns the first new id."""
        first = self.size
        n = len(static["device"])
        columns = self.columns
        for name in STATIC:
            values = static[name]
            columns[name].extend(_as_list(values) if isinstance(values, np.ndarray) else values)
        for names, default in _DEFAULTS:
            fill = [default] * n
            for name in names:
                columns[name].extend(fill)
        self.size += n
        return first

    def arrays(self) -> dict[str, np.ndarray]:
        """Every column as a numpy array (the task id is the position)."""
        out: dict[str, np.ndarray] = {}
        for name, column in self.columns.items():
            dtype = STATIC.get(name) or (np.int64 if name in _INT_DYNAMIC else np.float64)
            out[name] = np.asarray(column, dtype=dtype)
        return out
