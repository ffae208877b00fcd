"""What the relay process is told, and how trace references resolve (no root)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeoffload.emulation.plan import make_plan, symmetric_spec
from edgeoffload.emulation.relay import relay_spec
from edgeoffload.emulation.traceref import load_trace_ref
from edgeoffload.errors import ConfigError


def test_the_relay_gets_only_delayed_links_each_direction_to_the_peers_mac() -> None:
    assert relay_spec(make_plan(symmetric_spec(rate_mbit=5), 9))["links"] == []
    spec = relay_spec(make_plan(symmetric_spec(edges=2, rtt_ms=30, jitter_ms=1), 9), seed=4)
    assert spec["seed"] == 4 and len(spec["links"]) == 2
    up, down = spec["links"][1]["up"], spec["links"][1]["down"]
    assert up == {
        "tun_ns": "eoemu-9-dev",
        "tun": "tun1",
        "out_if": "edge1",
        "dst_mac": "02:e0:00:00:01:02",
        "delay_ms": 15.0,
        "jitter_ms": 1.0,
    }
    assert (down["tun_ns"], down["out_if"], down["dst_mac"]) == (
        "eoemu-9-edge1",
        "eth0",
        "02:e0:00:00:01:01",
    )
    json.dumps(spec)  # passed on the command line


def test_trace_refs_name_a_bundled_trace_or_a_file(tmp_path: Path) -> None:
    bus = load_trace_ref("ghent_4g:report_bus_0001")
    assert bus.dataset == "ghent_4g" and bus.name == "report_bus_0001"
    assert load_trace_ref("ghent_4g:report_bus_0001", scale=0.5).mbps[0] == bus.mbps[0] / 2
    path = tmp_path / "t.txt"
    path.write_text("0 1\n1 2\n")
    assert list(load_trace_ref(str(path)).mbps) == [1.0, 2.0]
    with pytest.raises(ConfigError, match="no trace 'nosuch' in ghent_4g"):
        load_trace_ref("ghent_4g:nosuch")
    with pytest.raises(ConfigError, match="neither a file nor DATASET:NAME"):
        load_trace_ref(str(tmp_path / "missing"))
