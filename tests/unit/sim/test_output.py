"""Records, summaries and reports written by a run."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim import compare, output, summarize
from edgeoffload.sim.output import write_json, write_records
from edgeoffload.sim.report import PLOTS, write_report

from .conftest import small


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return compare(small(), ["always_local", "cost_model"])


def test_records_round_trip_as_csv_and_parquet(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = results[1]
    path = write_records(result, tmp_path / "records", "csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == result.n_tasks
    assert {"task", "app_name", "node", "outcome_name", "latency_s", "energy_j"} <= set(rows[0])
    assert {r["outcome_name"] for r in rows} <= {"done", "dropped", "failed"}
    import pyarrow.parquet as pq

    table = pq.read_table(write_records(result, tmp_path / "records", "parquet"))
    assert table.num_rows == result.n_tasks
    np.testing.assert_allclose(table.column("energy_j").to_numpy(), result.records["energy_j"])
    with pytest.raises(ConfigError, match="format must be one of"):
        write_records(result, tmp_path / "r", "xlsx")


def test_records_in_chunks_the_same_with_and_without_pyarrow(  # type: ignore[no-untyped-def]
    results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = results[1]
    monkeypatch.setattr(output, "CHUNK_ROWS", 7)  # many chunks, the last one short
    with_arrow = write_records(result, tmp_path / "a", "csv")
    output._write_csv(result, tmp_path / "b.csv")  # the standard library's writer
    paths = (with_arrow, tmp_path / "b.csv")
    rows = [list(csv.DictReader(io.StringIO(p.read_text()))) for p in paths]
    assert len(rows[0]) == len(rows[1]) == result.n_tasks
    assert [r["task"] for r in rows[0]] == [str(i) for i in range(result.n_tasks)]
    for a, b in zip(*rows, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            try:
                x, y = float(a[key]), float(b[key])
            except ValueError:
                assert a[key] == b[key], key
                continue
            assert x == y or (np.isnan(x) and np.isnan(y)), key


def test_summary_is_consistent_with_the_records(results) -> None:  # type: ignore[no-untyped-def]
    local, cost = (summarize(r) for r in results)
    assert local["offload_share"] == 0.0
    assert local["node_utilisation"] == 0.0
    assert cost["tasks"] == cost["done"] + cost["dropped"] + cost["failed"]
    r = results[1].records
    done = r["outcome"] == 0
    assert cost["latency_s"]["p50"] == pytest.approx(np.median(r["latency_s"][done]))
    assert cost["device_energy_j"] == pytest.approx(r["energy_j"].sum())
    assert set(local["by_app"]) == {"frame"}


def test_json_has_no_nan(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_json([summarize(r) for r in results], tmp_path / "s.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)[0]["policy"] == "always_local"


def test_report_has_every_plot_and_a_page(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = write_report(results, tmp_path)
    for name in PLOTS:
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}.png"' in page.read_text()
    html = page.read_text()
    assert "always_local" in html and "cost_model" in html
