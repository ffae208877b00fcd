"""Scenario files: bundled ones load; bad values are refused naming the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim import scenario as sc
from edgeoffload.sim.distributions import Choice, LogNormal, Uniform, Zipf, mean, sample

from .conftest import small


@pytest.mark.parametrize("name", ["manufacturing", "smart_city", "ultrasound", "stress"])
def test_bundled_scenarios_load_by_name(name: str) -> None:
    scenario = sc.load_scenario(name)
    assert scenario.name == name
    assert scenario.sources or name == "stress"


def test_stress_has_the_size_the_issue_asks_for() -> None:
    stress = sc.load_scenario("stress")
    assert sum(g.count for g in stress.devices) == 10_000
    assert sum(g.count for g in stress.nodes) == 100


def test_yaml_and_toml_give_the_same_scenario(tmp_path: Path) -> None:
    yaml_file = tmp_path / "s.yaml"
    yaml_file.write_text(
        "name: t\nduration_s: 5\napps: {a: {cpu_cycles: 1.0e9}}\n"
        "devices: [{workload: [{app: a}]}]\n"
    )
    toml_file = tmp_path / "s.toml"
    toml_file.write_text(
        'name = "t"\nduration_s = 5\n[apps.a]\ncpu_cycles = 1e9\n'
        '[[devices]]\nworkload = [{app = "a"}]\n'
    )
    assert sc.load_scenario(yaml_file) == sc.load_scenario(toml_file)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration_s": -1}, r"duration_s: Expected `float` > 0"),
        (
            {"devices": [{"workload": [{"app": "nope"}]}]},
            r"devices\[0\]\.workload\[0\]\.app: unknown app 'nope'",
        ),
        (
            {"devices": [{"cpu_hz": "fast", "workload": [{"app": "frame"}]}]},
            r"devices\[0\]\.cpu_hz",
        ),
        (
            {"devices": [{"link": {"loss": 1.5}, "workload": [{"app": "frame"}]}]},
            r"devices\[0\]\.link\.loss: Expected `float` < 1\.0",
        ),
        (
            {"devices": [{"link": {"dataset": "wifi"}, "workload": [{"app": "frame"}]}]},
            r"devices\[0\]\.link\.dataset: unknown 'wifi'",
        ),
        (
            {"devices": [{"workload": [{"app": "frame"}], "colour": 1}]},
            r"Object contains unknown field `colour` - at `\$\.devices\[0\]`|devices\[0\]",
        ),
        ({"nodes": [{"discipline": "lifo"}]}, r"nodes\[0\]\.discipline"),
        (
            {"nodes": [{"failures": {"at_s": [[10, 5]]}}]},
            r"nodes\[0\]\.failures\.at_s\[0\]: recovery",
        ),
        (
            {"nodes": [{"dvfs_levels": [1.0, 0.5]}]},
            r"nodes\[0\]\.dvfs_levels: must be in increasing order",
        ),
        (
            {
                "devices": [
                    {
                        "load": {"dist": "uniform", "low": 0.5, "high": 1.2},
                        "workload": [{"app": "frame"}],
                    }
                ]
            },
            r"devices\[0\]\.load: must lie in 0\.\.0\.95",
        ),
        (
            {"devices": [{"nodes_per_device": 5, "workload": [{"app": "frame"}]}]},
            r"devices\[0\]\.nodes_per_device: 5 > 2 nodes",
        ),
        (
            {
                "apps": {
                    "frame": {
                        "stages": [
                            {"name": "a", "cpu_cycles": 1},
                            {"name": "b", "cpu_cycles": 1, "after": ["c"]},
                        ]
                    }
                }
            },
            r"apps\.frame\.stages\[1\]\.after: 'c' is not an earlier stage",
        ),
        (
            {"apps": {"frame": {"input_bytes": {"dist": "uniform", "low": -5, "high": 5}}}},
            r"apps\.frame\.input_bytes: must not be negative",
        ),
        (
            {
                "devices": [
                    {
                        "workload": [
                            {"app": "frame", "arrivals": {"process": "trace", "workload": "google"}}
                        ]
                    }
                ]
            },
            r"arrivals\.workload: 'google' is not a workload trace",
        ),
    ],
)
def test_bad_values_name_the_field(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        small(**change)


def test_file_errors_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        sc.load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        sc.load_scenario(bad)
    other = tmp_path / "s.json"
    other.write_text("{}")
    with pytest.raises(ConfigError, match=r"use a \.yaml"):
        sc.load_scenario(other)
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level"):
        sc.load_scenario(top)


def test_python_built_scenarios_are_validated_too() -> None:
    built = sc.Scenario(
        name="py",
        duration_s=10.0,
        apps={"a": sc.AppSpec()},
        devices=[sc.DeviceGroup(workload=[sc.WorkloadSpec(app="b")])],
    )
    with pytest.raises(ConfigError, match=r"devices\[0\]\.workload\[0\]\.app: unknown app 'b'"):
        sc.validate(built)


def test_overrides_by_dotted_path() -> None:
    base = small()
    changed = sc.with_overrides(
        base, {"devices[0].count": 3, "batching.enabled": False, "nodes[0].cores": 2}
    )
    assert changed.devices[0].count == 3
    assert changed.batching.enabled is False
    assert changed.nodes[0].cores == 2
    assert base.devices[0].count == 8
    with pytest.raises(ConfigError, match="no field 'colour'"):
        sc.with_overrides(base, {"colour": 1})
    with pytest.raises(ConfigError, match=r"no field 'devices\.7'"):
        sc.with_overrides(base, {"devices[7].count": 1})
    with pytest.raises(ConfigError, match=r"devices\[0\]\.count"):
        sc.with_overrides(base, {"devices[0].count": 0})


def test_distributions_sample_and_mean() -> None:
    rng = np.random.default_rng(1)
    assert sample(2.5, rng, 3).tolist() == [2.5, 2.5, 2.5]
    draws = sample(Uniform(low=1.0, high=3.0), rng, 20000)
    assert draws.min() >= 1.0 and draws.max() < 3.0
    assert draws.mean() == pytest.approx(mean(Uniform(low=1.0, high=3.0)), rel=0.02)
    lognormal = LogNormal(median=100.0, sigma=0.5)
    assert np.median(sample(lognormal, rng, 20000)) == pytest.approx(100.0, rel=0.03)
    choice = Choice(values=[1.0, 2.0], weights=[3.0, 1.0])
    assert sample(choice, rng, 20000).mean() == pytest.approx(mean(choice), rel=0.02)
    keys = Zipf(100, 1.0).sample(rng, 50000)
    counts = np.bincount(keys, minlength=100)
    assert counts[0] > counts[1] > counts[9] > 0
    assert keys.max() < 100
