"""The emulation plan's pieces test_plan.py leaves out: what a Shape says about
itself, how symmetric_spec fills both directions, each validation message, the
commands that change a rate, tear down and run on an edge host, and the replay's rate
at a time."""

from __future__ import annotations

import numpy as np
import pytest

from edgeoffload.emulation.plan import (
    MAX_EDGES,
    MIN_RATE_MBIT,
    EmulationSpec,
    LinkSpec,
    Shape,
    make_plan,
    owner_of,
    rate_at,
    symmetric_spec,
    tbf_args,
)
from edgeoffload.errors import ConfigError
from edgeoffload.traces import Trace


def trace(times: list[float], mbps: list[float], duration: float) -> Trace:
    return Trace("t", "file", np.array(times), np.array(mbps), duration)


def test_a_shape_is_shaped_by_a_rate_or_a_trace_and_delayed_by_delay_or_jitter() -> None:
    assert not Shape().shaped and not Shape().delayed
    assert Shape(rate_mbit=5).shaped and Shape(trace=trace([0.0], [1.0], 1.0)).shaped
    assert Shape(delay_ms=1).delayed and Shape(jitter_ms=0.5).delayed
    assert not LinkSpec().delayed and LinkSpec(down=Shape(jitter_ms=1)).delayed


def test_the_initial_rate_is_the_traces_first_sample_clamped_else_the_fixed_rate() -> None:
    assert Shape().initial_rate_mbit() is None
    assert Shape(rate_mbit=7.5).initial_rate_mbit() == 7.5
    # A trace overrides the rate, and an outage starts at the floor, not at zero.
    assert Shape(rate_mbit=7.5, trace=trace([0.0, 1.0], [3.0, 9.0], 2.0)).initial_rate_mbit() == 3
    outage_first = trace([0.0, 1.0], [0.0, 2.0], 2.0)
    assert Shape(trace=outage_first).initial_rate_mbit() == MIN_RATE_MBIT


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Shape(rate_mbit=0), "rate must be > 0 Mbit/s, got 0"),
        (lambda: Shape(jitter_ms=-0.1), "delay and jitter must be >= 0 ms"),
        (lambda: Shape(loss=-0.1), "loss must be a probability in [0, 1), got -0.1"),
        (
            lambda: EmulationSpec(links=(LinkSpec(),) * (MAX_EDGES + 1)),
            f"between 1 and {MAX_EDGES} edge hosts, got {MAX_EDGES + 1}",
        ),
        (lambda: EmulationSpec(queue_ms=-5), "queue must be > 0 ms, got -5"),
        (
            lambda: EmulationSpec(device_cpu=65),
            "device CPU share must be in (0, 64] cores, got 65",
        ),
        (lambda: EmulationSpec(cpu_period_us=999), "cpu period must be 1 ms to 1 s"),
        (lambda: EmulationSpec(cpu_period_us=1_000_001), "cpu period must be 1 ms to 1 s"),
    ],
)
def test_each_bad_value_names_itself(make: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        make()  # type: ignore[operator]
    assert str(err.value).startswith(message)


def test_the_bounds_themselves_are_accepted() -> None:
    EmulationSpec(links=(LinkSpec(),) * MAX_EDGES, device_cpu=64, cpu_period_us=1000)
    EmulationSpec(cpu_period_us=1_000_000)
    Shape(loss=0.0, rate_mbit=MIN_RATE_MBIT)


def test_symmetric_spec_splits_the_rtt_and_copies_the_uplink_down() -> None:
    up_trace = trace([0.0], [4.0], 1.0)
    spec = symmetric_spec(edges=3, rtt_ms=30, jitter_ms=2, loss=0.01, trace=up_trace)
    assert len(spec.links) == 3 and all(link is spec.links[0] for link in spec.links)
    up, down = spec.links[0].up, spec.links[0].down
    assert (up.delay_ms, down.delay_ms, up.jitter_ms, down.jitter_ms) == (15, 15, 2, 2)
    assert up.trace is up_trace and down.trace is up_trace
    assert up.loss == down.loss == 0.01


def test_symmetric_spec_keeps_a_downlink_of_its_own() -> None:
    spec = symmetric_spec(rate_mbit=10, down_rate_mbit=50, loss=0.02, loss_down=0.0)
    link = spec.links[0]
    assert (link.up.rate_mbit, link.down.rate_mbit) == (10, 50)
    assert (link.up.loss, link.down.loss) == (0.02, 0.0)
    # A downlink trace alone also stops the copy (the uplink rate stays up only).
    only = symmetric_spec(rate_mbit=10, down_trace=trace([0.0], [2.0], 1.0)).links[0]
    assert only.down.rate_mbit is None and only.down.trace is not None
    assert only.up.rate_mbit == 10


def test_rate_teardown_and_edge_commands_name_the_right_namespaces() -> None:
    plan = make_plan(symmetric_spec(edges=2, queue_ms=50), owner_pid=42)
    assert plan.cgroup_name == "eoemu-42-device"
    assert plan.rate_command(1, "up", 8.0) == [
        "tc", "-n", "eoemu-42-dev", "qdisc", "change", "dev", "edge1", "root",
        *tbf_args(8.0, 50),
    ]  # fmt: skip
    assert plan.rate_command(0, "down", 8.0, verb="add")[:7] == [
        "tc", "-n", "eoemu-42-edge0", "qdisc", "add", "dev", "eth0",
    ]  # fmt: skip
    assert plan.receiver(1, "up") == ("eoemu-42-edge1", "eth0")
    assert plan.receiver(1, "down") == ("eoemu-42-dev", "edge1")
    assert plan.teardown_commands() == [
        ["ip", "netns", "del", "eoemu-42-dev"],
        ["ip", "netns", "del", "eoemu-42-edge0"],
        ["ip", "netns", "del", "eoemu-42-edge1"],
    ]
    assert plan.edge_command(1, ["echo", "hi"]) == [
        "nsenter", "--net=/run/netns/eoemu-42-edge1", "--", "echo", "hi",
    ]  # fmt: skip


def test_owner_of_reads_only_names_this_package_made() -> None:
    assert owner_of("eoemu-123-dev") == 123
    assert owner_of("eoemu-123") is None  # too few parts
    assert owner_of("eoemu-x1-dev") is None
    assert owner_of("other-123-dev") is None


def test_rate_at_follows_the_looped_trace_and_clamps_outages() -> None:
    t = trace([0.0, 1.0, 2.0], [5.0, 0.0, 3.0], 3.0)
    assert rate_at(t, 0.5) == 5.0
    assert rate_at(t, 1.5) == MIN_RATE_MBIT
    assert rate_at(t, 2.5) == 3.0
    assert rate_at(t, 3.5) == 5.0  # the next period
