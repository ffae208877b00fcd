"""The simulation model: conservation, determinism, batching, caching, DVFS, failures,
priorities, batteries, loss, the cloud and task graphs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from edgeoffload.decision.features import Decisions, DeviceState, NodeFeatures, TaskBatch
from edgeoffload.decision.policies import AlwaysEdge, AlwaysLocal, CostModel
from edgeoffload.errors import InvalidState
from edgeoffload.sim import run, summarize
from edgeoffload.sim.results import SimResult
from edgeoffload.sim.scenario import load_scenario, with_overrides
from edgeoffload.sim.simulation import Simulation
from edgeoffload.sim.table import Outcome, Reason
from edgeoffload.sim.validation import conservation

from .conftest import small

DONE = int(Outcome.DONE)


def simulate(scenario, policy=None, seed=None) -> SimResult:  # type: ignore[no-untyped-def]
    sim = Simulation(scenario, policy or CostModel(), seed=seed)
    sim.run()
    return SimResult.of(sim)


def assert_conserved(result: SimResult) -> None:
    c = conservation(result.records)
    assert c["unended"] == 0
    assert c["done_with_reason"] == 0
    assert c["not_done_without_reason"] == 0
    assert c["end_before_creation"] == 0
    assert c["done"] + c["dropped"] + c["failed"] == c["tasks"]


def test_periodic_arrivals_create_exactly_the_expected_tasks() -> None:
    result = simulate(small(), AlwaysLocal())
    assert result.n_tasks == 8 * 5 * 20
    per_device = np.bincount(result.records["device"])
    assert per_device.tolist() == [100] * 8
    assert_conserved(result)


@pytest.mark.parametrize("name", ["manufacturing", "smart_city", "ultrasound"])
def test_bundled_scenarios_conserve_tasks(name: str) -> None:
    scenario = with_overrides(load_scenario(name), {"duration_s": 40.0})
    result = simulate(scenario)
    assert result.n_tasks > 0
    assert_conserved(result)


def test_same_seed_same_numbers_and_another_seed_differs() -> None:
    scenario = small()
    a, b = simulate(scenario), simulate(scenario)
    for column, values in a.records.items():
        np.testing.assert_array_equal(values, b.records[column], err_msg=column)
    c = simulate(scenario, seed=99)
    assert not np.array_equal(a.records["created_s"], c.records["created_s"])


def test_policies_see_the_same_world_and_workload() -> None:
    scenario = small()
    local, edge = simulate(scenario, AlwaysLocal()), simulate(scenario, AlwaysEdge())
    for column in ("device", "created_s", "cpu_cycles", "input_bytes", "deadline_s"):
        np.testing.assert_array_equal(local.records[column], edge.records[column])
    assert local.link_name == edge.link_name
    assert (local.records["target"] == -1).all()
    assert (edge.records["target"] >= 0).all()


def test_local_energy_and_dvfs_follow_the_deadline() -> None:
    loose = small(
        apps={"f": {"cpu_cycles": 1e8, "deadline_s": 10.0}},
        devices=[
            {
                "count": 1,
                "cpu_hz": 1e9,
                "dvfs_levels": [0.5, 1.0],
                "power": {"kappa": 1e-27},
                "workload": [{"app": "f", "arrivals": {"process": "periodic", "rate_hz": 1}}],
            }
        ],
    )
    r = simulate(loose, AlwaysLocal()).records
    # 0.2 s at half speed fits 10 s: energy kappa (f/2)^2 C = a quarter of full speed.
    assert (r["level"] == 0.5).all()
    np.testing.assert_allclose(r["energy_j"], 1e-27 * (0.5e9) ** 2 * 1e8)
    np.testing.assert_allclose(r["energy_max_freq_j"], 4 * r["energy_j"])
    np.testing.assert_allclose(r["latency_s"], 0.2)
    tight = with_overrides(loose, {"apps.f.deadline_s": 0.15})
    r = simulate(tight, AlwaysLocal()).records
    assert (r["level"] == 1.0).all()
    np.testing.assert_allclose(r["latency_s"], 0.1)


def test_offloaded_energy_follows_the_cost_model_terms() -> None:
    scenario = small(
        apps={"f": {"cpu_cycles": 3e9, "input_bytes": 1.25e5, "output_bytes": 0.0}},
        devices=[
            {
                "count": 1,
                "link": {"constant_mbps": 10, "rtt_ms": 40},
                "power": {"transmit_w": 2.0, "receive_w": 1.0, "idle_w": 0.5},
                "workload": [{"app": "f", "arrivals": {"process": "periodic", "rate_hz": 0.2}}],
            }
        ],
        nodes=[{"cores": 1, "speed_hz": 3e9}],
        batching={"enabled": False, "header_bytes": 0},
    )
    r = simulate(scenario, AlwaysEdge()).records
    # Upload 1 Mbit at 10 Mbit/s = 0.1 s; RTT 0.04 s; compute 1 s.
    np.testing.assert_allclose(r["latency_s"], 0.1 + 0.04 + 1.0)
    np.testing.assert_allclose(r["energy_j"], 2.0 * 0.1 + 0.5 * (0.04 + 1.0))


def test_batching_joins_tasks_created_together() -> None:
    base = small(
        devices=[
            {
                "count": 4,
                "link": {"constant_mbps": 50},
                "workload": [
                    {"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 2, "burst": 4}}
                ],
            }
        ]
    )
    on = summarize(simulate(base, AlwaysEdge()))
    off = summarize(simulate(with_overrides(base, {"batching.enabled": False}), AlwaysEdge()))
    assert on["tasks_per_transfer"] == pytest.approx(4.0)
    assert off["tasks_per_transfer"] == pytest.approx(1.0)
    assert on["header_bytes_saved"] == pytest.approx(on["tasks"] * 3 / 4 * 66)
    assert off["header_bytes_saved"] == 0
    assert on["uplink_bytes"] < off["uplink_bytes"]


def test_input_and_result_caches_save_bytes_and_work() -> None:
    scenario = small(
        apps={
            "q": {
                "cpu_cycles": 1e8,
                "input_bytes": 1e5,
                "output_bytes": 100,
                "cacheable": True,
                "catalog": 20,
                "zipf_s": 1.0,
            }
        },
        devices=[
            {
                "count": 4,
                "link": {"constant_mbps": 50},
                "nodes_per_device": 1,
                "workload": [{"app": "q", "arrivals": {"process": "poisson", "rate_hz": 4}}],
            }
        ],
        nodes=[{"count": 2, "cores": 2, "cache": {"input_items": 50, "result_items": 50}}],
    )
    result = simulate(scenario, AlwaysEdge())
    s = summarize(result)
    r = result.records
    assert s["input_cache_hit_rate"] > 0.5
    assert s["result_cache_hit_rate"] > 0.5
    assert s["uplink_saved_share"] > 0.5
    hits = r["result_cache_hit"] == 1
    assert (r["service_s"][hits] == 0).all()
    assert (r["service_s"][~hits & (r["outcome"] == DONE)] > 0).all()
    cold = with_overrides(
        scenario, {"nodes[0].cache.input_items": 0, "nodes[0].cache.result_items": 0}
    )
    assert summarize(simulate(cold, AlwaysEdge()))["uplink_bytes"] > s["uplink_bytes"]


def test_node_dvfs_slows_tasks_with_slack_and_saves_energy() -> None:
    scenario = small(
        apps={"f": {"cpu_cycles": 3e8, "input_bytes": 1e3, "output_bytes": 100, "deadline_s": 5.0}},
        devices=[
            {
                "count": 2,
                "link": {"constant_mbps": 50},
                "workload": [{"app": "f", "arrivals": {"process": "periodic", "rate_hz": 1}}],
            }
        ],
        nodes=[{"cores": 4, "speed_hz": 3e9, "dvfs_levels": [0.5, 1.0]}],
    )
    result = simulate(scenario, AlwaysEdge())
    assert (result.records["level"] == 0.5).all()
    assert summarize(result)["node_dvfs_saving"] == pytest.approx(0.75)


def test_a_crashed_node_runs_nothing_while_down_and_its_tasks_move() -> None:
    scenario = small(
        nodes=[{"count": 2, "cores": 1, "speed_hz": 1e9, "failures": {"at_s": [[5.0, 12.0]]}}],
        apps={"f": {"cpu_cycles": 5e8, "input_bytes": 1e3}},
        devices=[
            {
                "count": 6,
                "link": {"constant_mbps": 50},
                "workload": [{"app": "f", "arrivals": {"process": "periodic", "rate_hz": 1}}],
            }
        ],
    )
    result = simulate(scenario, AlwaysEdge())
    r = result.records
    assert_conserved(result)
    on_first = r["target"] == 0
    running = on_first & (r["start_s"] < 12.0) & (r["finish_s"] > 5.0)
    assert not running.any()
    assert (r["attempts"] >= 2).any()
    moved = r["attempts"] >= 2
    assert (r["outcome"][moved] == DONE).any()
    assert result.nodes[0]["up_s"] == pytest.approx(20.0 - 7.0)


def test_the_real_scheduler_serves_higher_priority_first() -> None:
    apps = {
        "urgent": {"cpu_cycles": 1e9, "input_bytes": 1e3, "priority": 5},
        "bulk": {"cpu_cycles": 1e9, "input_bytes": 1e3, "priority": 0},
    }
    work = [
        {"app": "urgent", "arrivals": {"process": "poisson", "rate_hz": 0.5}},
        {"app": "bulk", "arrivals": {"process": "poisson", "rate_hz": 0.5}},
    ]
    scenario = small(
        apps=apps,
        duration_s=200.0,
        devices=[{"count": 3, "link": {"constant_mbps": 50}, "workload": work}],
        nodes=[{"cores": 2, "speed_hz": 1e9, "discipline": "priority"}],
    )
    r = simulate(scenario, AlwaysEdge()).records
    wait = r["start_s"] - r["node_arrival_s"]
    urgent = r["app"] == 0
    assert np.nanmean(wait[urgent]) < 0.5 * np.nanmean(wait[~urgent])


def test_expired_tasks_are_dropped_not_started() -> None:
    scenario = small(
        apps={"f": {"cpu_cycles": 2e9, "input_bytes": 1e3, "deadline_s": 1.0}},
        devices=[
            {
                "count": 4,
                "link": {"constant_mbps": 50},
                "workload": [{"app": "f", "arrivals": {"process": "periodic", "rate_hz": 2}}],
            }
        ],
        nodes=[{"cores": 1, "speed_hz": 2e9}],
    )
    result = simulate(scenario, AlwaysEdge())
    r = result.records
    dropped = r["reason"] == int(Reason.DEADLINE_EXPIRED)
    assert dropped.sum() > 0
    assert np.isnan(r["start_s"][dropped]).all()
    started = r["outcome"] == DONE
    assert (r["start_s"][started] < r["created_s"][started] + 1.0).all()


def test_an_empty_battery_stops_the_device() -> None:
    scenario = small(
        devices=[
            {
                "count": 2,
                "battery_j": 2.0,
                "power": {"kappa": 1e-27},
                "workload": [{"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 5}}],
            }
        ]
    )
    result = simulate(scenario, AlwaysLocal())
    r = result.records
    empty = r["reason"] == int(Reason.BATTERY_EMPTY)
    assert empty.any()
    assert_conserved(result)
    for d in (0, 1):
        mine = r["device"] == d
        # Once empty, every later task of the device is dropped.
        first = r["created_s"][mine & empty].min()
        assert (
            r["reason"][mine & (r["created_s"] > first + 1.0)] == int(Reason.BATTERY_EMPTY)
        ).all()


def test_lost_transfers_are_resent_or_fail() -> None:
    scenario = small(
        devices=[
            {
                "count": 4,
                "link": {"constant_mbps": 50, "loss": 0.5, "max_retries": 0, "rto_ms": 200},
                "workload": [{"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 5}}],
            }
        ]
    )
    result = simulate(scenario, AlwaysEdge())
    r = result.records
    lost = r["reason"] == int(Reason.LINK_LOST)
    assert 0.5 < lost.mean() < 0.9  # an upload or a download lost once, no retry
    assert_conserved(result)
    retried = simulate(
        with_overrides(scenario, {"devices[0].link.max_retries": 10}), AlwaysEdge()
    ).records
    assert (retried["reason"] == int(Reason.LINK_LOST)).mean() < 0.01
    assert np.nanmax(retried["latency_s"]) > 0.4  # some paid two retransmission timeouts


def test_the_cloud_is_reached_through_the_wan() -> None:
    scenario = small(
        nodes=[],
        cloud={"cores": 8, "wan_rtt_ms": 80, "wan_mbps": 100},
        devices=[
            {
                "count": 2,
                "link": {"constant_mbps": 50, "rtt_ms": 20},
                "workload": [{"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 1}}],
            }
        ],
    )
    r = simulate(scenario, AlwaysEdge()).records
    assert (r["target"] == 0).all()
    assert np.nanmin(r["latency_s"]) > 0.1


def test_dag_stages_run_in_order_and_may_split_between_device_and_nodes() -> None:
    scenario = with_overrides(load_scenario("ultrasound"), {"duration_s": 30.0})
    result = simulate(scenario)
    r = result.records
    s = summarize(result)
    assert s["jobs"]["done"] > 0
    for job in np.unique(r["job"])[:200]:
        rows = np.flatnonzero(r["job"] == job)
        stages = r["stage"][rows]
        assert sorted(stages.tolist()) == list(range(len(rows)))
        # A later stage exists only if the ones it reads were done.
        if len(rows) < 3:
            assert (r["outcome"][rows] != DONE).any()
        for k in range(1, len(rows)):
            earlier = rows[stages == k - 1][0]
            later = rows[stages == k][0]
            assert r["created_s"][later] >= r["finish_s"][earlier] - 1e-9
    targets = set(r["target"].tolist())
    assert -1 in targets and any(t >= 0 for t in targets)


@dataclass
class Broken:
    name: str = "broken"

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        n = len(tasks) + 1
        z = np.zeros(n)
        return Decisions(np.full(n, -1), z, z, z)


def test_a_policy_that_answers_the_wrong_number_of_tasks_is_named() -> None:
    with pytest.raises(InvalidState, match="policy 'broken' returned"):
        run(small(), Broken())


@dataclass
class Learner:
    """Decides like the cost model and records what it is told afterwards."""

    name: str = "learner"
    seen: list[tuple[float, int, int]] | None = None  # (time told, tasks, done)
    sim: Simulation | None = None

    def decide(self, tasks: TaskBatch, device: DeviceState, nodes: NodeFeatures) -> Decisions:
        return CostModel().decide(tasks, device, nodes)

    def observe(
        self,
        tasks: TaskBatch,
        device: DeviceState,
        nodes: NodeFeatures,
        decisions: Decisions,
        latency_s: np.ndarray,
        energy_j: np.ndarray,
    ) -> None:
        assert self.sim is not None and self.seen is not None
        assert len(latency_s) == len(tasks) == len(decisions) == len(energy_j)
        self.seen.append((self.sim.engine.now, len(tasks), int(np.isfinite(latency_s).sum())))


def test_online_policies_learn_each_outcome_once_and_not_early() -> None:
    learner = Learner(seen=[])
    sim = Simulation(small(), learner)
    learner.sim = sim
    sim.run()
    r = SimResult.of(sim).records
    assert sum(n for _, n, _ in learner.seen) == r["device"].size
    assert sum(done for _, _, done in learner.seen) == int((r["outcome"] == DONE).sum())
    # Told no earlier than the last of its tasks ended.
    first_told = min(at for at, _, _ in learner.seen)
    assert first_told >= np.nanmin(r["end_s"])


def test_the_decision_engines_online_policy_runs_in_the_simulator() -> None:
    result = run(small(), "online")
    assert_conserved(result)
    assert result.policy == "online"


def test_times_arrivals_replay_the_given_instants_on_every_device() -> None:
    from edgeoffload.errors import ConfigError

    arrivals = {"process": "times", "times_s": [2.0, 0.5, 0.5]}
    group = {
        "count": 2,
        "link": {"constant_mbps": 8},
        "workload": [{"app": "frame", "arrivals": arrivals}],
    }
    result = simulate(small(devices=[group]), AlwaysLocal())
    for d in (0, 1):
        created = np.sort(result.records["created_s"][result.records["device"] == d])
        assert created.tolist() == [0.5, 0.5, 2.0]
    bad = {**group, "workload": [{"app": "frame", "arrivals": {"process": "times"}}]}
    with pytest.raises(ConfigError, match="times_s goes with process: times"):
        small(devices=[bad])
