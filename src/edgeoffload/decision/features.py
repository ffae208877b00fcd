"""What a decision is made from: a batch of tasks, the device, the candidate nodes.

Everything is a numpy array so that one call decides for a whole batch (a single task
is a batch of one); the real client and the simulator build the same objects, the
client from task hints and its estimators, the simulator from its model.

Shapes: ``n`` tasks, ``k`` candidate nodes. Units are SI and in the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Order of the per-task features (as in :meth:`TaskBatch.matrix`).
TASK_FEATURES = (
    "cpu_cycles",
    "mem_mb",
    "io_ops",
    "input_bytes",
    "output_bytes",
    "deadline_s",
    "priority",
)


@dataclass(frozen=True, slots=True)
class TaskBatch:
    """``n`` tasks; every field has shape (n,). ``deadline_s`` is relative (inf: none)."""

    cpu_cycles: F64
    mem_mb: F64
    io_ops: F64
    input_bytes: F64
    output_bytes: F64
    deadline_s: F64
    priority: F64

    def __len__(self) -> int:
        return int(self.cpu_cycles.shape[0])

    def matrix(self) -> F64:
        """(n, 7) matrix in :data:`TASK_FEATURES` order."""
        return np.column_stack([getattr(self, name) for name in TASK_FEATURES])

    @classmethod
    def of(cls, **columns: float | list[float] | F64) -> TaskBatch:
        """Build from scalars or sequences (missing features: 0, deadline: inf)."""
        defaults: dict[str, float | list[float] | F64] = dict.fromkeys(TASK_FEATURES, 0.0)
        defaults["deadline_s"] = np.inf
        values = {**defaults, **columns}
        n = max(np.size(v) for v in values.values())
        arrays = {
            k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()
            for k, v in values.items()
        }
        return cls(**arrays)


@dataclass(frozen=True, slots=True)
class PowerModel:
    """Device power draw in watts, and the effective switched capacitance ``kappa`` of
    its CPU (local compute energy ``kappa * f**2`` joules per cycle)."""

    kappa: float = 1e-27
    transmit_w: float = 1.3
    receive_w: float = 1.0
    idle_w: float = 0.3


@dataclass(frozen=True, slots=True)
class DeviceState:
    """The device deciding: its CPU speed (Hz), load (0..1 busy share), battery (0..1)."""

    cpu_hz: float
    load: float = 0.0
    battery: float = 1.0
    power: PowerModel = field(default_factory=PowerModel)


@dataclass(frozen=True, slots=True)
class NodeStates:
    """``k`` candidate nodes as this device sees them now; arrays of shape (k,).

    ``up_bps`` / ``down_bps`` / ``rtt_s`` are the estimated link to each node; ``queue_s``
    is the expected wait before a new task starts there (queue length times mean run
    time over cores, or the node's own report).
    """

    ids: tuple[str, ...]
    speed_hz: F64
    cores: F64
    queue_s: F64
    load: F64
    up_bps: F64
    down_bps: F64
    rtt_s: F64

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> NodeStates:
        z = np.zeros(0)
        return cls((), z, z, z, z, z, z, z)


#: Target index meaning "run on the device".
LOCAL = -1


@dataclass(frozen=True, slots=True)
class Decisions:
    """Per task: ``target`` (LOCAL or an index into the nodes), a confidence in [0, 1],
    and the expected latency (s) and device energy (J) of the chosen target."""

    target: I64
    confidence: F64
    expected_latency_s: F64
    expected_energy_j: F64

    def __len__(self) -> int:
        return int(self.target.shape[0])
