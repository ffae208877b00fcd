"""bench e2e's pure parts: exactly-once accounting, per-policy figures, names."""

from __future__ import annotations

import pytest

from edgeoffload.bench.e2e import (
    Setup,
    app_package,
    cache_lookups,
    example_arg,
    example_name,
    failover_counts,
    summarise,
    trace_slug,
)
from edgeoffload.errors import ConfigError
from edgeoffload.traces import Trace


def _rec(sent: float, end: float | None, node: str = "edge0", error: str | None = None) -> dict:
    r = {"sent": sent, "node": node, "error": error, "deadline_s": 0.1, "in_bytes": 125_000}
    r["out_bytes"] = 0
    if end is not None:
        r["end"] = end
    return r


def test_failover_counts_a_duplicate_and_a_lost_task() -> None:
    run = {
        "records": [_rec(0, 0.05), _rec(0, 0.05), _rec(0, None), _rec(0, 0.2, error="Failed")],
        "delivered": [1, 2, 0, 1],
    }
    assert failover_counts(run) == {"tasks": 4, "completed": 2, "lost": 2, "duplicates": 1}


def _setup() -> Setup:
    trace = Trace("t", "file", [0.0, 1.0], [8.0, 1.0], 2.0)
    s = Setup("tests.apps.tiny", "tiny", "t", trace, 2, 0, 0.0, 0.25)
    s.host_hz, s.device_hz = 2e9, 5e8
    return s


def test_summarise_counts_misses_offload_and_energy_from_the_power_model() -> None:
    run = {
        "records": [
            _rec(0.0, 0.05, node="local"),  # in time, local
            _rec(1.5, 1.7),  # late, offloaded at 1 Mbit/s: 125 kB take 1 s of radio
            _rec(1.6, None, error="Lost"),  # a failure is a miss
        ],
        "t0": 0.0,
        "t_end": 2.0,
        "replay_start": 0.0,
        "cpu_s": 0.5,
        "uplink_bytes": 130_000,
    }
    out = summarise(_setup(), run)
    assert out["deadline_miss_rate"] == pytest.approx(2 / 3, abs=1e-4)
    # placements, not answers: the lost request was placed on a node too
    assert out["offload_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert out["throughput_per_s"] == 0.5  # answers in time per second: one in 2 s
    assert out["latency_ms"]["p50"] == 50.0
    # CPU: kappa f^2 * cycles (1e-27 * 25e16 * 1e9 = 0.25 J). Radio at 1.3 W: the
    # interface counted 130 of the 250 kB placed, so each upload carried 65 kB (0.52
    # Mbit), one after the other: the first from 1.5 s, 0.5 Mbit at 1 Mbit/s to 2.0 s,
    # the rest at 8 Mbit/s (2.5 ms); the second from 2.0025 s at 8 Mbit/s (65 ms).
    # Idle: 2 - 2 (busy at the device's speed: 1e9 / 5e8 s) - radio < 0: none.
    radio_s = 0.5 + 0.02 / 8 + 0.52 / 8
    assert out["device_energy_j"] == pytest.approx(0.25 + 1.3 * radio_s, rel=1e-4)


def test_link_radio_seconds_serialise_transfers_and_skip_dead_samples() -> None:
    from edgeoffload.bench.e2e_report import link_radio_seconds, radio_seconds

    dead_then_fast = Trace("d", "file", [0.0, 1.0], [0.0, 8.0], 2.0)
    # 1 Mbit sent at 0: the radio waits through the dead second, then 1/8 s
    assert radio_seconds(dead_then_fast, 0.0, 125_000) == pytest.approx(0.125)
    # two such frames queue: 0.25 s of radio in all, not counted once per frame waiting
    sends = [(0.0, 125_000.0), (0.5, 125_000.0)]
    assert link_radio_seconds(dead_then_fast, sends) == pytest.approx(0.25)


def test_example_names_and_trace_slugs() -> None:
    assert app_package("aoi") == "examples.aoi"
    assert app_package("tests.apps.tiny") == "tests.apps.tiny"
    with pytest.raises(ConfigError):
        app_package("../etc")
    assert trace_slug("ghent_4g:report_bus_0001") == "ghent_4g_report_bus_0001"
    # the --example that names an app again, as the report prints it
    assert [example_arg(a) for a in ("examples.aoi", "examples.aoi.tray", "tests.apps.tiny")] == [
        "aoi",
        "examples.aoi.tray",
        "tests.apps.tiny",
    ]
    assert _setup().example == "tests.apps.tiny"
    assert example_name("examples.aoi.tray") == "aoi_tray"


def test_cache_lookups_count_results_and_hash_first_inputs_as_the_node_does() -> None:
    # An ultrasound frame is one answer and 16 tiles sent hash-first: a run whose
    # answers never came from the result cache still hit the input store (found by
    # bench e2e: the report said 0 % where most tiles went as digests).
    records = [
        {"node": "edge0", "cached": False},
        {"node": "edge1", "cached": True},
        {"node": "local", "cached": False},
        {"node": None, "cached": False},  # given up: no answer
    ]
    run = {"records": records, "client": {"inputs_hashed": 32, "inputs_held": 28}}
    assert cache_lookups(run) == (2 + 32, 1 + 28)


def test_a_device_that_hangs_before_ready_is_killed_at_its_budget() -> None:
    """The device's first line (READY) has a budget of its own: a warm-up that hangs
    (a node that never answers the connect) used to hang the whole benchmark, since
    the run's watchdog was armed only after READY."""
    import subprocess
    import sys
    import time

    from edgeoffload.bench.e2e import first_line

    hung = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True
    )
    t0 = time.monotonic()
    assert first_line(hung, 0.5) == ""
    assert time.monotonic() - t0 < 10 and hung.wait(5) != 0
    hung.stdout.close()  # type: ignore[union-attr]
    ready = subprocess.Popen(
        [sys.executable, "-c", "print('READY', flush=True); import time; time.sleep(1)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert first_line(ready, 30) == "READY\n"
    assert ready.wait(10) == 0  # not killed once its line came
    ready.stdout.close()  # type: ignore[union-attr]
