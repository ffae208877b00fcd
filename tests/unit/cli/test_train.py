"""cli.train: the link of every device group replaced by a dataset or a trace file
(nothing else changed), the default scenario shipped with the package, and the
refusals that come before any simulation."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeoffload.cli import main
from edgeoffload.cli.train import DEFAULT_SCENARIO, MODELS, with_link
from edgeoffload.sim.runner import as_scenario


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return as_scenario(DEFAULT_SCENARIO)


def test_the_default_scenario_ships_with_the_package(scenario) -> None:  # type: ignore[no-untyped-def]
    assert Path(DEFAULT_SCENARIO).is_file()
    assert scenario.name == "offload_mix"
    assert len(scenario.devices) >= 2


def test_with_a_dataset_every_link_replays_it(scenario) -> None:  # type: ignore[no-untyped-def]
    out = with_link(scenario, dataset="ghent_4g")
    assert [g.link.dataset for g in out.devices] == ["ghent_4g"] * len(scenario.devices)
    assert all(g.link.file is None and g.link.constant_mbps is None for g in out.devices)
    # the rest of each link (scales, RTT) and of the scenario is kept
    for before, after in zip(scenario.devices, out.devices, strict=True):
        assert after.link.uplink_scale == before.link.uplink_scale
        assert after.link.rtt_ms == before.link.rtt_ms
        assert after.count == before.count
    assert out.duration_s == scenario.duration_s


def test_a_trace_file_wins_over_a_dataset(scenario) -> None:  # type: ignore[no-untyped-def]
    out = with_link(scenario, dataset="ghent_4g", trace_file="t.txt")
    assert {(g.link.file, g.link.dataset) for g in out.devices} == {
        ("t.txt", scenario.devices[0].link.dataset)
    }


def test_without_either_the_links_are_unchanged(scenario) -> None:  # type: ignore[no-untyped-def]
    assert with_link(scenario) == scenario


def test_models() -> None:
    assert MODELS == ("mlp", "lstm", "gbdt", "bandwidth", "risk")


@pytest.mark.parametrize("records", ["0", "-5"])
def test_records_below_one_are_refused(
    records: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--out", str(tmp_path / "m"), "--records", records]) == 2
    assert capsys.readouterr().err == (
        f"edgeoffload train: configuration error: --records must be >= 1, got {records}\n"
    )
    assert not (tmp_path / "m").exists()


def test_out_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train"])
    assert exc.value.code == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err
