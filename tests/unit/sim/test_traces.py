"""Trace and workload loaders: units checked against the figures in data/SOURCES.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.traces import (
    DATASETS,
    WORKLOADS,
    Trace,
    load_dataset,
    load_ghent,
    load_nyu,
    load_trace_file,
    load_workload,
)


def pooled(name: str) -> np.ndarray:
    return np.concatenate([t.mbps for t in load_dataset(name)])


@pytest.mark.parametrize(
    ("name", "files", "median", "tolerance"),
    [
        # SOURCES.md: Norway test set median 1.45 Mbit/s, 0.15 to 8.0.
        ("pensieve_test", 142, 1.45, 0.02),
        # Ghent: bytes/ms * 0.008 = Mbit/s; median about 28.8.
        ("ghent_4g", 40, 28.8, 0.02),
        # mahimahi: both directions of two traces; the pooled median sits near the
        # downlinks' 3.7 and 4.3.
        ("mahimahi", 4, 3.7, 0.1),
    ],
)
def test_dataset_units_match_the_sources(
    name: str, files: int, median: float, tolerance: float
) -> None:
    traces = load_dataset(name)
    assert len(traces) == files
    assert np.median(pooled(name)) == pytest.approx(median, rel=tolerance)


def test_norway_range_and_ghent_tail_match_the_sources() -> None:
    norway = pooled("pensieve_test")
    assert norway.min() == pytest.approx(0.15, abs=0.005)
    assert norway.max() == pytest.approx(8.0, abs=0.05)
    ghent = pooled("ghent_4g")
    assert np.percentile(ghent, 10) == pytest.approx(9.2, rel=0.05)
    assert ghent.max() == pytest.approx(111, rel=0.02)


def test_mahimahi_downlink_medians_per_trace() -> None:
    by_name = {t.name: t for t in load_dataset("mahimahi")}
    att = by_name["ATT-LTE-driving-2016.down"]
    verizon = by_name["Verizon-LTE-short.down"]
    assert att.direction == "down"
    assert att.duration_s == pytest.approx(120, abs=1)
    assert verizon.duration_s == pytest.approx(140, abs=1)
    assert np.median(att.mbps) == pytest.approx(3.7, rel=0.05)
    assert np.median(verizon.mbps) == pytest.approx(4.3, rel=0.05)


def test_every_dataset_loads_with_positive_capacity() -> None:
    for name in DATASETS:
        traces = load_dataset(name)
        assert traces, name
        for trace in traces:
            assert trace.dataset == name
            assert trace.times_s[0] == 0.0
            assert trace.mean_mbps() > 0


def test_pensieve_train_mixes_fcc_and_norway_logs() -> None:
    names = [t.name for t in load_dataset("pensieve_train")]
    assert len(names) == 127
    assert sum(n.startswith("trace_") for n in names) == 59


def test_nyu_honours_the_unit_of_each_row(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("2,Mbits/sec\n500,Kbits/sec\n250000,bits/sec\n")
    (trace,) = load_nyu(tmp_path)
    np.testing.assert_allclose(trace.mbps, [2.0, 0.5, 0.25])
    assert trace.duration_s == 3.0


def test_nyu_bad_unit_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("2,Mbits/sec\n5,Gbits/sec\n")
    with pytest.raises(ConfigError, match=r"t\.csv, line 2"):
        load_nyu(tmp_path)


def test_ghent_capacity_is_bytes_per_ms(tmp_path: Path) -> None:
    pattern = [
        {"time": 1.0, "duration": 1000, "capacity": 1000.0},
        {"time": 2.0, "duration": 1000, "capacity": 250.0},
    ]
    doc = json.dumps({"uplink": {"trace_pattern": pattern}})
    (tmp_path / "r.json").write_text(doc)
    (trace,) = load_ghent(tmp_path)
    # 1000 bytes/ms = 8 Mbit/s.
    np.testing.assert_allclose(trace.mbps, [8.0, 2.0])
    np.testing.assert_allclose(trace.times_s, [0.0, 1.0])
    assert trace.duration_s == 2.0


def test_ucc_keeps_download_sessions_in_mbps() -> None:
    traces = load_dataset("ucc_5g")
    assert len(traces) == 21
    assert all(t.name.startswith("Download/") for t in traces)
    # kbit/s -> Mbit/s: 5G bulk downloads sit in the tens of Mbit/s.
    assert 5 < np.median(pooled("ucc_5g")) < 100


def test_cumulative_bits_and_resample_preserve_the_integral() -> None:
    trace = Trace("t", "file", np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 4.0]), 4.0)
    np.testing.assert_allclose(trace.cumulative_bits(), [0, 1e6, 5e6, 9e6])
    assert trace.mean_mbps() == pytest.approx(9 / 4)
    half = trace.resample(0.5)
    assert len(half) == 8
    np.testing.assert_allclose(half.cumulative_bits()[-1], 9e6)
    np.testing.assert_allclose(trace.capacity_at([0.5, 1.0, 3.5, 4.5]), [1, 2, 4, 1])


def test_trace_arrays_are_read_only_copies() -> None:
    times = np.array([0.0, 1.0])
    trace = Trace("t", "file", times, np.array([1.0, 1.0]), 2.0)
    times[1] = 5.0
    assert trace.times_s[1] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        trace.mbps[0] = 3.0


@pytest.mark.parametrize(
    ("times", "mbps", "duration", "problem"),
    [
        ([0.0, 0.0], [1.0, 1.0], 2.0, "strictly increase"),
        ([1.0, 2.0], [1.0, 1.0], 3.0, "start at 0"),
        ([0.0, 1.0], [1.0, -1.0], 2.0, ">= 0"),
        ([0.0, 1.0], [1.0, 1.0], 1.0, "must exceed"),
        ([0.0, 1.0], [0.0, 0.0], 2.0, "zero throughout"),
    ],
)
def test_bad_traces_are_refused(
    times: list[float], mbps: list[float], duration: float, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        Trace("t", "file", np.array(times), np.array(mbps), duration)


def test_unknown_names_and_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown bandwidth dataset 'wifi'"):
        load_dataset("wifi")
    with pytest.raises(ConfigError, match="unknown workload"):
        load_workload("google")
    with pytest.raises(ConfigError, match="trace file not found"):
        load_trace_file(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="trace folder not found"):
        load_dataset("ghent_4g", data=tmp_path)


def test_own_trace_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("0 5\n1 10\n2 5\n")
    trace = load_trace_file(path)
    assert trace.duration_s == 3.0
    assert trace.mean_mbps() == pytest.approx(20 / 3)
    path.write_text("0 5 7\n")
    with pytest.raises(ConfigError, match="3 columns, expected two columns"):
        load_trace_file(path)


def test_workloads_match_the_sources() -> None:
    sizes = {"alibaba_gpu": 8152, "azure_code": 8819, "azure_conv": 19366}
    for name in WORKLOADS:
        arrivals = load_workload(name)
        assert arrivals.arrival_s[0] == 0.0
        assert np.all(np.diff(arrivals.arrival_s) >= 0)
        if name in sizes:
            assert len(arrivals) == sizes[name]
    lora = load_workload("alibaba_lora")
    assert np.median(lora.columns["exec_time_s"]) == pytest.approx(23)
    gpu = load_workload("alibaba_gpu")
    assert np.median(gpu.columns["lifetime_s"]) == pytest.approx(540, rel=0.05)
    # Azure: about an hour of requests.
    assert load_workload("azure_code").duration_s == pytest.approx(3600, rel=0.1)
