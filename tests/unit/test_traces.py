"""Trace and workload loaders on small hand-written files: formats, units, refusals.

(The bundled datasets themselves are checked in ``tests/unit/sim/test_traces.py``.)
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.traces import (
    Arrivals,
    Trace,
    load_ghent,
    load_mahimahi,
    load_nyu,
    load_pensieve,
    load_trace_file,
    load_ucc_5g,
    load_workload,
)


def test_pensieve_last_sample_holds_for_the_median_interval(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("10 1\n11 2\n12 3\n14 4\n")
    (tmp_path / "a.txt").write_text("0 1\n1 1\n")
    (tmp_path / ".hidden").write_text("junk")
    a, b = load_pensieve(tmp_path, "pensieve_train")
    assert (a.name, b.name, b.dataset) == ("a.txt", "b.txt", "pensieve_train")
    assert b.times_s.tolist() == [0.0, 1.0, 2.0, 4.0]  # shifted to start at 0
    assert b.duration_s == 5.0  # median step 1 s after the last sample


def test_a_bad_line_is_named_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("0 1\n# a comment\n1 fast\n")
    with pytest.raises(ConfigError, match=r"t\.txt: line 3 is '1 fast': expected two columns"):
        load_trace_file(path)
    path.write_text("  \n")
    with pytest.raises(ConfigError, match=r"t\.txt: empty \(expected two columns"):
        load_trace_file(path)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no trace files in"):
        load_pensieve(tmp_path)


def test_mahimahi_counts_packets_per_bin(tmp_path: Path) -> None:
    # Packets at 0.1, 0.5, 0.9 s, then 1.2 s; the period ends at 2.5 s.
    (tmp_path / "cell.up").write_text("100\n500\n900\n1200\n2500\n")
    (trace,) = load_mahimahi(tmp_path)
    assert trace.direction == "up" and trace.duration_s == 2.5
    assert trace.times_s.tolist() == [0.0, 1.0, 2.0]
    packet_mbit = 1500 * 8 / 1e6
    # The last bin is half a second long: its one packet counts double per second.
    np.testing.assert_allclose(trace.mbps, [3 * packet_mbit, packet_mbit, 2 * packet_mbit])
    (tmp_path / "cell.up").write_text("0\n")
    with pytest.raises(ConfigError, match="no packet timestamps"):
        load_mahimahi(tmp_path)


def test_ghent_records_with_the_same_start_keep_the_first(tmp_path: Path) -> None:
    pattern = [
        {"time": 1.0, "duration": 1000, "capacity": 125.0},
        {"time": 1.0, "duration": 1000, "capacity": 500.0},  # repeats the start 0.0
        {"time": 3.0, "duration": 2000, "capacity": 250.0},
    ]
    (tmp_path / "r.json").write_text(json.dumps({"uplink": {"trace_pattern": pattern}}))
    (trace,) = load_ghent(tmp_path)
    assert trace.times_s.tolist() == [0.0, 1.0]
    np.testing.assert_allclose(trace.mbps, [1.0, 2.0])
    assert trace.duration_s == 3.0
    (tmp_path / "r.json").write_text(json.dumps({"downlink": {}}))
    with pytest.raises(ConfigError, match=r"r\.json: not a ReCoCo trace_pattern"):
        load_ghent(tmp_path)


UCC_HEADER = "Timestamp,State,DL_bitrate,UL_bitrate\n"


def ucc_zip(path: Path) -> Path:
    rows = [
        "2019.12.16_13.40.04,D,1000,10",
        "2019.12.16_13.40.04,D,3000,30",  # the same second: averaged
        "2019.12.16_13.40.05,I,9999,99",  # idle: no capacity measured
        "2019.12.16_13.40.06,D,4000,-",
    ]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("5G/Download/Static/s1.csv", UCC_HEADER + "\n".join(rows) + "\n")
        z.writestr("__MACOSX/Download/._s1.csv", "junk")
        z.writestr("5G/Netflix/s2.csv", UCC_HEADER + "\n".join(rows) + "\n")
        z.writestr("5G/Download/short.csv", UCC_HEADER + rows[0] + "\n")  # one second
    return path


def test_ucc_keeps_download_rows_averaged_per_second(tmp_path: Path) -> None:
    (trace,) = load_ucc_5g(ucc_zip(tmp_path / "u.zip"))
    assert (trace.name, trace.direction) == ("Download/Static/s1", "down")
    assert trace.times_s.tolist() == [0.0, 2.0]
    np.testing.assert_allclose(trace.mbps, [2.0, 4.0])  # kbit/s -> Mbit/s
    assert trace.duration_s == 3.0
    # Uplink: the row without a figure ("-") is dropped, leaving one second per
    # session, too few to be a trace.
    with pytest.raises(ConfigError, match="no sessions from folders"):
        load_ucc_5g(tmp_path / "u.zip", direction="up")


def test_ucc_refusals(tmp_path: Path) -> None:
    path = ucc_zip(tmp_path / "u.zip")
    with pytest.raises(ConfigError, match="direction must be 'down' or 'up', got 'both'"):
        load_ucc_5g(path, direction="both")
    with pytest.raises(ConfigError, match=r"no sessions from folders \('Upload',\)"):
        load_ucc_5g(path, folders=["Upload"])
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="cannot open trace archive"):
        load_ucc_5g(tmp_path / "bad.zip")


def test_capacity_repeats_and_scaling() -> None:
    trace = Trace("t", "file", np.array([0.0, 2.0]), np.array([1.0, 3.0]), 3.0)
    np.testing.assert_allclose(trace.capacity_at([-0.5, 2.9, 3.0, 5.5]), [3.0, 3.0, 1.0, 3.0])
    assert trace.spans_s.tolist() == [2.0, 1.0]
    double = trace.scaled(2.0)
    assert double.mbps.tolist() == [2.0, 6.0] and double.duration_s == 3.0
    with pytest.raises(ConfigError, match="trace scale must be > 0, got 0"):
        trace.scaled(0)
    with pytest.raises(ConfigError, match="resample step must be > 0 s"):
        trace.resample(0.0)
    # A step that does not divide the period: the last interval is shorter.
    coarse = trace.resample(2.5)
    assert coarse.times_s.tolist() == [0.0, 2.5]
    np.testing.assert_allclose(coarse.mbps, [(2 * 1 + 0.5 * 3) / 2.5, 3.0])


def test_a_trace_error_names_its_dataset_and_file() -> None:
    with pytest.raises(ConfigError, match=r"trace nyu_lte/x: capacities must be finite"):
        Trace("x", "nyu_lte", np.array([0.0]), np.array([np.inf]), 1.0)
    with pytest.raises(ConfigError, match=r"trace file x: times \(2,\) and values \(1,\)"):
        Trace("x", "file", np.array([0.0, 1.0]), np.array([1.0]), 2.0)


def test_arrivals_rate() -> None:
    arrivals = Arrivals("w", np.array([0.0, 1.0, 4.0]))
    assert (len(arrivals), arrivals.duration_s, arrivals.mean_rate_hz()) == (3, 4.0, 0.5)
    empty = Arrivals("w", np.zeros(0))
    assert (empty.duration_s, empty.mean_rate_hz()) == (0.0, 0.0)


def workload_dir(tmp_path: Path, rel: str, text: str) -> Path:
    path = tmp_path / "workload" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return tmp_path


def test_azure_arrivals_are_sorted_seconds_from_the_first(tmp_path: Path) -> None:
    data = workload_dir(
        tmp_path,
        "azure/AzureLLMInferenceTrace_code.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:47.500000,30,5\n"
        "2023-11-16 18:15:46.000000,10,1\n"
        "2023-11-16 18:15:46.250000,20,\n",
    )
    arrivals = load_workload("azure_code", data)
    assert arrivals.arrival_s.tolist() == [0.0, 0.25, 1.5]
    assert arrivals.columns["context_tokens"].tolist() == [10, 20, 30]
    generated = arrivals.columns["generated_tokens"]
    assert generated[0] == 1 and np.isnan(generated[1]) and generated[2] == 5


def test_alibaba_workloads(tmp_path: Path) -> None:
    workload_dir(
        tmp_path,
        "alibaba/openb_pod_list_default.csv",
        "creation_time,deletion_time,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
        "100,700,1000,2048,1,500\n50,60,2000,1024,0,0\n",
    )
    gpu = load_workload("alibaba_gpu", tmp_path)
    assert gpu.arrival_s.tolist() == [0.0, 50.0]
    assert gpu.columns["lifetime_s"].tolist() == [10.0, 600.0]
    workload_dir(
        tmp_path,
        "alibaba/lora_request_trace.csv",
        "gmt_create,predict_status,exec_time_seconds,num_inference_steps,num_images_per_prompt\n"
        "2024-01-01T00:00:10,SUCCEED,20,30,1\n"
        "2024-01-01T00:00:00,FAILED,1,30,1\n"
        "2024-01-01T00:00:12,SUCCEED,25,50,2\n",
    )
    lora = load_workload("alibaba_lora", tmp_path)
    assert lora.arrival_s.tolist() == [0.0, 2.0]  # failed requests are not arrivals
    assert lora.columns["num_images"].tolist() == [1.0, 2.0]


def test_malformed_workload_files_are_named(tmp_path: Path) -> None:
    data = workload_dir(tmp_path, "azure/AzureLLMInferenceTrace_conv.csv", "TIMESTAMP\n")
    with pytest.raises(ConfigError, match="has no rows"):
        load_workload("azure_conv", data)
    workload_dir(tmp_path, "azure/AzureLLMInferenceTrace_conv.csv", "when,tokens\n1,2\n")
    with pytest.raises(ConfigError, match=r"_conv\.csv: unexpected format"):
        load_workload("azure_conv", data)
    with pytest.raises(ConfigError, match="cannot read workload file"):
        load_workload("azure_code", data)


def test_an_empty_mahimahi_file_is_named(tmp_path: Path) -> None:
    # Found while writing these tests: an empty file used to raise numpy's "zero-size
    # array to reduction operation maximum" (after loadtxt's "input contained no data").
    (tmp_path / "empty.down").write_text("")
    with pytest.raises(ConfigError, match=r"empty\.down: no packet timestamps"):
        load_mahimahi(tmp_path)


def test_files_without_samples_are_named(tmp_path: Path) -> None:
    # Found while writing these tests: both used to raise an IndexError.
    nyu = tmp_path / "nyu"
    nyu.mkdir()
    (nyu / "idle.csv").write_text("\n")
    with pytest.raises(ConfigError, match="trace nyu_lte/idle: no samples"):
        load_nyu(nyu)
    ghent = tmp_path / "ghent"
    ghent.mkdir()
    (ghent / "r.json").write_text(json.dumps({"uplink": {"trace_pattern": []}}))
    with pytest.raises(ConfigError, match="trace ghent_4g/r: no samples"):
        load_ghent(ghent)


def test_ucc_skips_csv_files_at_the_top_of_the_archive(tmp_path: Path) -> None:
    # Found while writing these tests: a top-level entry used to raise an IndexError.
    path = ucc_zip(tmp_path / "u.zip")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("README.csv", "not a session\n")
    (trace,) = load_ucc_5g(path)
    assert trace.name == "Download/Static/s1"
