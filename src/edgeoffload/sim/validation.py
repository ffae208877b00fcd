"""The simulator checked against closed forms: M/M/1 and M/M/c queues, Kumar and Lu's
offloading energy condition, and conservation of tasks.

Each check builds a scenario in Python, runs the ordinary simulator on it, and returns
what it measured next to what theory says; the tests assert on these, and
``edgeoffload sim validate`` prints them (the table in ``docs/simulator.md``).

- **M/M/c**: Poisson arrivals (rate ``lambda``) at one node with ``c`` cores and
  exponential service (rate ``mu``), reached over an instant link. The mean wait in
  queue is Erlang's C formula over ``c mu - lambda`` (``rho / (mu - lambda)`` for c = 1).
  The sample mean's relative standard error is about ``sqrt(21 / jobs)`` at rho = 0.3
  (Whitt's asymptotic variance of M/M/1 waits), so a 2 % check needs about a million
  jobs to be safe by several standard errors.
- **Kumar and Lu (2010)**: offloading ``C`` cycles with ``D`` bytes of input saves
  device energy iff ``P_c C / M > P_i C / S + P_tr D / B`` (compute power and speed of
  the device, idle power while the server of speed ``S`` computes, transmit power over
  bandwidth ``B``). Here ``P_c / M = kappa f**2``, the decision engine's energy per local
  cycle. The check runs one task at a time (no queueing, no RTT, no output) under
  always-local and always-edge and compares each task's energy with both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..decision.policies import AlwaysEdge, AlwaysLocal
from .distributions import Exponential
from .scenario import (
    AppSpec,
    ArrivalSpec,
    BatchingSpec,
    DeviceGroup,
    DevicePower,
    LinkSpec,
    NodeGroup,
    Scenario,
    WorkloadSpec,
    validate,
)
from .simulation import Simulation
from .table import Outcome


def erlang_c_wait(arrival_hz: float, service_hz: float, cores: int) -> float:
    """Mean wait in queue of M/M/c (Erlang C over ``c mu - lambda``)."""
    a = arrival_hz / service_hz
    if a >= cores:
        return math.inf
    top = a**cores / math.factorial(cores) * cores / (cores - a)
    waiting = top / (sum(a**k / math.factorial(k) for k in range(cores)) + top)
    return waiting / (cores * service_hz - arrival_hz)


def mmc_scenario(
    arrival_hz: float, service_hz: float, cores: int, jobs: int, seed: int = 0
) -> Scenario:
    """One device sending Poisson jobs with exponential work to one ``cores``-core node
    over an instant link (no bytes, no RTT), decided in long view intervals."""
    return validate(
        Scenario(
            name=f"mm{cores}",
            duration_s=jobs / arrival_hz,
            seed=seed,
            apps={
                "job": AppSpec(
                    cpu_cycles=Exponential(mean=1e9 / service_hz), input_bytes=0.0, output_bytes=0.0
                )
            },
            devices=[
                DeviceGroup(
                    count=1,
                    link=LinkSpec(constant_mbps=1e3, rtt_ms=0.0),
                    workload=[
                        WorkloadSpec(
                            app="job", arrivals=ArrivalSpec(process="poisson", rate_hz=arrival_hz)
                        )
                    ],
                )
            ],
            nodes=[NodeGroup(cores=cores, speed_hz=1e9)],
            batching=BatchingSpec(enabled=False, header_bytes=0.0),
            view_interval_s=max(1.0, 100.0 / arrival_hz),
            view_phases=1,
        )
    )


@dataclass(frozen=True)
class QueueCheck:
    cores: int
    arrival_hz: float
    service_hz: float
    jobs: int
    measured_wait_s: float
    theory_wait_s: float

    @property
    def relative_error(self) -> float:
        return self.measured_wait_s / self.theory_wait_s - 1.0


def mmc_check(
    arrival_hz: float, service_hz: float, cores: int, jobs: int, seed: int = 0
) -> QueueCheck:
    """Simulate M/M/c and measure the mean wait (node start minus node arrival)."""
    sim = Simulation(mmc_scenario(arrival_hz, service_hz, cores, jobs, seed), AlwaysEdge())
    sim.run()
    t = sim.tasks
    table = t.arrays()
    start, arrival = table["start_s"], table["node_arrival_s"]
    return QueueCheck(
        cores,
        arrival_hz,
        service_hz,
        t.size,
        float(np.mean(start - arrival)),
        erlang_c_wait(arrival_hz, service_hz, cores),
    )


@dataclass(frozen=True)
class EnergyCheck:
    cycles: float
    input_bytes: float
    local_j: float  # measured per task
    offload_j: float
    local_theory_j: float  # kappa f^2 C
    offload_theory_j: float  # P_i C / S + P_tr D / B

    @property
    def offload_saves(self) -> bool:
        return self.offload_j < self.local_j

    @property
    def theory_says_offload_saves(self) -> bool:
        return self.offload_theory_j < self.local_theory_j


def kumar_lu_check(
    cycles: float,
    input_bytes: float,
    *,
    device_hz: float = 1e9,
    node_hz: float = 4e9,
    bandwidth_mbps: float = 10.0,
    power: DevicePower | None = None,
    tasks: int = 20,
) -> EnergyCheck:
    """Per-task device energy of one task kind run locally and offloaded, next to the
    closed forms (module docstring)."""
    power = power or DevicePower(kappa=1e-27, transmit_w=1.3, receive_w=1.0, idle_w=0.3)
    local_s = cycles / device_hz
    transfer_s = input_bytes * 8.0 / (bandwidth_mbps * 1e6)
    gap = 10.0 * (local_s + transfer_s + cycles / node_hz)  # one task at a time
    scenario = validate(
        Scenario(
            name="kumar_lu",
            duration_s=gap * tasks,
            apps={"job": AppSpec(cpu_cycles=cycles, input_bytes=input_bytes, output_bytes=0.0)},
            devices=[
                DeviceGroup(
                    cpu_hz=device_hz,
                    power=power,
                    link=LinkSpec(constant_mbps=bandwidth_mbps, rtt_ms=0.0),
                    workload=[
                        WorkloadSpec(
                            app="job", arrivals=ArrivalSpec(process="periodic", rate_hz=1.0 / gap)
                        )
                    ],
                )
            ],
            nodes=[NodeGroup(cores=1, speed_hz=node_hz)],
            batching=BatchingSpec(enabled=False, header_bytes=0.0),
        )
    )
    measured = []
    for policy in (AlwaysLocal(), AlwaysEdge()):
        sim = Simulation(scenario, policy)
        sim.run()
        table = sim.tasks.arrays()
        energy = table["energy_j"]
        assert np.all(table["outcome"] == int(Outcome.DONE))
        measured.append(float(energy.mean()))
    return EnergyCheck(
        cycles,
        input_bytes,
        measured[0],
        measured[1],
        power.kappa * device_hz**2 * cycles,
        power.idle_w * cycles / node_hz
        + power.transmit_w * input_bytes * 8.0 / (bandwidth_mbps * 1e6),
    )


def conservation(records: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every task ended exactly once (the simulator refuses a second end outright):
    counts by outcome, and tasks without an outcome or with a wrong reason."""
    outcome = records["outcome"]
    reason = records["reason"]
    done = outcome == int(Outcome.DONE)
    return {
        "tasks": int(outcome.size),
        "done": int(done.sum()),
        "dropped": int((outcome == int(Outcome.DROPPED)).sum()),
        "failed": int((outcome == int(Outcome.FAILED)).sum()),
        "unended": int((outcome == int(Outcome.PENDING)).sum()),
        "done_with_reason": int((done & (reason != 0)).sum()),
        "not_done_without_reason": int(
            (~done & (outcome != int(Outcome.PENDING)) & (reason == 0)).sum()
        ),
        "end_before_creation": int((records["end_s"] < records["created_s"]).sum()),
    }
