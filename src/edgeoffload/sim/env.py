"""A Gymnasium environment: one offloading decision per step, in the simulator.

Each step presents one task as its device saw it when deciding (the same features the
decision engine's policies get) and takes where to run it: action 0 is the device,
action ``i`` the device's ``i``-th candidate node (its home node first, then the next
ones, the cloud last). The simulator runs until the next decision is due; the reward is
minus the cost of the tasks that ended meanwhile::

    reward = -sum(latency_weight * latency_s + energy_weight * energy_j
                  + miss_penalty * [deadline missed, dropped or failed])

(rewards are delayed: a task's cost arrives when it ends, as it would in the field).
An episode is one run of the scenario, to its end. Resubmissions after a crash and the
later stages of task graphs are decided by ``fallback`` (the scenario's policy).

Observation: a float32 vector, each feature scaled to a few units (``log10(1 + x)``
for sizes, rates and times; shares and battery as they are):

- the task's 7 features (TASK_FEATURES), the device's 7 (DEVICE_FEATURES),
- per candidate node: 1 if it is up and usable, then its 7 features (NODE_FEATURES);
  zeros for a node that is down.

An action naming a node that is down runs the task on the device.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..decision.features import LOCAL_INDEX, Decisions
from ..decision.registry import resolve
from .options import SimOptions
from .runner import as_scenario
from .scenario import Scenario, from_dict
from .simulation import Simulation
from .state import Request
from .table import Outcome

TASK_DIM = 7
DEVICE_DIM = 7
NODE_DIM = 8  # availability flag + NODE_FEATURES


def default_spec() -> dict[str, Any]:
    """The document of :func:`default_scenario`, a fresh copy each call, to change before
    building (``examples/sim_train_rl.py`` makes it busier)."""
    return {
        "name": "env_default",
        "duration_s": 60.0,
        "seed": 0,
        "view_interval_s": 1.0,
        "view_phases": 2,
        "apps": {
            "frame": {
                "cpu_cycles": {"dist": "lognormal", "median": 4e8, "sigma": 0.4},
                "input_bytes": {"dist": "lognormal", "median": 6e4, "sigma": 0.5},
                "output_bytes": 500,
                "deadline_s": 0.5,
            }
        },
        "devices": [
            {
                "count": 6,
                "cpu_hz": {"dist": "uniform", "low": 1e9, "high": 2.5e9},
                "load": {"dist": "uniform", "low": 0.0, "high": 0.5},
                "battery_j": 2000.0,
                "power": {"kappa": 1e-28},
                "link": {"dataset": "ghent_4g", "uplink_scale": 0.4, "rtt_ms": 30},
                "workload": [{"app": "frame", "arrivals": {"process": "poisson", "rate_hz": 2}}],
            }
        ],
        "nodes": [{"count": 2, "cores": 2, "speed_hz": 3e9}],
        "cloud": {"cores": 16, "wan_rtt_ms": 60, "wan_mbps": 200},
    }


def default_scenario() -> Scenario:
    """A small world for training: 6 devices on real 4G traces, 2 nodes and a cloud,
    a vision task with a deadline, 60 s per episode."""
    return from_dict(default_spec())


def _log(x: float) -> float:
    return math.log10(1.0 + max(0.0, x)) if math.isfinite(x) else 6.0


class OffloadEnv(gym.Env[np.ndarray, np.int64]):
    """See the module docstring.

    Args:
        scenario: a Scenario, a file or a bundled name (default :func:`default_scenario`).
        latency_weight, energy_weight, miss_penalty: the reward's weights.
        fallback: policy for decisions the agent does not make.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Env declares it so)

    def __init__(
        self,
        scenario: Scenario | str | None = None,
        *,
        latency_weight: float = 1.0,
        energy_weight: float = 0.5,
        miss_penalty: float = 1.0,
        fallback: str = "cost_model",
    ) -> None:
        self.scenario = as_scenario(scenario) if scenario is not None else default_scenario()
        self.weights = (latency_weight, energy_weight, miss_penalty)
        self.fallback = fallback
        probe = Simulation(self.scenario, resolve(fallback))
        self.k = max((len(c) for c in probe.dev.candidates), default=0)
        self.action_space = spaces.Discrete(1 + self.k)
        self._size = TASK_DIM + DEVICE_DIM + NODE_DIM * self.k
        self.observation_space = spaces.Box(-1.0, 30.0, shape=(self._size,), dtype=np.float32)
        self.sim: Simulation | None = None
        self._request: Request | None = None
        self._row = 0
        self._actions: list[int] = []

    # -- gymnasium API ------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        sim_seed = int(self.np_random.integers(2**31)) if seed is not None else self.scenario.seed
        modes = SimOptions(external=True, report_closed=True)
        self.sim = Simulation(self.scenario, resolve(self.fallback), seed=sim_seed, options=modes)
        self.sim.start()
        self._request = None
        self._advance()
        return self._observation(), {}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        sim = self.sim
        if sim is None or self._request is None:
            raise RuntimeError("call reset() first (or the episode has ended)")
        self._actions.append(int(action))
        self._row += 1
        if self._row == self._request.n:
            self._commit()
            self._request = None
            self._advance()
        reward = self._reward()
        terminated = self._request is None
        return self._observation(), reward, terminated, False, {"tasks": sim.tasks.size}

    # -- internals ----------------------------------------------------------------------

    def _advance(self) -> None:
        """Run the simulation until a decision is due (or it ends)."""
        sim = self.sim
        assert sim is not None
        while not sim.pending:
            stopped = sim.engine.run()
            if not stopped and not sim.pending:
                return
        self._request = sim.pending.pop(0)
        self._row = 0
        self._actions = []

    def _commit(self) -> None:
        sim, request = self.sim, self._request
        assert sim is not None and request is not None
        candidates = sim.dev.candidates[request.device]
        targets = []
        for action in self._actions:
            node = candidates[action - 1] if 1 <= action <= len(candidates) else None
            targets.append(request.index.index(node) if node in request.index else LOCAL_INDEX)
        n = request.n
        nan = np.full(n, np.nan)
        sim.commit(request, Decisions(np.array(targets, dtype=np.int64), nan, nan, nan))

    def _reward(self) -> float:
        sim = self.sim
        assert sim is not None and sim.closed is not None
        w_t, w_e, miss = self.weights
        t = sim.tasks
        total = 0.0
        for tid in sim.closed:
            ok = t.outcome[tid] == int(Outcome.DONE)
            latency = t.end_s[tid] - t.created_s[tid]
            total += w_e * t.energy_j[tid]
            if ok:
                total += w_t * latency
            if not ok or latency > t.deadline_s[tid]:
                total += miss
        sim.closed.clear()
        return -total

    def _observation(self) -> np.ndarray:
        out = np.zeros(self._size, dtype=np.float32)
        request = self._request
        if request is None:
            return out
        j = self._row
        tasks = request.tasks
        out[0] = _log(tasks.cpu_cycles[j] / 1e6)
        out[1] = _log(tasks.mem_mb[j])
        out[2] = _log(tasks.io_ops[j])
        out[3] = _log(tasks.input_bytes[j] / 1e3)
        out[4] = _log(tasks.output_bytes[j] / 1e3)
        out[5] = _log(min(tasks.deadline_s[j], 1e4) * 1e3)
        out[6] = tasks.priority[j] / 1000.0
        s = request.state
        p = s.power
        out[7:14] = (
            _log(s.cpu_hz / 1e6),
            s.load,
            s.battery,
            _log(p.kappa * 1e30),
            _log(p.transmit_w),
            _log(p.receive_w),
            _log(p.idle_w),
        )
        assert self.sim is not None
        nodes = request.nodes
        for i, node in enumerate(self.sim.dev.candidates[request.device]):
            if node not in request.index:
                continue
            c = request.index.index(node)
            base = TASK_DIM + DEVICE_DIM + NODE_DIM * i
            out[base : base + NODE_DIM] = (
                1.0,
                _log(nodes.speed_hz[c] / 1e6),
                _log(nodes.cores[c]),
                _log(nodes.queue_s[c] * 1e3),
                nodes.load[c],
                _log(nodes.up_bps[c] / 1e3),
                _log(nodes.down_bps[c] / 1e3),
                _log(nodes.rtt_s[c] * 1e3),
            )
        return out


#: ``gymnasium.make(ENV_ID)`` builds an :class:`OffloadEnv` (keyword arguments pass
#: through, e.g. ``scenario="smart_city"``) once this module is imported.
ENV_ID = "edgeoffload/Offload-v0"
#: The same without importing anything first: Gymnasium 1.x removed the ``gymnasium.envs``
#: entry-point plugins (so a package can no longer register on Gymnasium's import), and
#: its ``"module:id"`` form imports the module that registers the id.
GYM_MAKE_ID = f"edgeoffload.sim.env:{ENV_ID}"
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="edgeoffload.sim.env:OffloadEnv")
