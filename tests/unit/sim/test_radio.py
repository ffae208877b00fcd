"""The radio (sim/radio.py): geometric losses, shared transfers, input caches, the WAN
to the cloud, and the numpy uploads and downloads equal to the scalar ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgeoffload.sim.radio import Radio
from edgeoffload.sim.state import SimState
from edgeoffload.sim.table import Outcome, Reason

from .conftest import Recorder, add_tasks, small, state_of


def _world(link: dict[str, Any] | None = None, **overrides: Any) -> Any:
    group = {
        "count": 8,
        "cpu_hz": 1.5e9,
        "load": 0.1,
        "battery_j": 5000.0,
        "link": link or {"dataset": "ghent_4g", "uplink_scale": 0.5, "rtt_ms": 20},
        "workload": [{"app": "frame", "arrivals": {"process": "periodic", "rate_hz": 5}}],
    }
    return small(devices=[group], **overrides)


def _radio(st: SimState) -> tuple[Radio, Recorder]:
    rec = Recorder()
    return Radio(st, rec.close, rec.arrive), rec


def test_losses_are_geometric_at_the_links_probability() -> None:
    st = state_of(_world({"constant_mbps": 10, "loss": 0.2, "max_retries": 60}))
    radio, _ = _radio(st)
    tries = [radio.tries(0) for _ in range(20_000)]
    assert not any(lost for _, lost in tries)
    sent = sum(k for k, _ in tries)
    assert (sent - len(tries)) / sent == pytest.approx(0.2, abs=0.01)
    lossless = state_of(_world({"constant_mbps": 10}))
    before = lossless.streams.losses.bit_generator.state
    assert _radio(lossless)[0].tries(0) == (1, False)
    assert lossless.streams.losses.bit_generator.state == before  # nothing drawn


def test_a_transfer_shares_its_header_and_its_energy_by_bits() -> None:
    st = state_of(_world({"constant_mbps": 8, "rtt_ms": 20, "random_offset": False}))
    radio, _ = _radio(st)
    a, b = add_tasks(st, 2, input_bytes=[1000.0, 3000.0])
    st.arrivals = []
    radio.send(0, 1, 0.5, [a, b])
    t = st.tasks
    header = st.header_bits
    bits = [1000 * 8.0 + header / 2, 3000 * 8.0 + header / 2]
    total = 4000 * 8.0 + header
    end = 0.5 + total / 8e6
    assert [t.batch[a], t.batch[b]] == [2, 2]
    assert t.upload_end_s[a] == t.upload_end_s[b] == pytest.approx(end)
    assert [t.up_bytes[a], t.up_bytes[b]] == [x / 8.0 for x in bits]
    assert t.energy_j[b] / t.energy_j[a] == pytest.approx(bits[1] / bits[0])
    radio_s = t.upload_end_s[a] - 0.5
    transmit = st.dev.power[0].transmit_w
    assert t.energy_j[a] + t.energy_j[b] == pytest.approx(transmit * radio_s)
    assert st.dev.battery_j[0] == pytest.approx(5000.0 - transmit * radio_s)
    # It reaches the node half an RTT after the last bit is out.
    assert st.arrivals == [(pytest.approx(end + 0.01), 1, [a, b])]


def test_a_cached_input_is_not_sent() -> None:
    nodes = [{"count": 2, "cores": 4, "cache": {"input_items": 10}}]
    st = state_of(_world({"constant_mbps": 8}, nodes=nodes))
    radio, _ = _radio(st)
    (tid,) = add_tasks(st, 1, input_bytes=5000.0, key=42)
    cache = st.nodes[0].input_cache
    assert cache is not None
    cache.insert(42)
    st.arrivals = []
    radio.send(0, 0, 0.0, [tid])
    assert st.tasks.input_cache_hit[tid] == 1
    assert st.uplink_saved_bytes == 5000.0
    assert st.tasks.up_bytes[tid] == st.header_bits / 8.0


def test_a_transfer_lost_for_good_fails_its_tasks_after_its_resends() -> None:
    # (a loss of 1 is refused; at this one the generator would have to draw below 1e-6)
    link = {"constant_mbps": 8, "loss": 0.999999, "max_retries": 2, "rto_ms": 100}
    st = state_of(_world(link))
    radio, rec = _radio(st)
    a, b = add_tasks(st, 2, input_bytes=1000.0)
    radio.send(0, 0, 0.0, [a, b])
    end = st.tasks.upload_end_s[a]
    bits = 2000 * 8.0 + st.header_bits
    assert end == pytest.approx(3 * bits / 8e6 + 2 * 0.1)  # three transmissions, two RTOs
    failed = (int(Outcome.FAILED), int(Reason.LINK_LOST))
    assert rec.closed == [(a, end, *failed), (b, end, *failed)]
    assert rec.arrived == [] and st.samples[0] == []


def test_a_cloud_result_crosses_the_wan_first() -> None:
    cloud = {"cores": 8, "wan_rtt_ms": 60, "wan_mbps": 100}
    st = state_of(_world({"constant_mbps": 8, "rtt_ms": 20}, cloud=cloud))
    radio, rec = _radio(st)
    edge, far = add_tasks(st, 2, output_bytes=1000.0, device=[0, 1])
    cloud_index = next(i for i, n in enumerate(st.nodes) if n.tier == "cloud")
    radio.download(edge, 0, 1.0)
    radio.download(far, cloud_index, 1.0)
    bits = 1000 * 8.0 + st.header_bits
    (_, at_edge, *done_edge), (_, at_far, *done_far) = rec.closed
    assert at_edge == pytest.approx(1.0 + 0.01 + bits / 8e6)
    assert at_far == pytest.approx(1.0 + 0.01 + 0.03 + bits / 100e6 + bits / 8e6)
    assert done_edge == done_far == [int(Outcome.DONE), 0]


def _twins(link: dict[str, Any]) -> tuple[SimState, SimState]:
    scenario = _world(link)
    return state_of(scenario), state_of(scenario)


def test_upload_rows_equals_send_bit_for_bit() -> None:
    rng = np.random.default_rng(2)
    scalar, vector = _twins({"dataset": "ghent_4g", "uplink_scale": 0.5, "rtt_ms": 20})
    devs = rng.permutation(8)
    nodes = rng.integers(0, 2, 8)
    at = rng.random(8) * 5
    inputs = rng.lognormal(10, 1, 8)
    ids = add_tasks(scalar, 8, device=devs, input_bytes=inputs)
    radio, _ = _radio(scalar)
    scalar.arrivals = []
    for tid in ids:
        radio.send(int(devs[tid]), int(nodes[tid]), float(at[tid]), [tid])
    bits = vector.header_bits + inputs * 8.0
    fast, rows, energy, end, arrive = _radio(vector)[0].upload_rows(devs, nodes, at, bits)
    assert fast.all() and rows.tolist() == ids
    t = scalar.tasks
    assert energy.tolist() == [t.energy_j[i] for i in ids]
    assert end.tolist() == [t.upload_end_s[i] for i in ids]
    assert arrive.tolist() == [a for a, _, _ in scalar.arrivals]
    assert vector.battery_v.tolist() == scalar.battery_v.tolist()
    assert vector.samples == scalar.samples
    assert [link.free_s for link in vector.dev.up] == [link.free_s for link in scalar.dev.up]


def test_download_rows_equals_download_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    scalar, vector = _twins({"dataset": "ghent_4g", "rtt_ms": 30})
    devs = rng.permutation(8)
    ready = 1.0 + rng.random(8)
    columns = {"device": devs, "output_bytes": rng.lognormal(8, 1, 8)}
    for st in (scalar, vector):
        ids = add_tasks(st, 8, **columns)
        st.tasks.put(np.array(ids), upload_end_s=ready - 0.3)  # idle since
    nodes = np.zeros(8, dtype=np.int64)
    radio, rec = _radio(scalar)
    for tid in ids:
        radio.download(tid, 0, float(ready[tid]))
    _radio(vector)[0].download_rows(np.array(ids), ready, devs, nodes)
    a, b = scalar.tasks.arrays(), vector.tasks.arrays()
    for name in ("energy_j", "energy_max_freq_j", "down_bytes"):
        assert a[name].tolist() == b[name].tolist(), name
    # The scalar download ends each task through the hook, the numpy one in the table.
    assert [(tid, end, outcome) for tid, end, outcome, _ in rec.closed] == [
        (i, b["end_s"][i], b["outcome"][i]) for i in ids
    ]
    assert set(b["outcome"].tolist()) == {int(Outcome.DONE)}
    assert vector.battery_v.tolist() == scalar.battery_v.tolist()
    assert vector.samples == scalar.samples


def test_a_stages_inputs_come_over_the_backhaul_the_uplink_or_not_at_all() -> None:
    from edgeoffload.decision.features import LOCAL_INDEX

    st = state_of(_world({"constant_mbps": 8, "rtt_ms": 20}, backhaul_mbps=100))
    radio, _ = _radio(st)
    tid = add_tasks(st, 1)[0]
    bits = 1000 * 8.0 + st.header_bits
    # Already on node 1: there at once; from node 0: over the backhaul.
    assert radio.stage_inputs_to_node(tid, 0, 1, [(1, 1000.0)], 2.0) == 2.0
    over = radio.stage_inputs_to_node(tid, 0, 1, [(0, 1000.0)], 2.0)
    assert over == 2.0 + bits / 100e6 + st.backhaul_rtt / 2.0
    # From the device: its uplink, then half the RTT; the latest input sets the time.
    both = radio.stage_inputs_to_node(tid, 0, 1, [(LOCAL_INDEX, 1000.0), (1, 10.0)], 2.0)
    assert both == pytest.approx(2.0 + bits / 8e6 + 0.01)
    assert st.tasks.up_bytes[tid] == bits / 8.0
    # To the device: each input a node holds comes over its downlink.
    ready = radio.stage_inputs_to_device(tid, 0, [(LOCAL_INDEX, 50.0), (0, 1000.0)], 3.0)
    assert ready == pytest.approx(3.0 + 0.01 + bits / 8e6)
    assert st.tasks.down_bytes[tid] == bits / 8.0
