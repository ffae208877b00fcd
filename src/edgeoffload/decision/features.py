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
        if all(isinstance(v, float | int) for v in values.values()):
            # NOTE: one task from scalars, the client's usual case: 7 small arrays, about
            # 20x faster than broadcasting each.
            return cls(**{k: np.array([float(v)]) for k, v in values.items()})  # type: ignore[arg-type]
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
    """The device deciding: its CPU speed (Hz), load (0..1 busy share), battery (0..1),
    and the work already queued on it: ``local_queue_s`` of local tasks ahead of a new
    one on its CPU, ``uplink_queue_s`` of uploads ahead of a new one on its radio (the
    client knows both; 0 when unknown)."""

    cpu_hz: float
    load: float = 0.0
    battery: float = 1.0
    power: PowerModel = field(default_factory=PowerModel)
    local_queue_s: float = 0.0
    uplink_queue_s: float = 0.0

    def run_s(self, cycles: float) -> float:
        """Seconds ``cycles`` take here: at the speed its load leaves free (at least
        0.1 % of it, so a fully busy device is slow, not infinitely so). One rule for
        the cost model's local option and the client's backlog of local runs."""
        return cycles / (self.cpu_hz * max(1e-3, 1.0 - self.load))


@dataclass(frozen=True, slots=True)
class NodeFeatures:
    """``k`` candidate nodes as this device sees them now, as decision features; arrays
    of shape (k,). (Whether a node is alive is the controller's ``NodeState``; this is
    what a policy weighs among the nodes it may use.)

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
    def empty(cls) -> NodeFeatures:
        z = np.zeros(0)
        return cls((), z, z, z, z, z, z, z)


#: Target index meaning "run on the device" (an index, where the client names the device
#: as a placement with the string ``client.owner.LOCAL``).
LOCAL_INDEX = -1


@dataclass(frozen=True, slots=True)
class Decisions:
    """Per task: ``target`` (LOCAL_INDEX or an index into the nodes), a confidence in [0, 1],
    and the expected latency (s) and device energy (J) of the chosen target.

    ``fallback_s``, from a policy that sets one (``risk_aware``): per task, the budget
    (s from the decision) after which an offloaded task without its result is
    abandoned and run locally (``client.ownership``'s fallback timer; ``inf``: none).
    None: no budget for any task, as every policy before it."""

    target: I64
    confidence: F64
    expected_latency_s: F64
    expected_energy_j: F64
    fallback_s: F64 | None = None

    def __len__(self) -> int:
        return int(self.target.shape[0])


#: Columns of :attr:`Context.device` (the DeviceState and its PowerModel), the same
#: order as the simulator's training records (``edgeoffload.sim.oracle``).
DEVICE_FEATURES = (
    "cpu_hz",
    "load",
    "battery",
    "kappa",
    "transmit_w",
    "receive_w",
    "idle_w",
    "local_queue_s",
    "uplink_queue_s",
)


def device_row(device: DeviceState) -> tuple[float, ...]:
    """The device's :data:`DEVICE_FEATURES`, in order."""
    p = device.power
    return (
        device.cpu_hz,
        device.load,
        device.battery,
        p.kappa,
        p.transmit_w,
        p.receive_w,
        p.idle_w,
        device.local_queue_s,
        device.uplink_queue_s,
    )


#: Columns of :attr:`Context.nodes` (the NodeFeatures of each candidate).
NODE_FEATURES = ("speed_hz", "cores", "queue_s", "load", "up_bps", "down_bps", "rtt_s")


@dataclass(frozen=True, slots=True)
class Context:
    """One decision batch as plain arrays, one row per task: the form every policy
    computes on, built from the client's objects (:meth:`of`) or from training records
    (a row per record, each with its own device and nodes).

    Attributes:
        tasks: (n, 7) in :data:`TASK_FEATURES` order.
        device: (n, 7) in :data:`DEVICE_FEATURES` order.
        nodes: (n, k, 7) in :data:`NODE_FEATURES` order; NaN rows pad absent candidates.
    """

    tasks: F64
    device: F64
    nodes: F64

    def __len__(self) -> int:
        return int(self.tasks.shape[0])

    @property
    def k(self) -> int:
        return int(self.nodes.shape[1])

    @classmethod
    def of(cls, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Context:
        """The arrays of a ``decide(tasks, device, nodes)`` call (rows share device and
        nodes: broadcast views, no copies)."""
        n = len(tasks)
        row = np.array(device_row(device))
        node_matrix = (
            np.column_stack([getattr(nodes, name) for name in NODE_FEATURES])
            if len(nodes)
            else np.zeros((0, len(NODE_FEATURES)))
        )
        return cls(
            tasks.matrix(),
            np.broadcast_to(row, (n, len(DEVICE_FEATURES))),
            np.broadcast_to(node_matrix, (n, *node_matrix.shape)),
        )

    def rows(self, index: I64 | slice) -> Context:
        """A subset of the rows."""
        return Context(self.tasks[index], self.device[index], self.nodes[index])


@dataclass(frozen=True, slots=True)
class Columns:
    """A decision batch as columns that broadcast to (n, 1 + k): what the cost model and
    the learned features compute on (:func:`~.costs.costs_of`).

    Built from a :class:`Context` (a row per task: device columns (n, 1), node columns
    (n, k)) or straight from a ``decide`` call's objects (the device as Python floats,
    node columns (k,) shared by every task: no (n, k, 7) copy, fewer operands).

    Attributes:
        tasks: 7 arrays (n, 1) in :data:`TASK_FEATURES` order.
        device: 9 floats or arrays (n, 1) in :data:`DEVICE_FEATURES` order.
        nodes: 7 arrays (k,) or (n, k) in :data:`NODE_FEATURES` order.
        n: tasks; k: candidate nodes.
    """

    tasks: tuple[F64, ...]
    device: tuple[F64 | float, ...]
    nodes: tuple[F64, ...]
    n: int
    k: int

    @classmethod
    def of(cls, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Columns:
        """The columns of a ``decide(tasks, device, nodes)`` call."""
        return cls(
            tuple(getattr(tasks, name)[:, None] for name in TASK_FEATURES),
            device_row(device),
            tuple(getattr(nodes, name) for name in NODE_FEATURES),
            len(tasks),
            len(nodes),
        )

    @classmethod
    def from_context(cls, ctx: Context) -> Columns:
        """The columns of a Context (views, no copies)."""
        t, d, nd = ctx.tasks, ctx.device, ctx.nodes
        return cls(
            tuple(t[:, j, None] for j in range(t.shape[1])),
            tuple(d[:, j, None] for j in range(d.shape[1])),
            tuple(nd[:, :, j] for j in range(nd.shape[2])),
            len(ctx),
            ctx.k,
        )
