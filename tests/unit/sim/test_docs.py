"""docs/simulator.md documents every scenario field and every record column."""

from __future__ import annotations

from pathlib import Path

import msgspec

from edgeoffload.sim import scenario as sc
from edgeoffload.sim.table import DYNAMIC, STATIC

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulator.md"

STRUCTS = (
    sc.Scenario, sc.DeviceGroup, sc.DevicePower, sc.LinkSpec, sc.WorkloadSpec, sc.ArrivalSpec,
    sc.AppSpec, sc.StageSpec, sc.NodeGroup, sc.CacheSpec, sc.FailureSpec, sc.CloudSpec,
    sc.BatchingSpec, sc.EstimatorSpec,
)  # fmt: skip


def test_every_scenario_field_is_documented() -> None:
    text = DOC.read_text()
    missing = [
        f"{cls.__name__}.{f.name}"
        for cls in STRUCTS
        for f in msgspec.structs.fields(cls)
        if f.name not in ("name",) and f"`{f.name}`" not in text and f"{f.name}:" not in text
    ]
    assert not missing, missing


def test_every_record_column_is_documented() -> None:
    text = DOC.read_text()
    internal = {"compute_by_s"}
    missing = [c for c in (*STATIC, *DYNAMIC) if c not in internal and f"`{c}`" not in text]
    assert not missing, missing
