"""The per-task table the simulator writes into while it runs.

One preallocated ``array.array`` per column (index = task id; ``d`` for floats, ``q``
for integers), grown by doubling. The event handlers read and write one element at a
time, where an ``array`` index costs about what a list index does and a fraction of a
numpy scalar access; the numpy paths (:mod:`.rounds`, :mod:`.arrivals`,
:mod:`.finishes`) read and write many elements at once through :meth:`TaskTable.view`,
a numpy array over the same memory. :meth:`TaskTable.arrays` copies the filled part out
at the end.

Every task ends exactly once (:class:`Outcome`): ``done``, ``dropped`` with a
:class:`Reason`, or ``failed`` with a reason.
"""

from __future__ import annotations

import math
from array import array
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


_INT_DYNAMIC = {
    "target",
    "attempts",
    "outcome",
    "reason",
    "input_cache_hit",
    "result_cache_hit",
    "batch",
}

#: Each column's numpy dtype.
DTYPES: dict[str, type] = {
    **STATIC,
    **{name: np.int64 if name in _INT_DYNAMIC else np.float64 for name in DYNAMIC},
}
#: A column of each dtype as an ``array`` typecode.
_TYPECODE: dict[type, str] = {np.int64: "q", np.float64: "d"}
#: Rows the table holds before its first growth.
_FIRST_CAPACITY = 1024


class TaskTable:
    """Columns as ``array.array``; see the module docstring."""

    def __init__(self) -> None:
        self.columns: dict[str, array[Any]] = {
            name: array(_TYPECODE[dtype]) for name, dtype in DTYPES.items()
        }
        for name, column in self.columns.items():
            setattr(self, name, column)
        #: Rows in use (the columns hold ``capacity`` rows).
        self.size = 0
        self.capacity = 0

    # Typed handles for the hot columns (the same arrays as in ``columns``).
    device: array[int]
    app: array[int]
    job: array[int]
    stage: array[int]
    created_s: array[float]
    cpu_cycles: array[float]
    input_bytes: array[float]
    output_bytes: array[float]
    deadline_s: array[float]
    priority: array[float]
    key: array[int]
    target: array[int]
    attempts: array[int]
    outcome: array[int]
    reason: array[int]
    decided_s: array[float]
    node_arrival_s: array[float]
    start_s: array[float]
    finish_s: array[float]
    end_s: array[float]
    energy_j: array[float]
    energy_max_freq_j: array[float]
    node_energy_j: array[float]
    node_energy_max_freq_j: array[float]
    up_bytes: array[float]
    down_bytes: array[float]
    input_cache_hit: array[int]
    result_cache_hit: array[int]
    level: array[float]
    batch: array[int]
    expected_latency_s: array[float]
    expected_energy_j: array[float]
    confidence: array[float]
    upload_end_s: array[float]
    compute_by_s: array[float]
    service_s: array[float]

    def add(self, **static: F64 | I64 | list[Any]) -> int:
        """Append tasks (every static column, equal lengths); returns the first new id."""
        first = self.size
        n = len(static["device"])
        self._reserve(first + n)
        for name in STATIC:
            self.view(name)[first : first + n] = static[name]
        self.size += n
        return first

    def _reserve(self, rows: int) -> None:
        """Room for ``rows`` rows: grow every column (at least doubling), the new rows
        at their initial values."""
        if rows <= self.capacity:
            return
        extra = max(rows - self.capacity, self.capacity, _FIRST_CAPACITY)
        for name, column in self.columns.items():
            column.extend(array(column.typecode, [DYNAMIC.get(name, 0)]) * extra)
        self.capacity += extra

    def view(self, name: str) -> np.ndarray:
        """Column ``name`` as a numpy array over the same memory (every allocated row;
        the first :attr:`size` are tasks). Use it and let it go: the table cannot grow
        while a view of it is alive."""
        return np.frombuffer(self.columns[name], dtype=DTYPES[name])

    def put(self, rows: slice | np.ndarray, **columns: Any) -> None:
        """Write ``rows`` (a slice or task ids) of each named column."""
        for name, values in columns.items():
            self.view(name)[rows] = values

    def arrays(self) -> dict[str, np.ndarray]:
        """Every column as a numpy array of :attr:`size` rows (a copy; the task id is the
        position)."""
        return {name: self.view(name)[: self.size].copy() for name in self.columns}
