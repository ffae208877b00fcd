"""A result's way home (sim/radio.py download) worked out by hand: its arrival, the
energy of receiving and of waiting since the upload, the battery, the bytes and the
bandwidth sample; a lossy downlink's resends and their timeouts, and a result lost for
good; and the capture probe of what the uplink and CPU would give a task."""

from __future__ import annotations

from typing import Any

import pytest

from edgeoffload.decision.estimators import MIN_SAMPLE_BYTES
from edgeoffload.sim.radio import Radio
from edgeoffload.sim.table import Outcome, Reason

from .conftest import Recorder, add_tasks, small, state_of

DONE, FAILED = int(Outcome.DONE), int(Outcome.FAILED)


def world(link: dict[str, Any], **options: Any) -> Any:
    group = {"count": 1, "battery_j": 100.0, "link": link, "workload": [{"app": "frame"}]}
    return state_of(small(devices=[group]), **options)


def test_a_result_home_costs_receiving_and_the_wait_since_the_upload() -> None:
    st = world({"constant_mbps": 8, "rtt_ms": 20})
    rec = Recorder()
    radio = Radio(st, rec.close, rec.arrive)
    (tid,) = add_tasks(st, 1, output_bytes=1000.0)
    st.tasks.upload_end_s[tid] = 0.5
    radio.download(tid, 0, ready=1.0)
    bits = 1000 * 8.0 + st.header_bits
    radio_s = bits / 8e6
    ((closed, at, outcome, reason),) = rec.closed
    assert (closed, outcome, reason) == (tid, DONE, int(Reason.NONE))
    assert at == pytest.approx(1.01 + radio_s)  # half the RTT, then the transfer
    power = st.dev.power[0]
    energy = power.receive_w * radio_s + power.idle_w * 0.51  # idle from 0.5 to 1.01
    t = st.tasks
    assert t.energy_j[tid] == pytest.approx(energy)
    assert t.energy_max_freq_j[tid] == pytest.approx(energy)  # no DVFS on the radio
    assert st.dev.battery_j[0] == pytest.approx(100.0 - energy)
    assert t.down_bytes[tid] == pytest.approx(bits / 8)
    # 1 kB says more about latency than bandwidth: no sample (the client's rule,
    # decision.estimators.MIN_SAMPLE_BYTES)
    assert not st.samples[0]


def test_a_large_result_is_a_bandwidth_sample() -> None:
    st = world({"constant_mbps": 8, "rtt_ms": 20})
    rec = Recorder()
    radio = Radio(st, rec.close, rec.arrive)
    (tid,) = add_tasks(st, 1, output_bytes=float(MIN_SAMPLE_BYTES))
    st.tasks.upload_end_s[tid] = 0.5
    radio.download(tid, 0, ready=1.0)
    ((_, at, _, _),) = rec.closed
    ((sample_at, uplink, bps),) = st.samples[0]
    assert (sample_at, uplink) == (pytest.approx(at), False)
    assert bps == pytest.approx(8e6)


def test_without_an_upload_there_is_no_idle_time_to_pay() -> None:
    st = world({"constant_mbps": 8, "rtt_ms": 0})
    rec = Recorder()
    radio = Radio(st, rec.close, rec.arrive)
    (tid,) = add_tasks(st, 1, output_bytes=1000.0)  # upload_end_s stays NaN
    radio.download(tid, 0, ready=1.0)
    radio_s = (1000 * 8.0 + st.header_bits) / 8e6
    assert st.tasks.energy_j[tid] == pytest.approx(st.dev.power[0].receive_w * radio_s)


def test_resends_add_their_bits_and_timeouts_and_a_loss_for_good_fails_the_task() -> None:
    st = world({"constant_mbps": 8, "rtt_ms": 0, "loss": 0.5, "max_retries": 1})
    rec = Recorder()
    radio = Radio(st, rec.close, rec.arrive)
    radio.successes = lambda p: 0  # type: ignore[method-assign]  # every send lost
    (tid,) = add_tasks(st, 1, output_bytes=1000.0)
    radio.download(tid, 0, ready=1.0)
    bits = 1000 * 8.0 + st.header_bits
    ((_, at, outcome, reason),) = rec.closed
    assert (outcome, reason) == (FAILED, int(Reason.LINK_LOST))
    # Sent twice (once and one resend): twice the bits, and one timeout before the resend.
    assert at == pytest.approx(1.0 + 2 * bits / 8e6 + st.dev.rto_s[0])
    assert st.tasks.down_bytes[tid] == pytest.approx(2 * bits / 8)


def test_a_lost_first_send_then_a_good_resend_is_done() -> None:
    st = world({"constant_mbps": 8, "rtt_ms": 0, "loss": 0.5, "max_retries": 3})
    rec = Recorder()
    radio = Radio(st, rec.close, rec.arrive)
    runs = iter([0, 5])  # the first run is empty: lost; then five good sends
    radio.successes = lambda p: next(runs)  # type: ignore[method-assign]
    (tid,) = add_tasks(st, 1, output_bytes=1000.0)
    radio.download(tid, 0, ready=1.0)
    ((_, at, outcome, _),) = rec.closed
    bits = 1000 * 8.0 + st.header_bits
    assert outcome == DONE
    assert at == pytest.approx(1.0 + 2 * bits / 8e6 + st.dev.rto_s[0])


def test_the_capture_probe_sees_the_uplink_queue_and_the_cpu_backlog() -> None:
    st = world({"constant_mbps": 8, "rtt_ms": 0}, capture=True)
    radio = Radio(st, Recorder().close, Recorder().arrive)
    (tid,) = add_tasks(st, 1, input_bytes=10_000.0)
    st.dev.cpu_free[0] = 2.0
    st.dev.up[0].transfer(0.0, 8e6)  # the uplink is busy until 1.0 s
    before = (st.dev.up[0].free_bits, st.dev.up[0].free_s)
    radio.probe(tid, 0, a=0.5)
    assert st.capture is not None
    (probe,) = st.capture.probes
    bits = 10_000 * 8.0 + st.header_bits
    assert probe.task == tid
    assert probe.local_wait_s == pytest.approx(1.5)  # the CPU is busy until 2.0
    assert (probe.up_start_s, probe.up_end_s) == (
        pytest.approx(1.0),
        pytest.approx(1.0 + bits / 8e6),
    )
    assert (st.dev.up[0].free_bits, st.dev.up[0].free_s) == before  # nothing queued


def test_the_failure_detector_declares_the_nodes_unreachable_while_the_link_stalls(
    tmp_path: Any,
) -> None:
    """``detector_timeout_s``: while a heartbeat sent that long ago could not be back
    (the link carries nothing from 5 s to 10 s), the device's nodes count as dead; a
    link without the field never does."""
    trace = tmp_path / "stall.txt"
    trace.write_text("0 8\n5 0\n10 8\n20 8\n")
    link = {"file": str(trace), "random_offset": False, "rtt_ms": 20}
    st = world(link | {"detector_timeout_s": 1.0})
    radio = Radio(st, Recorder().close, Recorder().arrive)
    assert [radio.unreachable(0, t) for t in (2.0, 5.5, 7.0, 9.9, 11.5)] == [
        False,
        False,  # the stall began 0.5 s ago: a heartbeat from 4.5 s is back
        True,
        True,
        False,  # the link carries again since 10 s
    ]
    always = Radio(world(link), Recorder().close, Recorder().arrive)
    assert not any(always.unreachable(0, t) for t in (2.0, 7.0, 9.9))
