"""The ``seed_claim`` part of ``edgeoffload bench decide``: the seed article's claim (an
LSTM over 12 dynamic parameters, trained on 100,000 historical tasks, 92.3 % accuracy,
offload above 0.7) rebuilt and measured beside our policies on the same test tasks.

The record set: the decision engine's scenario (``decision/scenarios/offload_mix.yaml``)
with its links replaying a bundled trace set, simulation seed after seed from ``seed``
(none of them one the shipped policy was trained on) until ``records`` tasks, each
with the hindsight oracle's costs of every option. The model and its 12 parameters:
:mod:`edgeoffload.decision.train.seed_lstm`. ``save`` writes the record set's
parameters, labels and split to an ``.npz`` (the set is reproduced by the command, its
digest is in the results; it is not committed).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

#: The seed article's figure.
SEED_ACCURACY = 0.923
DATASET = "pensieve_train"
FIRST_SEED = 2001


def record_set(records: int, seed: int, dataset: str) -> tuple[Any, np.ndarray, list[int]]:
    """(Labelled, run index per row, seeds run): ``records`` tasks of the scenario on
    seeds ``seed``, ``seed + 1``, ...; the run index keeps two runs' devices apart (their
    ids repeat). A seed the shipped policy was trained on is refused (ConfigError)."""
    from edgeoffload.cli.evaluate import seed_guard
    from edgeoffload.cli.train import DEFAULT_SCENARIO, with_link
    from edgeoffload.decision.evaluation import Labelled
    from edgeoffload.decision.learned import DEFAULT_MODEL
    from edgeoffload.sim.oracle import oracle_records
    from edgeoffload.sim.runner import as_scenario

    refuse = seed_guard(DEFAULT_MODEL)
    spec = with_link(as_scenario(DEFAULT_SCENARIO), dataset)
    parts: list[Labelled] = []
    runs: list[np.ndarray] = []
    seeds: list[int] = []
    total = 0
    while total < records:
        s = seed + len(seeds)
        refuse(s)
        part = Labelled.of(oracle_records(spec, "cost_model", seed=s))
        runs.append(np.full(len(part), len(seeds), dtype=np.int64))
        parts.append(part)
        seeds.append(s)
        total += len(part)
        print(f"seed_claim: seed {s}: {len(part):,} tasks, {min(total, records):,}/{records:,}")
    labelled = Labelled.concat(parts).rows(slice(0, records))
    return labelled, np.concatenate(runs)[:records], seeds


def digest(*arrays: np.ndarray) -> str:
    """sha256 (first 16 hex digits) of arrays' bytes: the record set, checkable."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _scores(labelled: Any, seqs: Any, y: Any, target: Any, test: Any, cfg: Any) -> dict[str, Any]:
    """One split: the seed LSTM fitted on the training rows, it and our policies scored
    on the test rows (``{"rows": name -> metrics, "model": meta, "fit_s": s}``)."""
    from edgeoffload.decision.costs import CostWeights
    from edgeoffload.decision.evaluation import columns_of, score
    from edgeoffload.decision.learned import LearnedPolicy, ThresholdPolicy, load_scorer
    from edgeoffload.decision.policies import AlwaysEdge, AlwaysLocal, CostModel
    from edgeoffload.decision.train import seed_lstm as sl

    weights = CostWeights()
    t0 = time.perf_counter()
    model = sl.fit(seqs[~test], y[~test], cfg)
    fit_s = time.perf_counter() - t0
    test_set = labelled.rows(np.flatnonzero(test))
    p = sl.predict(model, seqs[test])
    y_test, target_test = y[test], target[test]

    def row(choice: np.ndarray) -> dict[str, float]:
        m = score(test_set, choice, weights)
        return {
            "accuracy": sl.binary_accuracy(choice, y_test),
            "agreement": m["agreement"],
            "regret": m["regret"],
            "offload_share": m["offload_share"],
        }

    scorer = load_scorer()
    policies = {
        "learned": LearnedPolicy(scorer),
        "threshold": ThresholdPolicy(LearnedPolicy(scorer)),
        "cost_model": CostModel(),
        "always_local": AlwaysLocal(),
        "always_edge": AlwaysEdge(),
    }
    rows = {"seed_lstm": row(sl.choices(p, target_test))}
    rows["seed_lstm_0.5"] = row(sl.choices(p, target_test, 0.5))
    for name, policy in policies.items():
        rows[name] = row(columns_of(policy.decide_context(test_set.ctx)))
    rows["_oracle"] = {"offload_share": float(y_test.mean()), "tasks": int(test.sum())}
    return {"rows": rows, "model": model.meta(), "fit_s": fit_s}


def run(
    records: int = 100_000,
    seed: int = FIRST_SEED,
    dataset: str = DATASET,
    config: Any = None,
    save: Path | None = None,
    splits: int = 5,
) -> dict[str, Any]:
    """Build the record set, then per split seed 0, 1, ... (``splits`` of them): hold
    out a seeded fifth of the devices, fit the seed LSTM on the rest (seeded the same)
    and score it and our policies on the held-out tasks. Each metric is the mean over
    the splits with its 95 % interval, and the seed LSTM's accuracy is compared with
    every policy's as a paired difference on the same test tasks."""
    from dataclasses import replace

    from edgeoffload.decision.costs import CostWeights
    from edgeoffload.decision.train import seed_lstm as sl
    from edgeoffload.stats import mean_ci95

    t0 = time.perf_counter()
    labelled, run_of, seeds = record_set(records, seed, dataset)
    record_s = time.perf_counter() - t0
    params = sl.parameters(labelled)
    y = sl.labels(labelled, CostWeights())
    target = sl.offload_target(labelled)
    seqs = sl.sequences(params, run_of, labelled.device_id, labelled.created_s)
    base = config or sl.SeedConfig()
    masks = [sl.device_split(run_of, labelled.device_id, base.test_share, s) for s in range(splits)]
    if save is not None:
        np.savez_compressed(
            save,
            parameters=params,
            names=np.array(list(sl.SEED_PARAMETERS)),
            label=y,
            run=run_of,
            device_id=labelled.device_id,
            created_s=labelled.created_s,
            test=np.stack(masks),
        )
        print(f"seed_claim: record set -> {save}")
    per_split = [
        _scores(labelled, seqs, y, target, test, replace(base, seed=s))
        for s, test in enumerate(masks)
    ]
    names = [n for n in per_split[0]["rows"] if not n.startswith("_")]
    rows: dict[str, Any] = {}
    for name in names:
        runs = [sp["rows"][name] for sp in per_split]
        out: dict[str, Any] = {}
        ci: dict[str, list[float]] = {}
        for metric in runs[0]:
            interval = mean_ci95(r[metric] for r in runs)
            out[metric] = round(interval.mean, 4)
            ci[metric] = [round(interval.low, 4), round(interval.high, 4)]
        rows[name] = out | {"ci95": ci}
    paired: dict[str, Any] = {}
    for name in names[1:]:
        diff = mean_ci95(
            sp["rows"]["seed_lstm"]["accuracy"] - sp["rows"][name]["accuracy"] for sp in per_split
        )
        paired[f"seed_lstm_vs_{name}"] = {
            "accuracy_diff": round(diff.mean, 4),
            "ci95": [round(diff.low, 4), round(diff.high, 4)],
        }
    lstm = rows["seed_lstm"]
    oracle = [sp["rows"]["_oracle"] for sp in per_split]
    print(
        f"seed_claim: seed LSTM accuracy {lstm['accuracy']:.2%} (the seed: {SEED_ACCURACY:.1%}), "
        f"learned {rows['learned']['accuracy']:.2%}, cost model "
        f"{rows['cost_model']['accuracy']:.2%}, over {splits} splits",
        flush=True,
    )
    return {
        "accuracy": lstm["accuracy"],
        "accuracy_ci95": lstm["ci95"]["accuracy"],
        "records": len(labelled),
        "seed_accuracy": SEED_ACCURACY,
        "policies": rows,
        "paired": paired,
        "parameters": dict(sl.SEED_PARAMETERS),
        "model": per_split[0]["model"] | {"seed": "the split's"},
        "split": {
            "by": "device (run, device id)",
            "test_share": base.test_share,
            "seeds": list(range(splits)),
            "test_tasks": [o["tasks"] for o in oracle],
            "test_oracle_offload_share": round(
                float(np.mean([o["offload_share"] for o in oracle])), 4
            ),
        },
        "record_set": {
            "scenario": "offload_mix",
            "dataset": dataset,
            "seeds": seeds,
            "behaviour": "cost_model",
            "digest": digest(params, y),
        },
        "record_s": round(record_s, 1),
        "fit_s": [round(sp["fit_s"], 1) for sp in per_split],
    }


#: Rows of the markdown table, in order, with their descriptions.
_NAMES = {
    "seed_lstm": "seed LSTM, offload when P > 0.7 (the seed's rule)",
    "seed_lstm_0.5": "seed LSTM, offload when P > 0.5",
    "learned": "`learned` (shipped MLP scorer)",
    "threshold": "`threshold` (shipped scorer, seed's 0.7 rule)",
    "cost_model": "`cost_model`",
    "always_local": "`always_local`",
    "always_edge": "`always_edge`",
}


def markdown(r: dict[str, Any], command: str, loadavg: str) -> str:
    split, rs = r["split"], r["record_set"]
    n_splits = len(split["seeds"])

    def pm(m: dict[str, Any], metric: str, digits: int = 2) -> str:
        low, high = m["ci95"][metric]
        half = (high - low) / 2 * 100
        return f"{m[metric] * 100:.{digits}f} ± {half:.{digits}f} %"

    lines = [
        "## The seed's claim, reproduced",
        "",
        f"`{command}` (load average before: {loadavg}; {r['record_s']:.0f} s to record, "
        f"{sum(r['fit_s']):.0f} s to fit {n_splits} LSTMs). {r['records']:,} tasks of "
        f"`{rs['scenario']}` on `{rs['dataset']}` (simulation seeds {rs['seeds'][0]} to "
        f"{rs['seeds'][-1]}, none a training seed of the shipped policy; digest "
        f"`{rs['digest']}`). {n_splits} splits by device (seeds "
        f"{', '.join(map(str, split['seeds']))}): each holds out the tasks of "
        f"{round(split['test_share'] * 100)} % of the devices "
        f"({min(split['test_tasks']):,} to {max(split['test_tasks']):,} tasks) and trains "
        "an LSTM on the rest; every figure is the mean over the splits ± its 95 % "
        "interval. Accuracy: the local/offload choice is the hindsight oracle's; "
        "agreement: the very option (which node, too); the oracle offloads "
        f"{split['test_oracle_offload_share']:.1%} of the test tasks. The last column: "
        "the seed LSTM's accuracy minus this policy's on the same test tasks (paired).",
        "",
        "| policy | accuracy (local/offload) | agreement (option) | regret | offloaded "
        "| seed LSTM minus it |",
        "|---|---:|---:|---:|---:|---:|",
        f"| the seed article (its own data) | {r['seed_accuracy']:.1%} | | | | |",
    ]
    for name, label in _NAMES.items():
        m = r["policies"][name]
        d = r["paired"].get(f"seed_lstm_vs_{name}")
        paired = (
            f"{d['accuracy_diff'] * 100:+.2f} [{d['ci95'][0] * 100:+.2f}, "
            f"{d['ci95'][1] * 100:+.2f}] pt"
            if d
            else ""
        )
        lines.append(
            f"| {label} | {pm(m, 'accuracy')} | {pm(m, 'agreement')} | "
            f"{pm(m, 'regret', 1)} | {m['offload_share']:.1%} | {paired} |"
        )
    return "\n".join(lines)
