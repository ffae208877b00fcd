"""The emulation plan: names, addresses, command lines and the rate schedule (no root)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgeoffload.emulation.plan import (
    MIN_RATE_MBIT,
    EmulationSpec,
    RateChange,
    Shape,
    cpu_limit_files,
    leftovers,
    make_plan,
    owner_of,
    rate_changes,
    symmetric_spec,
    tbf_args,
)
from edgeoffload.errors import ConfigError
from edgeoffload.traces import Trace


def trace(times: list[float], mbps: list[float], duration: float) -> Trace:
    return Trace("t", "file", np.array(times), np.array(mbps), duration)


def test_names_and_addresses_carry_the_owner_and_stay_private() -> None:
    plan = make_plan(symmetric_spec(edges=2), 4242)
    assert plan.namespaces == ("eoemu-4242-dev", "eoemu-4242-edge0", "eoemu-4242-edge1")
    assert plan.edge_addresses == ("10.250.0.2", "10.250.1.2")
    assert [link.device_address for link in plan.links] == ["10.250.0.1", "10.250.1.1"]
    assert all(len(link.device_if) <= 15 and len(link.edge_if) <= 15 for link in plan.links)
    assert plan.cgroup_name == "eoemu-4242-device"


def test_setup_creates_veths_inside_the_namespaces_and_no_default_route() -> None:
    plan = make_plan(symmetric_spec(rate_mbit=20), 7)
    cmds = plan.setup_commands()
    assert ["ip", "netns", "add", "eoemu-7-dev"] in cmds
    veth = next(c for c in cmds if "veth" in c)
    assert veth[:3] == ["ip", "-n", "eoemu-7-dev"] and veth[-2:] == ["netns", "eoemu-7-edge0"]
    assert not any("default" in c for c in cmds)
    assert not any(c[:2] == ["ip", "link"] for c in cmds)  # nothing in the host namespace
    tbf = [c for c in cmds if c[0] == "tc"]
    assert tbf == [
        [
            "tc",
            "-n",
            "eoemu-7-dev",
            "qdisc",
            "add",
            "dev",
            "edge0",
            "root",
            "tbf",
            "rate",
            "20912kbit",
            "burst",
            "5228",
            "latency",
            "100ms",
        ],
        [
            "tc",
            "-n",
            "eoemu-7-edge0",
            "qdisc",
            "add",
            "dev",
            "eth0",
            "root",
            "tbf",
            "rate",
            "20912kbit",
            "burst",
            "5228",
            "latency",
            "100ms",
        ],
    ]


def test_neighbours_are_permanent_so_no_arp_crosses_the_shaped_link() -> None:
    cmds = make_plan(symmetric_spec(rate_mbit=20), 7).setup_commands()
    assert [
        "ip", "-n", "eoemu-7-dev", "neigh", "replace", "10.250.0.2",
        "lladdr", "02:e0:00:00:00:02", "dev", "edge0", "nud", "permanent",
    ] in cmds  # fmt: skip
    assert [
        "ip", "-n", "eoemu-7-edge0", "neigh", "replace", "10.250.0.1",
        "lladdr", "02:e0:00:00:00:01", "dev", "eth0", "nud", "permanent",
    ] in cmds  # fmt: skip


def test_every_veth_end_sends_one_segment_per_packet() -> None:
    cmds = make_plan(symmetric_spec(), 7).setup_commands()
    for ns, dev in (("eoemu-7-dev", "edge0"), ("eoemu-7-edge0", "eth0")):
        assert ["ip", "-n", ns, "link", "set", "dev", dev, "gso_max_segs", "1"] in cmds


def test_loss_rules_sit_at_the_receiver_with_a_per_million_threshold() -> None:
    plan = make_plan(symmetric_spec(loss=0.01, loss_down=0.02), 7)
    up = plan.loss_commands(0, "up")
    assert up[-1][:4] == ["ip", "netns", "exec", "eoemu-7-edge0"]
    assert up[-1][-9:] == [
        "iifname",
        "eth0",
        "numgen",
        "random",
        "mod",
        "1000000",
        "<",
        "10000",
        "drop",
    ]
    down = plan.loss_commands(0, "down", tool="iptables")
    assert down == [
        [
            "ip",
            "netns",
            "exec",
            "eoemu-7-dev",
            "iptables",
            "-A",
            "INPUT",
            "-i",
            "edge0",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            "0.020000",
            "-j",
            "DROP",
        ]
    ]
    assert sum("numgen" in c for c in plan.setup_commands()) == 2


def test_rtt_is_split_between_directions_and_relay_routes_use_the_tun() -> None:
    plan = make_plan(symmetric_spec(rtt_ms=40, jitter_ms=2), 7)
    link = plan.links[0]
    assert (link.spec.up.delay_ms, link.spec.down.delay_ms) == (20, 20)
    routes = plan.relay_route_commands(0)
    assert [
        "ip",
        "-n",
        "eoemu-7-dev",
        "route",
        "add",
        "10.250.0.2/32",
        "dev",
        "tun0",
        "src",
        "10.250.0.1",
    ] in routes


def test_tbf_bucket_is_two_ms_at_the_rate_and_never_zero_rate() -> None:
    # goodput rates: the frame rate is 1514/1448 of it
    assert tbf_args(100, 50) == ["tbf", "rate", "104558kbit", "burst", "26140", "latency", "50ms"]
    assert tbf_args(0.0, 100)[2] == f"{round(MIN_RATE_MBIT * 1000 * 1514 / 1448)}kbit"
    assert tbf_args(1, 100)[4] == "3028"  # two full frames at least


def test_rate_schedule_follows_the_trace_skips_repeats_and_loops() -> None:
    t = trace([0, 1, 2, 3], [5, 5, 10, 0], 4.0)
    plan = make_plan(symmetric_spec(trace=t, down_rate_mbit=50), 1)
    changes = list(rate_changes(plan, until_s=9))
    assert changes == [
        RateChange(2, 0, "up", 10),
        RateChange(3, 0, "up", MIN_RATE_MBIT),
        RateChange(4, 0, "up", 5),
        RateChange(6, 0, "up", 10),
        RateChange(7, 0, "up", MIN_RATE_MBIT),
        RateChange(8, 0, "up", 5),
    ]


def test_rate_schedule_merges_directions_by_time_and_ends_for_constant_traces() -> None:
    up = trace([0, 1.5], [1, 2], 3.0)
    down = trace([0], [7], 1.0)
    plan = make_plan(symmetric_spec(trace=up, down_trace=down), 1)
    first = list(itertools.islice(rate_changes(plan), 3))
    assert [(c.at_s, c.direction) for c in first] == [(1.5, "up"), (3.0, "up"), (4.5, "up")]
    only_down = make_plan(symmetric_spec(rate_mbit=1, down_trace=down), 1)
    assert list(rate_changes(only_down)) == []


def test_leftovers_are_the_names_of_dead_runs_only() -> None:
    names = [
        "eoemu-10-dev",
        "eoemu-10-edge0",
        "eoemu-11-dev",
        "eoemu-12-dev",
        "other",
        "eoemu-x-dev",
    ]
    assert leftovers(names, alive={11}, me=12) == ["eoemu-10-dev", "eoemu-10-edge0"]
    assert owner_of("eoemu-99-edge3") == 99 and owner_of("edgeoffload-docker") is None


def test_cpu_limit_files_for_both_cgroup_versions() -> None:
    assert cpu_limit_files(0.25, 100_000, "v1") == {
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "25000",
    }
    assert cpu_limit_files(1.5, 100_000, "v2") == {"cpu.max": "150000 100000"}


def test_device_commands_enter_only_the_network_namespace() -> None:
    plan = make_plan(symmetric_spec(), 3)
    assert plan.device_command(["true"]) == [
        "nsenter",
        "--net=/run/netns/eoemu-3-dev",
        "--",
        "true",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Shape(rate_mbit=0),
        lambda: Shape(loss=1.0),
        lambda: Shape(delay_ms=-1),
        lambda: EmulationSpec(links=()),
        lambda: EmulationSpec(device_cpu=0),
        lambda: EmulationSpec(queue_ms=0),
    ],
)
def test_bad_specs_are_config_errors(bad: object) -> None:
    with pytest.raises(ConfigError):
        bad()  # type: ignore[operator]


RP = "/proc/sys/net/ipv4/conf/all/rp_filter"


def test_reverse_path_filtering_is_off_in_every_namespace() -> None:
    plan = make_plan(symmetric_spec(rtt_ms=10), 5)
    cmds = plan.setup_commands()
    for ns in plan.namespaces:
        cmd = [
            "ip",
            "netns",
            "exec",
            ns,
            "sh",
            "-c",
            f"[ ! -e {RP} ] || echo 0 > {RP}",
        ]
        assert cmd in cmds
