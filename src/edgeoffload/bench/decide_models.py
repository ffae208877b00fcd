"""The predictor and policies parts of ``edgeoffload bench decide``.

``predictor``: the shipped GRU bandwidth predictor (trained on Pensieve's cooked_traces)
against the harmonic mean of the last 5 samples, EWMA and the last sample, on every
held-out dataset without retraining: MAPE and RMSE of the mean throughput over the next
1 s and 5 s.

``policies``: the shipped learned policy, a gradient-boosting baseline trained here on
the same kind of records, the seed's threshold rule, the online policy, the cost model
and the trivial policies, scored on the same simulated decisions over each held-out
trace set against the hindsight oracle (``edgeoffload evaluate``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from edgeoffload.decision.learned import DEFAULT_MODEL

DATASETS = ("pensieve_test", "ghent_4g", "nyu_lte", "mahimahi", "ucc_5g")
HELD_OUT = ("pensieve_test", "ghent_4g", "nyu_lte")
#: The shipped bandwidth predictor, beside the shipped policy in the package.
BANDWIDTH_MODEL = DEFAULT_MODEL.parent / "bandwidth"


def predictor(model: Path = BANDWIDTH_MODEL) -> dict[str, Any]:
    from edgeoffload.decision.estimators import LearnedPredictor
    from edgeoffload.decision.train.predictor import evaluate, one_second_series, time_inference
    from edgeoffload.traces import load_dataset

    p = LearnedPredictor(model)
    out: dict[str, Any] = {}
    for name in DATASETS:
        series = one_second_series(load_dataset(name))
        err = evaluate(p, series)
        row: dict[str, Any] = {}
        for method in ("learned", "harmonic_mean", "ewma", "last"):
            values = {
                f"{kind}_{h}": round(err[h][method][kind], 4)
                for h in err
                for kind in ("mape", "rmse")
            }
            if method == "learned":
                row.update(values)
            else:
                row[method] = values
        row["seconds"] = err["1s"]["learned"]["n"]
        out[name] = row
        print(
            f"predictor {name}: MAPE 1 s learned {row['mape_1s']:.3f} vs harmonic mean "
            f"{row['harmonic_mean']['mape_1s']:.3f}",
            flush=True,
        )
    out["inference_us"] = {k: round(v, 1) for k, v in time_inference(model).items()}
    out["model"] = {
        "window_s": p.window,
        "horizons_s": p.horizons_s,
        "trained_on": "pensieve_train",
    }
    return out


def predictor_markdown(r: dict[str, Any], command: str) -> str:
    lines = [
        "## Bandwidth prediction",
        "",
        f"`{command}`. GRU trained on Pensieve's cooked_traces (`edgeoffload train --model "
        "bandwidth`), applied without retraining; every trace resampled to 1 s means; "
        "each method predicts the mean throughput of the next 1 s and 5 s from the past "
        f"{r['model']['window_s']} s. MAPE skips seconds under 1 % of the trace's median "
        "(outages); RMSE (Mbit/s) keeps them.",
        "",
        "| dataset | seconds | MAPE 1 s: GRU | harmonic mean | EWMA | last | "
        "MAPE 5 s: GRU | harmonic mean | RMSE 1 s: GRU | harmonic mean |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in DATASETS:
        if name not in r:
            continue
        m = r[name]
        hm, ew, last = m["harmonic_mean"], m["ewma"], m["last"]
        lines.append(
            f"| {name} | {m['seconds']:,} | **{m['mape_1s']:.3f}** | {hm['mape_1s']:.3f} | "
            f"{ew['mape_1s']:.3f} | {last['mape_1s']:.3f} | **{m['mape_5s']:.3f}** | "
            f"{hm['mape_5s']:.3f} | {m['rmse_1s']:.2f} | {hm['rmse_1s']:.2f} |"
        )
    t = r["inference_us"]
    lines += [
        "",
        f"Inference (µs per call, 1 window / 1,000 windows): numpy {t['numpy_1_us']:.0f} / "
        f"{t['numpy_1000_us']:.0f}, onnxruntime {t['onnx_1_us']:.0f} / {t['onnx_1000_us']:.0f}. "
        "`LearnedPredictor` uses onnxruntime when it is installed (faster for this recurrent "
        "network), numpy otherwise; it runs once per new one-second sample.",
    ]
    return "\n".join(lines)


#: The metrics of ``decision.json``'s ``policies`` (score() names, the issue's spelling).
POLICY_METRICS = {
    "agreement": "agreement",
    "regret": "regret",
    "avoidable_regret": "avoidable_regret",
    "unavoidable_regret": "unavoidable_regret",
    "excess_p50": "excess_p50",
    "excess_p99": "excess_p99",
    "trimmed_regret": "trimmed_regret",
    "deadline_miss": "deadline_miss_rate",
    "energy_j": "energy_j",
    "mean_cost": "mean_cost",
    "offload_share": "offload_share",
}


def policies(records: int, seeds: list[int], gbdt_records: int) -> dict[str, Any]:
    """Every policy on the same decisions of each held-out set, per evaluation seed, then
    folded over the seeds (``over_seeds``): ``{"policies": ..., "paired": ...,
    "_setup": ..., "_markdown_rows": ...}``."""
    from edgeoffload.cli.evaluate import evaluate_sets, independent, seed_guard, seeds_table
    from edgeoffload.cli.train import DEFAULT_SCENARIO, make_records
    from edgeoffload.decision.costs import CostWeights
    from edgeoffload.decision.evaluation import over_seeds
    from edgeoffload.decision.train.policy import FitConfig, fit_gbdt, fit_lstm

    sets: list[tuple[str, str | None, str | None]] = [(d, d, None) for d in HELD_OUT]
    t0 = time.perf_counter()
    guard = independent(seed_guard(DEFAULT_MODEL))
    # The gradient-boosting baseline and the LSTM policy, trained here on the training
    # traces (fewer decisions than the shipped MLP's 100,000: they are slower to fit).
    train = make_records(DEFAULT_SCENARIO, gbdt_records, dataset="pensieve_train", seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        fitted = fit_gbdt(train, CostWeights())
        fitted.files.save(Path(tmp) / "gbdt", fitted.onnx)
        lstm = fit_lstm(train, CostWeights(), FitConfig(epochs=15))
        lstm.files.save(Path(tmp) / "lstm", lstm.onnx)
        extra: dict[str, str | Path] = {
            "learned_gbdt": Path(tmp) / "gbdt",
            "learned_lstm": Path(tmp) / "lstm",
        }
        per_seed = [
            evaluate_sets(
                DEFAULT_MODEL,
                DEFAULT_SCENARIO,
                sets,
                records,
                s,
                extra_models=extra,
                refuse=guard(s),
            )
            for s in seeds
        ]
    folded, paired = over_seeds(per_seed)
    text = seeds_table(folded, paired, seeds)

    def pick(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            new: round(float(row[old]), 4) for old, new in POLICY_METRICS.items()
        }
        out["ci95"] = {
            new: [round(float(x), 4) for x in row["ci95"][old]]
            for old, new in POLICY_METRICS.items()
        }
        out["seeds"], out["n"] = row["seeds"], row["n"]
        return out

    return {
        "policies": {p: {ds: pick(row) for ds, row in per.items()} for p, per in folded.items()},
        "paired": {
            pair: {
                ds: {
                    "mean_diff": round(d["mean_diff"], 5),
                    "ci95": [round(x, 5) for x in d["ci95"]],
                }
                for ds, d in per.items()
            }
            for pair, per in paired.items()
        },
        "_setup": {
            "records_per_set": records,
            "seeds": seeds,
            "gbdt_training_records": gbdt_records,
            "seconds": round(time.perf_counter() - t0, 1),
        },
        "_table": text,
    }


def policies_markdown(r: dict[str, Any], command: str) -> str:
    setup = r["_setup"]
    lines = [
        "## Policies against the hindsight oracle",
        "",
        f"`{command}`. The decision engine's scenario (`decision/scenarios/offload_mix.yaml`) "
        f"with its links replaying each held-out trace set; {setup['records_per_set']:,} "
        f"decisions per set and seed, for each of the simulation seeds "
        f"{', '.join(map(str, setup['seeds']))} (none a training seed), each option's "
        "realised latency and device energy computed in hindsight by the simulator. Every "
        "policy is scored on the same decisions; each figure is the mean over the seeds "
        "± the half-width of its 95 % interval, and the model is compared with every other "
        "policy as a paired difference of mean cost on the same tasks (metrics: see "
        "above). The learned policy is the shipped MLP (`make train`, 100,000 decisions); "
        "the gradient-boosting baseline and the LSTM policy (history of the device's last "
        f"8 calls) were trained here on {setup['gbdt_training_records']:,} decisions of the "
        "training traces.",
        "",
        r["_table"],
    ]
    return "\n".join(lines)


def pca(
    train_records: int, records: int, seed: int, components: tuple[int, ...] = (6, 10)
) -> dict[str, Any]:
    """Does PCA on the scaled features help the MLP? Same data, same seed, with and
    without a projection on the first principal components."""
    from edgeoffload.cli.train import DEFAULT_SCENARIO, make_records
    from edgeoffload.decision.costs import CostWeights
    from edgeoffload.decision.evaluation import evaluate_policy
    from edgeoffload.decision.learned import LearnedPolicy, Scorer
    from edgeoffload.decision.train.policy import FitConfig, fit_mlp

    weights = CostWeights()
    train = make_records(DEFAULT_SCENARIO, train_records, dataset="pensieve_train", seed=1)
    test = make_records(DEFAULT_SCENARIO, records, dataset="pensieve_test", seed=seed)
    out: dict[str, Any] = {}
    for k in (None, *components):
        fitted = fit_mlp(train, weights, FitConfig(epochs=15, pca_components=k))
        with tempfile.TemporaryDirectory() as tmp:
            fitted.files.save(tmp, fitted.onnx)
            m = evaluate_policy(test, LearnedPolicy(Scorer(tmp)).decide_context, weights)
        out["none" if k is None else f"pca_{k}"] = {
            "agreement": round(m["agreement"], 4),
            "regret": round(m["regret"], 4),
            "explained_variance": fitted.files.meta.get("pca_explained_variance", 1.0),
        }
        print(f"pca {k}: agreement {m['agreement']:.4f}, regret {m['regret']:.3f}", flush=True)
    out["_setup"] = {
        "train_records": train_records,
        "test_records": records,
        "test": "pensieve_test",
    }
    return out


def pca_markdown(r: dict[str, Any], command: str) -> str:
    from edgeoffload.decision.learned import OPTION_FEATURES

    s, n = r["_setup"], len(OPTION_FEATURES)
    lines = [
        "## PCA or not",
        "",
        f"`{command}`. The MLP trained on {s['train_records']:,} decisions (pensieve_train, "
        f"15 epochs) with and without a projection of its {n} standardised features on their "
        f"first principal components; scored on {s['test_records']:,} decisions over "
        f"{s['test']}.",
        "",
        "| features | variance kept | agreement | regret |",
        "|---|---:|---:|---:|",
    ]
    for name, m in r.items():
        if name.startswith("_"):
            continue
        label = f"all {n} (no PCA)" if name == "none" else f"first {name.split('_')[1]} components"
        kept, agree, regret = m["explained_variance"], m["agreement"], m["regret"]
        lines.append(f"| {label} | {kept:.1%} | {agree:.2%} | {regret:.1%} |")
    return "\n".join(lines)
