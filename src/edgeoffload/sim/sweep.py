"""Parameter sweeps: every combination of a grid, each policy and seed, run in parallel.

A grid maps dotted scenario paths to values (``{"devices[0].count": [10, 100],
"batching.enabled": [True, False]}``); each point is a scenario with those overrides
(:func:`~edgeoffload.sim.scenario.with_overrides`), run once per policy and seed. The
points are independent, so they go to a pool of worker processes on this machine
(``local``), or to a Ray or Dask cluster (``ray``, ``dask``: the ``bench`` extra;
an address joins a running cluster, none starts one here) rather than to a home-made
cluster. Each point returns its summary (:func:`~edgeoffload.sim.summary.summarize`);
:func:`aggregate` folds the seeds of each grid point and policy into means with 95 %
intervals (one seed's draw says little: policies often differ by less than seeds do).
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import msgspec

from ..errors import ConfigError
from ..stats import mean_ci95
from .runner import run
from .scenario import Scenario, from_dict, with_overrides
from .summary import summarize

BACKENDS = ("local", "ray", "dask")


@dataclass(frozen=True)
class Point:
    """One run of a sweep."""

    overrides: dict[str, Any]
    policy: str
    seed: int


def points(
    grid: Mapping[str, Sequence[Any]], policies: Sequence[str], seeds: Sequence[int]
) -> list[Point]:
    """Every combination, in a stable order (grid in key order, then policy, then seed)."""
    keys = list(grid)
    combos: Iterator[tuple[Any, ...]] = itertools.product(*(grid[k] for k in keys))
    return [
        Point(dict(zip(keys, values, strict=True)), policy, seed)
        for values in combos
        for policy in policies
        for seed in seeds
    ]


def run_point(scenario: dict[str, Any], point: Point) -> dict[str, Any]:
    """Run one point (in a worker): the scenario travels as plain data."""
    spec = with_overrides(from_dict(scenario), point.overrides)
    summary = summarize(run(spec, point.policy, seed=point.seed))
    return {
        "overrides": point.overrides,
        "policy": point.policy,
        "seed": point.seed,
        "summary": summary,
    }


#: The figures :func:`aggregate` folds over seeds: name -> how to read it from a summary
#: (in a scenario of task graphs, the jobs' latencies and misses, not their stages').
METRICS: dict[str, Callable[[dict[str, Any]], float | None]] = {
    "p50_ms": lambda s: _ms(_latency(s).get("p50")),
    "p95_ms": lambda s: _ms(_latency(s).get("p95")),
    "deadline_miss_rate": lambda s: (s.get("jobs") or s).get("deadline_miss_rate"),
    "device_energy_j": lambda s: s.get("device_energy_j"),
    "offload_share": lambda s: s.get("offload_share"),
}


def _latency(summary: dict[str, Any]) -> dict[str, Any]:
    return dict((summary.get("jobs") or summary).get("latency_s") or {})


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000.0 * seconds


def aggregate(results: Sequence[dict[str, Any]], params: Sequence[str]) -> list[dict[str, Any]]:
    """One row per grid point and policy, in the results' order: the value of each grid
    parameter, ``policy``, ``seeds`` (how many runs) and for each of :data:`METRICS` an
    :class:`~edgeoffload.stats.Interval` over those runs' seeds."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in results:
        key = (*(repr(r["overrides"].get(p)) for p in params), r["policy"])
        groups.setdefault(key, []).append(r)
    rows = []
    for runs in groups.values():
        first = runs[0]
        row: dict[str, Any] = {p: first["overrides"].get(p) for p in params}
        row["policy"] = first["policy"]
        row["seeds"] = len(runs)
        for name, read in METRICS.items():
            row[name] = mean_ci95(read(r["summary"]) for r in runs)
        rows.append(row)
    return rows


def sweep(
    scenario: Scenario,
    grid: Mapping[str, Sequence[Any]],
    policies: Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every point; results come back in :func:`points` order.

    Args:
        workers: local processes (default: the machine's cores).
        address: Ray or Dask scheduler to join (default: start a local one).
        on_result: called as each point finishes (progress).

    Raises:
        ConfigError: an unknown backend, a bad override (checked before anything
            runs), or a backend whose package is not installed.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"sweep backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers is not None and workers < 1:
        raise ConfigError(f"sweep workers must be >= 1, got {workers}")
    todo = points(grid, policies, seeds)
    for point in todo:  # fail fast on a bad path or value, before starting workers
        with_overrides(scenario, point.overrides)
    doc = msgspec.to_builtins(scenario)
    workers = workers or os.cpu_count() or 1
    if backend == "ray":
        results = _ray(doc, todo, address)
    elif backend == "dask":
        results = _dask(doc, todo, address, workers)
    else:
        results = _local(doc, todo, workers, on_result)
        return results
    if on_result is not None:
        for result in results:
            on_result(result)
    return results


def _probe(address: str, what: str, schemes: tuple[str, ...] | None = None) -> None:
    """Refuse at once an address not of ``schemes`` (None: any) or a TCP port nobody
    listens on (Ray's client retries for minutes, printing pages, before it gives up)."""
    scheme, sep, rest = address.rpartition("://")
    if address == "auto" or not rest:
        return
    if sep and schemes is not None and scheme not in schemes:
        kinds = " or ".join(f"{s}://HOST:PORT" for s in schemes)
        raise ConfigError(f"--address {address}: a {what} address is HOST:PORT or {kinds}")
    if sep and scheme not in ("ray", "tcp", "tls"):
        return  # inproc://, ucx://, ...: the client's business
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        return  # let the client say what it makes of it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3.0).close()
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise ConfigError(f"--address {address}: cannot join the {what}: {reason}") from None


def _first_line(exc: BaseException) -> str:
    """The first line of an error (cluster clients raise pages)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _local(
    doc: dict[str, Any],
    todo: list[Point],
    workers: int,
    on_result: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    if workers == 1 or len(todo) == 1:
        out = []
        for point in todo:
            out.append(run_point(doc, point))
            if on_result is not None:
                on_result(out[-1])
        return out
    results: list[dict[str, Any] | None] = [None] * len(todo)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)))
    try:
        futures = {pool.submit(run_point, doc, p): i for i, p in enumerate(todo)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if on_result is not None:
                on_result(future.result())
    except BaseException:
        # Interrupted (or a point failed): stop the workers now. Waiting for them, as the
        # executor's exit does, took 22 s when only this process got SIGINT.
        _stop(pool)
        raise
    pool.shutdown()
    return [r for r in results if r is not None]


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and terminate the worker processes."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=2.0)


def _ray(doc: dict[str, Any], todo: list[Point], address: str | None) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--backend ray needs ray (pip install 'edgeoffload[bench]')") from exc
    started = not ray.is_initialized()
    if started:
        if address is not None:
            _probe(address, "Ray cluster", ("ray",))
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ...
            raise ConfigError(
                f"--address {address}: cannot join the Ray cluster: {_first_line(exc)}"
            ) from None
    try:
        remote = ray.remote(run_point)
        ref = ray.put(doc)
        return list(ray.get([remote.remote(ref, p) for p in todo]))
    finally:
        if started:
            ray.shutdown()


def _dask(
    doc: dict[str, Any], todo: list[Point], address: str | None, workers: int
) -> list[dict[str, Any]]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(
            "--backend dask needs dask[distributed] (pip install 'edgeoffload[bench]')"
        ) from exc
    if address:
        _probe(address, "Dask scheduler")
        try:
            client = Client(address, timeout=5)  # type: ignore[no-untyped-call]
        except Exception as exc:  # OSError, TimeoutError, ValueError (a bad address), ...
            raise ConfigError(
                f"--address {address}: cannot join the Dask scheduler: {_first_line(exc)}"
            ) from None
    else:
        client = Client(n_workers=workers, threads_per_worker=1, processes=True)  # type: ignore[no-untyped-call]
    try:
        futures = client.map(run_point, [doc] * len(todo), todo, pure=False)
        return list(client.gather(futures))  # type: ignore[no-untyped-call]
    finally:
        client.close()  # type: ignore[no-untyped-call]
