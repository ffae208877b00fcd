"""A sweep's inputs and its in-process path: the grid's order (policies and seeds
inside each grid value), an empty grid, the refusals with their messages, the address
probe that refuses an unreachable scheduler at once, and one worker running the
points in order with progress after each."""

from __future__ import annotations

import socket

import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.sim.scenario import with_overrides
from edgeoffload.sim.sweep import Point, _first_line, _probe, points, run_point, sweep

from .conftest import small


def tiny():  # type: ignore[no-untyped-def]
    return with_overrides(small(), {"duration_s": 2.0, "devices[0].count": 1})


def test_policies_then_seeds_vary_fastest() -> None:
    todo = points({"seed": [10, 20]}, ["a", "b"], [0, 1])
    assert [(p.overrides["seed"], p.policy, p.seed) for p in todo] == [
        (10, "a", 0),
        (10, "a", 1),
        (10, "b", 0),
        (10, "b", 1),
        (20, "a", 0),
        (20, "a", 1),
        (20, "b", 0),
        (20, "b", 1),
    ]


def test_an_empty_grid_is_one_point_per_policy_and_seed() -> None:
    assert points({}, ["a"], [3, 4]) == [Point({}, "a", 3), Point({}, "a", 4)]
    assert points({"x": []}, ["a"], [0]) == []  # an empty axis: nothing to run


def test_bad_workers_and_backend_are_refused_with_their_values() -> None:
    with pytest.raises(ConfigError) as err:
        sweep(tiny(), {}, ["cost_model"], workers=0)
    assert str(err.value) == "sweep workers must be >= 1, got 0"
    with pytest.raises(ConfigError) as err:
        sweep(tiny(), {}, ["cost_model"], backend="slurm")
    assert str(err.value) == "sweep backend must be one of local, ray, dask, got 'slurm'"


def test_one_worker_runs_the_points_in_order_with_progress_after_each() -> None:
    seen: list[tuple[int, int]] = []
    results = sweep(
        tiny(),
        {"devices[0].count": [2, 1]},
        ["cost_model"],
        [0, 1],
        workers=1,
        on_result=lambda r: seen.append((r["overrides"]["devices[0].count"], r["seed"])),
    )
    assert seen == [(2, 0), (2, 1), (1, 0), (1, 1)]
    # 5 tasks per second per device for 2 s.
    assert [r["summary"]["tasks"] for r in results] == [20, 20, 10, 10]
    assert results[0]["summary"]["seed"] == 0 and results[1]["summary"]["seed"] == 1


def test_run_point_applies_its_overrides_to_the_plain_scenario() -> None:
    import msgspec

    doc = msgspec.to_builtins(tiny())
    out = run_point(doc, Point({"duration_s": 1.0}, "always_local", 0))
    assert (out["policy"], out["seed"], out["overrides"]) == (
        "always_local",
        0,
        {"duration_s": 1.0},
    )
    assert out["summary"]["tasks"] == 5 and out["summary"]["offload_share"] == 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_the_probe_refuses_a_port_nobody_listens_on() -> None:
    port = _free_port()
    with pytest.raises(ConfigError) as err:
        _probe(f"127.0.0.1:{port}", "Dask scheduler")
    assert str(err.value).startswith(
        f"--address 127.0.0.1:{port}: cannot join the Dask scheduler: "
    )
    assert "refused" in str(err.value)
    with pytest.raises(ConfigError, match="cannot join the Ray cluster"):
        _probe(f"ray://127.0.0.1:{port}", "Ray cluster", ("ray",))


def test_the_probe_refuses_a_wrong_scheme_and_lets_others_through() -> None:
    with pytest.raises(ConfigError) as err:
        _probe("http://h:1", "Ray cluster", ("ray",))
    assert str(err.value) == (
        "--address http://h:1: a Ray cluster address is HOST:PORT or ray://HOST:PORT"
    )
    # Nothing to probe: "auto", a scheme the client handles, a name without a port.
    _probe("auto", "Ray cluster", ("ray",))
    _probe("inproc://x", "Dask scheduler")
    _probe("somehost", "Dask scheduler")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        _probe(f"tcp://127.0.0.1:{listening.getsockname()[1]}", "Dask scheduler")


def test_first_line_of_an_error() -> None:
    assert _first_line(RuntimeError("  one\ntwo\n")) == "one"
    assert _first_line(RuntimeError("")) == "RuntimeError"
