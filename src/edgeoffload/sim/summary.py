"""One run's figures: latency, deadlines, energy, utilisation, offloading, caching,
batching, DVFS and bytes moved, computed from the per-task records.

Definitions (also in ``docs/simulator.md``):

- latency: result at the device minus creation, over tasks that were done;
- deadline miss rate: among tasks with a deadline, those not done in time (late,
  dropped or failed);
- offload share: tasks whose final placement was a node;
- cache hit rates: input-cache hits over lookups, result-cache hits over lookups;
  ``uplink_saved_share``: input bytes not sent over all input bytes offloaded;
- batching: transfers used for offloaded tasks, and the header bytes saved against one
  transfer per task;
- DVFS savings: 1 - energy / energy at always-maximum frequency (device: local compute;
  nodes: dynamic energy), same schedule;
- jobs (task graphs): the figures above count each stage as a task; ``jobs`` has the
  job's own: latency from its creation to its last result, deadline misses against its
  first stage's deadline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..decision.features import F64
from .results import REASON_NAMES, SimResult
from .table import Outcome


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"mean": float(values.mean()), "p50": float(p50), "p95": float(p95), "p99": float(p99)}


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def summarize(result: SimResult) -> dict[str, Any]:
    """The summary of one run (JSON-ready)."""
    r = result.records
    outcome = r["outcome"]
    done = outcome == int(Outcome.DONE)
    latency = r["latency_s"][done]
    has_deadline = np.isfinite(r["deadline_s"])
    missed = has_deadline & (r["deadline_met"] == 0)
    offloaded = r["target"] >= 0
    local = r["target"] == -1
    header = result.scenario.batching.header_bytes
    batch = r["batch"][offloaded & (r["batch"] > 0)]
    transfers = float(np.sum(1.0 / batch)) if batch.size else 0.0
    nodes = result.nodes
    hits = sum(n["input_cache_hits"] for n in nodes)
    lookups = hits + sum(n["input_cache_misses"] for n in nodes)
    rhits = sum(n["result_cache_hits"] for n in nodes)
    rlookups = rhits + sum(n["result_cache_misses"] for n in nodes)
    input_offloaded = float(r["input_bytes"][offloaded].sum())
    dyn = sum(n["dynamic_energy_j"] for n in nodes)
    dyn_max = sum(n["dynamic_energy_max_freq_j"] for n in nodes)
    local_e = float(r["energy_j"][local].sum())
    local_e_max = float(r["energy_max_freq_j"][local].sum())
    reasons = np.bincount(r["reason"][~done], minlength=len(REASON_NAMES))
    summary: dict[str, Any] = {
        "scenario": result.scenario.name,
        "policy": result.policy,
        "seed": result.seed,
        "duration_s": result.scenario.duration_s,
        "tasks": result.n_tasks,
        "done": int(done.sum()),
        "dropped": int((outcome == int(Outcome.DROPPED)).sum()),
        "failed": int((outcome == int(Outcome.FAILED)).sum()),
        "not_done_by_reason": {
            REASON_NAMES[i]: int(c) for i, c in enumerate(reasons.tolist()) if c and i
        },
        "latency_s": _stats(latency),
        "deadline_miss_rate": _share(float(missed.sum()), float(has_deadline.sum())),
        "device_energy_j": float(r["energy_j"].sum()),
        "device_energy_per_task_j": float(r["energy_j"].mean()) if result.n_tasks else None,
        "node_utilisation": float(np.mean([n["utilisation"] for n in nodes])) if nodes else None,
        "node_utilisation_max": float(np.max([n["utilisation"] for n in nodes])) if nodes else None,
        "offload_share": _share(float(offloaded.sum()), float((offloaded | local).sum())),
        "input_cache_hit_rate": _share(hits, lookups),
        "result_cache_hit_rate": _share(rhits, rlookups),
        "uplink_saved_bytes": result.uplink_saved_bytes,
        "uplink_saved_share": _share(result.uplink_saved_bytes, input_offloaded),
        "uplink_bytes": float(r["up_bytes"].sum()),
        "downlink_bytes": float(r["down_bytes"].sum()),
        "transfers": round(transfers),
        "tasks_per_transfer": _share(float(batch.size), transfers),
        "header_bytes_saved": (float(batch.size) - transfers) * header,
        "device_dvfs_saving": _share(local_e_max - local_e, local_e_max),
        "node_dvfs_saving": _share(dyn_max - dyn, dyn_max),
        "node_dynamic_energy_j": dyn,
        "node_static_energy_j": sum(n["static_energy_j"] for n in nodes),
        "by_app": _by_app(result),
        "jobs": _jobs(result),
        "run": {
            "events": result.events,
            "wall_s": result.wall_s,
            "tasks_per_s": _share(result.n_tasks, result.wall_s),
            "events_per_s": _share(result.events, result.wall_s),
            "simulated_s": _simulated_s(result),
        },
    }
    return summary


def _by_app(result: SimResult) -> dict[str, Any]:
    r = result.records
    out = {}
    for i, name in enumerate(result.apps):
        mine = r["app"] == i
        if not mine.any():
            continue
        done = mine & (r["outcome"] == int(Outcome.DONE))
        deadline = mine & np.isfinite(r["deadline_s"])
        out[name] = {
            "tasks": int(mine.sum()),
            "latency_s": _stats(r["latency_s"][done]),
            "deadline_miss_rate": _share(
                float((deadline & (r["deadline_met"] == 0)).sum()), float(deadline.sum())
            ),
            "offload_share": _share(float((mine & (r["target"] >= 0)).sum()), float(mine.sum())),
            "device_energy_j": float(r["energy_j"][mine].sum()),
        }
    return out


def _simulated_s(result: SimResult) -> float:
    """Simulated time of the run: its duration, or the end of the last task when the
    drain went on past it. (The engine's clock may be later still: node failures and
    repairs are scheduled ahead, e.g. a restart at 150 s in a 20 s run.)"""
    end = result.records["end_s"]
    last = float(np.nanmax(end)) if end.size and not np.isnan(end).all() else 0.0
    return max(result.scenario.duration_s, last)


def _job_rows(r: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Per DAG job: (stage rows' job index, creation, end of its last stage, not
    done)."""
    staged = r["stage"] >= 0
    _, inverse = np.unique(r["job"][staged], return_inverse=True)
    size = int(inverse.max()) + 1 if inverse.size else 0
    created = np.full(size, np.inf)
    np.minimum.at(created, inverse, r["created_s"][staged])
    end = np.full(size, -np.inf)
    np.maximum.at(end, inverse, r["end_s"][staged])
    not_done = np.zeros(size, dtype=bool)
    np.logical_or.at(not_done, inverse, r["outcome"][staged] != int(Outcome.DONE))
    return inverse, created, end, not_done


def job_latencies(result: SimResult) -> F64:
    """Latencies of the done DAG jobs (creation to last result), sorted."""
    _, created, end, not_done = _job_rows(result.records)
    return np.sort((end - created)[~not_done])


def _jobs(result: SimResult) -> dict[str, Any] | None:
    """DAG jobs: done when every stage is; latency = last stage end - job creation; a
    job with a deadline misses it unless it is done by its first stage's deadline."""
    r = result.records
    staged = r["stage"] >= 0
    if not staged.any():
        return None
    inverse, created, end, not_done = _job_rows(r)
    stages = np.bincount(inverse)
    deadline = np.full(created.size, np.inf)
    first = r["stage"][staged] == 0
    deadline[inverse[first]] = r["deadline_s"][staged][first]
    has_deadline = np.isfinite(deadline)
    late = not_done | (end - created > deadline)
    return {
        "jobs": int(created.size),
        "done": int((~not_done).sum()),
        "stages_per_job": float(stages.mean()),
        "latency_s": _stats((end - created)[~not_done]),
        "deadline_miss_rate": _share(float((late & has_deadline).sum()), float(has_deadline.sum())),
        "stages_offloaded_share": float((r["target"][staged] >= 0).mean()),
    }
