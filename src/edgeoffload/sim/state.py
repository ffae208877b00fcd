"""The shared state of one simulation: what every part of the model reads and writes.

The model's parts (the device CPU in :mod:`.device`, the radio in :mod:`.radio`, the
nodes' queues in :mod:`.node_queue`, the phases of a task's life above them) work on
one :class:`SimState`: the task table, the world (devices, nodes, links), the
per-device values that change during a run and the constants of the world as numpy
arrays. The constants are built here once, because every numpy path needs the same
ones (before, each path built its own copies).

Nothing here decides anything. The state holds no references upwards: a part that must
tell another about an event gets a callable from above (a *hook*, see :class:`Hooks`).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..decision.features import F64, I64, Decisions, DeviceState, NodeFeatures, TaskBatch
from ..decision.policies import Policy
from .engine import Engine
from .estimates import BandwidthEstimator
from .links import LinkArrays
from .options import SimOptions
from .scenario import Scenario
from .streams import Streams
from .table import Reason, TaskTable
from .world import World

#: The PowerModel's fields, as columns of :attr:`SimState.power` (and DEVICE_FEATURES).
POWER_COLUMNS = ("kappa", "transmit_w", "receive_w", "idle_w")

#: One transfer on its way to a node: (arrival time, node index, task ids).
Arrival = tuple[float, int, list[int]]


@dataclass
class Request:
    """One policy call: tasks ``first .. first+n-1`` of ``device``, with the features it
    was given and the node index of each NodeFeatures column."""

    device: int
    first: int
    n: int
    tasks: TaskBatch
    state: DeviceState
    nodes: NodeFeatures
    index: list[int]


@dataclass
class Probe:
    """Hindsight inputs taken at commit time (capture mode): what the device-side parts
    of every option would have cost given the true link and CPU state."""

    task: int
    local_wait_s: float
    up_start_s: float
    up_end_s: float


@dataclass
class Capture:
    requests: list[Request] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)


class Hooks(Protocol):
    """What the lower parts call up to when a task's life moves on (implemented by the
    phases above them, :mod:`.lifecycle`)."""

    def close(self, tid: int, at: float, outcome: int, reason: Reason = Reason.NONE) -> None:
        """The task ended (exactly once)."""

    def resubmit(self, tid: int, failed_node: int) -> None:
        """The task's node refused it or crashed: place it again."""

    def node_done(self, tid: int, node_index: int, now: float) -> None:
        """The task finished on a node (or was answered from its cache)."""


def _padded(levels: list[tuple[float, ...]] | list[list[float]]) -> F64:
    """Rows of DVFS levels padded with their last (highest) level to one width."""
    width = max((len(lv) for lv in levels), default=1)
    rows = [[*lv, *(list(lv)[-1:] * (width - len(lv)))] for lv in levels]
    return np.array(rows).reshape(len(levels), width)


class SimState:
    """One run's shared state (see the module docstring).

    The per-device values that change (battery, CPU free time, local busy time, loss
    countdown) are ``array.array`` columns for fast element access from the event
    handlers, each with a numpy view (``*_v``) for the numpy paths.
    """

    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        seed: int,
        options: SimOptions,
        world: World,
        rng: np.random.Generator,
        estimator: BandwidthEstimator,
    ) -> None:
        self.scenario = scenario
        self.policy = policy
        self.seed = seed
        self.options = options
        #: The world's generator (drawn while building it; nothing during the run).
        self.rng = rng
        #: What the run draws: arrivals, task attributes, losses (:mod:`.streams`).
        self.streams = Streams(seed, len(world.sources))
        self.engine = Engine()
        self.world = world
        self.apps = world.apps
        self.dev = dev = world.devices
        self.nodes = nodes = world.nodes
        self.tasks = TaskTable()
        self.estimator = estimator
        #: Per device: throughput samples of transfers not yet given to the estimator.
        self.samples: list[list[tuple[float, bool, float]]] = [[] for _ in range(len(dev))]
        #: Per device: transmissions left before the next loss (-1: not drawn yet).
        self.until_loss = array("q", [-1]) * len(dev)
        self.until_v = np.frombuffer(self.until_loss, dtype=np.int64)
        self.battery_v = np.frombuffer(dev.battery_j)
        self.cpu_free_v = np.frombuffer(dev.cpu_free)
        self.busy_v = np.frombuffer(dev.busy_s)
        batching = scenario.batching
        self.batching = batching.enabled
        self.window_s = batching.window_s
        self.max_items = batching.max_items
        self.header_bits = batching.header_bytes * 8.0
        self.backhaul_bps = scenario.backhaul_mbps * 1e6
        self.backhaul_rtt = scenario.backhaul_rtt_ms / 1000.0
        self.cacheable = [a.cacheable for a in self.apps]
        #: No DAG app: every task is a plain one.
        self.plain = not any(a.is_dag for a in self.apps)
        #: Nodes whose arrivals can take the plain FIFO path (when up).
        self.plain_fifo = [
            n.fifo and n.input_cache is None and n.result_cache is None for n in nodes
        ]
        self.capture = Capture() if options.capture else None
        #: Gymnasium mode (``options.external``): policy calls queued for the driver.
        self.pending: list[Request] = []
        #: Task ids closed since the owner last cleared it (``options.report_closed``).
        self.closed: list[int] | None = [] if options.report_closed else None
        #: Fallback budgets (s from creation) of offloaded tasks (``options.fallback``).
        self.fallback: dict[int, float] | None = {} if options.fallback else None
        #: Rows carried out by each numpy path (what the fast paths took; diagnostics).
        self.numpy_rows = {"rounds": 0, "arrivals": 0, "finishes": 0}
        self.uplink_saved_bytes = 0.0
        #: Node arrivals of the phase being committed (None: straight to the engine).
        self.arrivals: list[Arrival] | None = None
        # Online policies learn from outcomes: ``observe(tasks, device, nodes,
        # decisions, latency_s, energy_j)`` per policy call, once all its tasks have
        # ended (at the time the last one ended, so nothing is learnt early).
        observe = getattr(policy, "observe", None)
        self.observe: Callable[..., None] | None = observe if callable(observe) else None
        #: Tasks whose policy call the policy observes: (call, decisions, [tasks left]).
        self.watch: dict[int, tuple[Request, Decisions, list[int]]] = {}

        # -- constants as arrays (index: device, or node) --------------------------------
        width = max((len(c) for c in dev.candidates), default=0)
        #: Every device's candidate nodes as a padded matrix (-1: none).
        self.candidates: I64 = np.full((len(dev), width), -1, dtype=np.int64)
        for d, cands in enumerate(dev.candidates):
            self.candidates[d, : len(cands)] = cands
        self.cpu_hz: F64 = np.array(dev.cpu_hz)
        self.bg_load: F64 = np.array(dev.load)
        self.overhead: F64 = np.array(dev.overhead_cycles, dtype=np.float64)
        #: Whether any device has a per-run overhead / a CPU quota (else the device's
        #: rule is the plain one, bit for bit).
        self.any_overhead = bool((self.overhead > 0.0).any())
        self.quota_share: F64 = np.array(dev.quota_share, dtype=np.float64)
        self.quota_period: F64 = np.array(dev.quota_period_s, dtype=np.float64)
        self.any_quota = bool((self.quota_share < 1.0).any())
        #: Whether any device has a failure detector (:meth:`.radio.Radio.unreachable`).
        self.any_detector = any(s < float("inf") for s in dev.detector_s)
        self.quota_at_v = np.frombuffer(dev.quota_at)
        self.quota_used_v = np.frombuffer(dev.quota_used)
        self.capacity: F64 = np.array(dev.capacity_j)
        power_rows = [[getattr(p, f) for f in POWER_COLUMNS] for p in dev.power]
        self.power: F64 = np.array(power_rows).reshape(-1, len(POWER_COLUMNS))
        self.levels: F64 = _padded(dev.levels)
        self.rtt: F64 = np.array(dev.rtt_s, dtype=np.float64)
        self.loss: F64 = np.array(dev.loss, dtype=np.float64)
        self.cloud = np.array([n.tier == "cloud" for n in nodes], dtype=bool)
        self.wan_rtt: F64 = np.array([n.wan_rtt_s for n in nodes], dtype=np.float64)
        self.wan_bps: F64 = np.array([n.wan_bps for n in nodes], dtype=np.float64)
        self.inv_wan: F64 = np.array([1.0 / n.wan_bps for n in nodes], dtype=np.float64)
        self.node_levels: F64 = _padded([n.levels for n in nodes])
        self.node_speed: F64 = np.array([n.speed_hz for n in nodes], dtype=np.float64)
        self.node_kappa: F64 = np.array([n.kappa for n in nodes], dtype=np.float64)
        # The scalar code's per-node factors, computed the same way.
        self.kappa_ss: F64 = np.array([n.kappa * n.speed_hz * n.speed_hz for n in nodes])
        self.kappa_s2: F64 = np.array([n.kappa * n.speed_hz**2 for n in nodes])
        self.max_cores = max((n.cores for n in nodes), default=1)
        self._uplinks: LinkArrays | None = None
        self._downlinks: LinkArrays | None = None

    def uplinks(self) -> LinkArrays:
        """The devices' uplinks as arrays (built at first use: from then on the links'
        state lives in the arrays)."""
        if self._uplinks is None:
            self._uplinks = LinkArrays(self.dev.up)
        return self._uplinks

    def downlinks(self) -> LinkArrays:
        """The devices' downlinks as arrays (as :meth:`uplinks`)."""
        if self._downlinks is None:
            self._downlinks = LinkArrays(self.dev.down)
        return self._downlinks

    def has_uplinks(self) -> bool:
        """Whether :meth:`uplinks` has been built (the links' state is then there)."""
        return self._uplinks is not None
