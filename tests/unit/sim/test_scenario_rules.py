"""The scenario's cross-field rules test_scenario.py leaves out, each with its whole
message: no apps, the stage rules of a task graph, device speed and DVFS order, link
sources, trace-only arrival fields; and the override paths that do not exist."""

from __future__ import annotations

from typing import Any

import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim import scenario as sc

from .conftest import small

DEVICE = {"workload": [{"app": "frame"}]}


def stages(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apps": {"frame": {"stages": [{"cpu_cycles": 1e8, **item} for item in items]}}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"apps": {}}, "apps: at least one app is required"),
        (stages(), "apps.frame.stages: give at least one stage (or leave stages out)"),
        (
            stages({"name": "a"}, {"name": "a", "after": ["a"]}),
            "apps.frame.stages[1].name: duplicate stage 'a'",
        ),
        (
            stages({"name": "a", "after": ["x"]}),
            "apps.frame.stages[0].after: the first stage reads the app's input",
        ),
        (
            stages({"name": "a"}, {"name": "b", "after": []}),
            "apps.frame.stages[1].after: only the first stage may have no inputs",
        ),
        (
            stages({"name": "a", "output_bytes": -1}),
            "apps.frame.stages[0]: sizes must not be negative",
        ),
        ({"devices": [{**DEVICE, "cpu_hz": 0}]}, "devices[0].cpu_hz: must be > 0"),
        (
            {"devices": [{**DEVICE, "dvfs_levels": [1.0, 0.5]}]},
            "devices[0].dvfs_levels: must be in increasing order",
        ),
        (
            {"devices": [{**DEVICE, "link": {"constant_mbps": 5, "file": "x.csv"}}]},
            "devices[0].link: give at most one of constant_mbps and file",
        ),
        (
            {"devices": [{"workload": [{"app": "frame", "arrivals": {"size_column": "s"}}]}]},
            "devices[0].workload[0].arrivals: workload and size_column need process: trace",
        ),
    ],
)
def test_each_rule_names_its_field_and_problem(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        small(**change)
    assert str(err.value) == f"scenario: {message}"


def test_a_valid_graph_app_passes_and_keeps_its_stages() -> None:
    s = small(**stages({"name": "a"}, {"name": "b", "after": ["a"]}, {"name": "c"}))
    app = s.apps["frame"]
    assert app.stages is not None
    assert [(st.name, st.after) for st in app.stages] == [("a", None), ("b", ["a"]), ("c", None)]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("devices[0]..count", "override 'devices[0]..count': bad path segment ''"),
        ("devices[x].count", "override 'devices[x].count': bad path segment 'devices[x]'"),
        ("nodes[0].failures.at_s[3]", "override 'nodes[0].failures.at_s[3]': no field 3"),
        ("name.first", "override 'name.first': no field 'first'"),
        ("duration_s.x.y", "override 'duration_s.x.y': no field 'duration_s.x'"),
    ],
)
def test_override_paths_that_do_not_exist(path: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        sc.with_overrides(small(), {path: 1})
    assert str(err.value) == message


def test_an_override_into_a_list_replaces_that_entry_and_is_validated() -> None:
    base = small(nodes=[{"cores": 1, "speed_hz": 1e9, "dvfs_levels": [0.5, 1.0]}])
    changed = sc.with_overrides(base, {"nodes[0].dvfs_levels[0]": 0.25})
    assert changed.nodes[0].dvfs_levels == [0.25, 1.0]
    with pytest.raises(ConfigError) as err:
        sc.with_overrides(base, {"nodes[0].dvfs_levels[1]": 0.25})
    assert str(err.value) == (
        "scenario 'small' with overrides: nodes[0].dvfs_levels: must be in increasing order"
    )


def test_bundled_names_load_and_are_sorted() -> None:
    names = sc.bundled_names()
    assert names == sorted(names) and "stress" in names and "manufacturing" in names
    with pytest.raises(ConfigError) as err:
        sc.load_scenario("no_such_scenario")
    assert str(err.value) == (
        f"scenario no_such_scenario: no such file (bundled: {', '.join(names)})"
    )
