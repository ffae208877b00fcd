"""``edgeoffload bench sim``: simulator speed on the stress scenario, against LEAF.

Runs, in one process pinned to one core:

1. edgeoffload's simulator on the bundled ``stress`` scenario (10,000 devices, 100
   nodes, real 4G traces, energy and DVFS, the cost-model policy; every task is decided
   and then runs on its device or goes through upload, queue, execution and download)
   for ``--duration`` simulated seconds;
2. LEAF (``leafsim``, SimPy + networkx) on a scenario of the same size and kind: the
   same 10,000 devices creating the same 10 tasks/s each, 100 edge nodes; each task is
   an application (source on the device -> processing task -> sink on the device)
   placed by a LEAF orchestrator on the least-utilised of the device's 3 candidate
   nodes (or the device when they are full), its data flows routed by LEAF's
   shortest-path search, held for its upload + execution + download time, then
   released; a LEAF power meter samples the infrastructure every simulated second, as
   in LEAF's examples. LEAF runs for ``--leaf-budget`` wall seconds (it is far slower)
   and its rate is completed applications per wall second.

Writes OUT/sim.json (``tasks_per_min``, ``tasks_per_s``, ``events_per_s``,
``scenario``, ``peer``) and the ``sim`` section of docs/performance.md.
"""

from __future__ import annotations

import os
import shlex
import time
from typing import Any

from edgeoffload.cli import Parser

from .common import core_speed, machine, update_doc_section, write_json

DEVICES, NODES, RATE_HZ, CANDIDATES = 10_000, 100, 10.0, 3


def _pin() -> int | None:
    """Run on one core (the last), so the figures are per core."""
    try:
        core = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return core
    except (AttributeError, OSError):
        return None


def run_ours(duration_s: float) -> dict[str, Any]:
    from edgeoffload.decision.policies import CostModel
    from edgeoffload.sim.scenario import load_scenario, with_overrides
    from edgeoffload.sim.simulation import Simulation

    scenario = with_overrides(load_scenario("stress"), {"duration_s": duration_s})
    start = time.perf_counter()
    sim = Simulation(scenario, CostModel())
    built = time.perf_counter()
    cpu = time.process_time()
    sim.run()
    wall = time.perf_counter() - built
    cpu = time.process_time() - cpu
    tasks = sim.tasks.size
    offloaded = sum(1 for t in sim.tasks.target if t >= 0)
    return {
        "name": "stress",
        "devices": sum(g.count for g in scenario.devices),
        "nodes": sum(g.count for g in scenario.nodes),
        "policy": "cost_model",
        "simulated_s": duration_s,
        "tasks": tasks,
        "offloaded_share": offloaded / tasks if tasks else 0.0,
        "events": sim.engine.events,
        "build_s": round(built - start, 3),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
    }


def run_leaf(budget_s: float, service_s: float = 0.03) -> dict[str, Any]:
    """LEAF on the same-size scenario (module docstring), for ``budget_s`` wall seconds."""
    import simpy
    from leaf.application import Application, ProcessingTask, SinkTask, SourceTask
    from leaf.infrastructure import Infrastructure, Link, Node
    from leaf.orchestrator import Orchestrator
    from leaf.power import PowerMeter, PowerModelLink, PowerModelNode

    core_cu = 3000.0  # one 3 GHz core, in LEAF's compute units (MIPS-like)
    infra = Infrastructure()
    edges = [
        Node(
            f"edge{i}", cu=16 * core_cu, power_model=PowerModelNode(max_power=200, static_power=60)
        )
        for i in range(NODES)
    ]
    devices = [
        Node(f"dev{i}", cu=core_cu, power_model=PowerModelNode(max_power=5, static_power=0.3))
        for i in range(DEVICES)
    ]
    for i, edge in enumerate(edges):  # a metro ring between the edge sites
        nxt = edges[(i + 1) % NODES]
        infra.add_link(
            Link(edge, nxt, bandwidth=10e9, power_model=PowerModelLink(1.6e-8), latency=1)
        )
        infra.add_link(
            Link(nxt, edge, bandwidth=10e9, power_model=PowerModelLink(1.6e-8), latency=1)
        )
    home = {}
    for d, device in enumerate(devices):  # each device on its home cell's radio
        cell = edges[d % NODES]
        home[device.name] = d % NODES
        infra.add_link(
            Link(device, cell, bandwidth=50e6, power_model=PowerModelLink(3e-7), latency=10)
        )
        infra.add_link(
            Link(cell, device, bandwidth=50e6, power_model=PowerModelLink(3e-7), latency=10)
        )

    class LeastUtilised(Orchestrator):  # type: ignore[misc]
        def _processing_task_placement(self, task: Any, application: Any) -> Any:
            source = application.tasks(SourceTask)[0].bound_node
            h = home[source.name]
            options = [edges[(h + j) % NODES] for j in range(CANDIDATES)]
            free = [n for n in options if n.used_cu + task.cu <= n.cu]
            if free:
                return min(free, key=lambda n: n.utilization())
            return source

    orchestrator = LeastUtilised(infra)
    env = simpy.Environment()
    done = [0]

    def task(device: Node) -> Any:
        app = Application()
        source = SourceTask(cu=0, bound_node=device)
        app.add_task(source)
        work = ProcessingTask(cu=core_cu)
        app.add_task(work, incoming_data_flows=[(source, 5e6)])
        app.add_task(SinkTask(cu=0, bound_node=device), incoming_data_flows=[(work, 5e4)])
        try:
            orchestrator.place(app)
        except ValueError:  # no capacity anywhere on its path: dropped
            return
        yield env.timeout(service_s)
        app.deallocate()
        done[0] += 1

    def generator(d: int) -> Any:
        yield env.timeout(d % 100 / 100 / RATE_HZ)  # spread phases, as periodic cameras
        device = devices[d]
        while True:
            env.process(task(device))
            yield env.timeout(1.0 / RATE_HZ)

    for d in range(DEVICES):
        env.process(generator(d))
    meter = PowerMeter(infra, name="infrastructure", measurement_interval=1.0)
    env.process(meter.run(env))
    start = time.perf_counter()
    cpu = time.process_time()
    step = 0.01
    until = 0.0
    while time.perf_counter() - start < budget_s:
        until += step
        env.run(until=until)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return {
        "name": "LEAF (leafsim)",
        "devices": DEVICES,
        "nodes": NODES,
        "simulated_s": round(until, 3),
        "tasks": done[0],
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "tasks_per_min": round(done[0] / wall * 60.0),
    }


def markdown(result: dict[str, Any], command: str) -> str:
    scenario, peer = result["scenario"], result["peer"]
    m = scenario["machine"]
    lines = [
        "## Simulator: stress scenario against LEAF",
        "",
        f"`{command}` on {m['cores']} cores ({m['cpu']}), Python {m['python']}, one process "
        f"pinned to core {scenario['core']}. The machine was shared: load average "
        f"{scenario['load_before']} before, {scenario['load_after']} after; a plain Python "
        f"loop ran at {scenario['calibration_mloops_per_s']} M iterations/s during the run "
        "(compare with another machine's figure before comparing speeds).",
        "",
        f"Stress scenario: {scenario['devices']:,} devices at 10 tasks/s on real 4G traces "
        f"(Ghent), {scenario['nodes']} nodes, cost-model policy, energy and DVFS; "
        f"{scenario['simulated_s']:g} simulated seconds, {scenario['tasks']:,} tasks "
        f"({100 * scenario['offloaded_share']:.0f} % offloaded: upload, queue, execution, "
        "download), every task ending done, dropped or failed.",
        "",
        "| simulator | tasks | wall s | tasks/s | tasks/min | events/s |",
        "|---|---:|---:|---:|---:|---:|",
        f"| edgeoffload | {scenario['tasks']:,} | {scenario['wall_s']} | "
        f"{result['tasks_per_s']:,} | {result['tasks_per_min']:,} | {result['events_per_s']:,} |",
    ]
    if peer.get("skipped"):
        lines += ["", f"LEAF was not run: {peer['skipped']}"]
    else:
        lines.append(
            f"| LEAF {peer.get('version', '')} (same size, same arrivals) | {peer['tasks']:,} | "
            f"{peer['wall_s']} | {round(peer['tasks_per_min'] / 60):,} | "
            f"{peer['tasks_per_min']:,} | |"
        )
        per_cpu = scenario["tasks"] / scenario["cpu_s"] / (peer["tasks"] / peer["cpu_s"])
        lines += [
            "",
            f"edgeoffload / LEAF: **{peer['ratio']}x** per wall-clock second "
            f"({per_cpu:.1f}x per CPU second; target: at least 20x). "
            f"Target for edgeoffload: 100,000 tasks/s; measured {result['tasks_per_s']:,}.",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench sim")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="simulated seconds of the stress scenario"
    )
    parser.add_argument("--leaf-budget", type=float, default=60.0, help="wall seconds to run LEAF")
    parser.add_argument("--no-leaf", action="store_true", help="skip LEAF (recorded as skipped)")
    args = parser.parse_args(argv)
    command = "edgeoffload bench sim " + shlex.join(argv) if argv else "edgeoffload bench sim"
    core = _pin()
    load_before = round(os.getloadavg()[0], 2)
    calibration = core_speed()
    ours = run_ours(args.duration)
    tasks_per_s = ours["tasks"] / ours["wall_s"]
    peer: dict[str, Any]
    if args.no_leaf:
        peer = {"name": "LEAF (leafsim)", "tasks_per_min": None, "skipped": "--no-leaf was given"}
    else:
        try:
            from importlib.metadata import version

            peer = run_leaf(args.leaf_budget)
            peer["version"] = version("leafsim")
        except ImportError as exc:
            peer = {
                "name": "LEAF (leafsim)",
                "tasks_per_min": None,
                "skipped": f"leafsim not installed ({exc})",
            }
    if peer.get("tasks_per_min"):
        peer["ratio"] = round(tasks_per_s * 60.0 / peer["tasks_per_min"], 1)
    ours.update(
        machine=machine("leafsim", "simpy", "networkx"),
        core=core,
        load_before=load_before,
        load_after=round(os.getloadavg()[0], 2),
        calibration_mloops_per_s=calibration,
        command=command,
    )
    result = {
        "tasks_per_min": round(tasks_per_s * 60.0),
        "tasks_per_s": round(tasks_per_s),
        "events_per_s": round(ours["events"] / ours["wall_s"]),
        "scenario": ours,
        "peer": peer,
    }
    write_json("sim.json", result)
    update_doc_section("performance.md", "sim", markdown(result, command))
    print(markdown(result, command))
    return 0
