"""One short ``bench e2e`` run for real: an emulated network replaying a real trace, a
CPU-capped device, two node processes, the auto policy and a node killed halfway (small
counts, about 15 s). The full benchmark is ``edgeoffload bench e2e``, outside make test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeoffload.emulation import available
from edgeoffload.emulation.cpu import backend

REASON = available() or (None if backend() is not None else "no cgroup with CPU bandwidth control")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
ROOT = Path(__file__).resolve().parents[2]


def test_a_short_run_writes_every_key_and_each_task_completes_exactly_once(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeoffload",
            "bench",
            "--out",
            str(tmp_path),
            "e2e",
            "--example",
            "tests.apps.tiny",
            "--trace",
            "ghent_4g:report_bus_0001",
            "--tasks",
            "12",
            "--policies",
            "auto",
            "--no-cache",
            "--no-sim",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((tmp_path / "e2e-tiny.json").read_text())
    assert set(data) == {"machine", "trace", "device_cpu_share", "policies", "failover", "cache"}
    assert data["trace"] == "ghent_4g:report_bus_0001"
    assert data["device_cpu_share"] == 0.25
    auto = data["policies"]["auto"]
    assert set(auto) == {
        "latency_ms",
        "deadline_miss_rate",
        "throughput_per_s",
        "uplink_bytes",
        "device_energy_j",
        "offload_share",
    }
    assert set(auto["latency_ms"]) == {"p50", "p95", "p99"}
    assert auto["device_energy_j"] > 0 and auto["throughput_per_s"] > 0
    # the device really is slower than the host: its speed was measured under the cap
    assert data["machine"]["device_hz"] < data["machine"]["host_hz"]
    assert data["failover"] == {"tasks": 12, "completed": 12, "lost": 0, "duplicates": 0}
    assert set(data["cache"]) == {"hit_rate", "uplink_bytes_saved", "latency_saved_ms"}
    detail = json.loads((tmp_path / "e2e-tiny.ghent_4g_report_bus_0001.detail.json").read_text())
    # every answer checked against the application's own check
    assert detail["runs"]["auto"]["wrong"] == 0 and detail["runs"]["auto"]["checked"] > 0
    assert (tmp_path / "img" / "e2e-tiny-ghent_4g_report_bus_0001-cdf.png").stat().st_size > 0


def test_the_installed_command_finds_the_examples_from_the_checkout_root(tmp_path: Path) -> None:
    """`edgeoffload bench e2e --example traffic` as the docs give it, run by the console
    script (whose sys.path, unlike ``python -m``'s, lacks the current folder): it once
    refused with "cannot import examples.traffic.workload: No module named 'examples'".
    A missing trace file is the next refusal, so reaching it shows the example loaded."""
    script = Path(sys.executable).parent / "edgeoffload"
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (package not installed)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT / "src")  # the package, not the checkout root
    out = subprocess.run(
        [str(script), "bench", "--out", str(tmp_path), "e2e", "--example", "traffic",
         "--trace", str(tmp_path / "missing.trace")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "cannot import" not in out.stderr
    assert "missing.trace" in out.stderr and "Traceback" not in out.stderr
