"""``edgeoffload train``: labelled decisions from the simulator, a model, its folder.

``--model mlp|lstm|gbdt``: run ``--scenario`` in the simulator (seed after seed, until
``--records`` decisions) with the hindsight oracle's costs of every option
(``edgeoffload.sim.oracle``), fit the policy model, save it with its scaler and
metadata, and print its validation metrics next to the cost model's. ``--model
bandwidth`` instead trains the bandwidth predictor on every bundled bandwidth dataset
(leave-one-dataset-out first, to choose its point blend per horizon; ``--seed`` seeds
it, ``--dataset`` is not used).
``--model risk`` fits the risk-aware policy's upload calibration
(``edgeoffload.decision.risk``) on ``--records`` decisions of every bundled bandwidth
dataset (``--out DIR`` gets ``calibration.json``).
Needs the ``train`` extra (torch; scikit-learn and skl2onnx for gbdt).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..decision.evaluation import Labelled

#: The decision engine's own training world (see the file's description).
DEFAULT_SCENARIO = str(
    Path(__file__).resolve().parents[1] / "decision" / "scenarios" / "offload_mix.yaml"
)
MODELS = ("mlp", "lstm", "gbdt", "bandwidth", "risk")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=MODELS, default="mlp", help="what to train")
    parser.add_argument("--out", required=True, metavar="DIR", help="model folder to write")
    parser.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        help="scenario file or bundled name (default: the decision engine's offload_mix)",
    )
    parser.add_argument("--records", type=int, default=100_000, help="decisions to train on")
    parser.add_argument(
        "--dataset",
        default="pensieve_train",
        help="bandwidth dataset the scenario's links replay (policies; the bandwidth "
        "predictor trains on every bundled one)",
    )
    parser.add_argument("--seed", type=int, default=1, help="first simulation seed")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs")
    parser.add_argument(
        "--behaviour",
        default="cost_model",
        help="policy the simulator runs while recording (default cost_model)",
    )


def with_link(scenario: Any, dataset: str | None = None, trace_file: str | None = None) -> Any:
    """The scenario with every device's link replaying ``dataset`` or ``trace_file``."""
    import msgspec

    groups = []
    for group in scenario.devices:
        if trace_file is not None:
            link = msgspec.structs.replace(group.link, file=trace_file, constant_mbps=None)
        elif dataset is not None:
            link = msgspec.structs.replace(
                group.link, dataset=dataset, file=None, constant_mbps=None
            )
        else:
            link = group.link
        groups.append(msgspec.structs.replace(group, link=link))
    return msgspec.structs.replace(scenario, devices=groups)


def make_records(
    scenario: str,
    records: int,
    *,
    dataset: str | None = None,
    trace_file: str | None = None,
    seed: int = 1,
    behaviour: str = "cost_model",
    progress: bool = True,
    used: list[int] | None = None,
    refuse: Callable[[int], None] = lambda seed: None,
) -> Labelled:
    """At least ``records`` labelled decisions: runs of the scenario on seeds ``seed``,
    ``seed + 1``, ... (each run a new world and new workload).

    ``used`` gets every seed run (a model records its training seeds); ``refuse`` is
    asked before each run and raises to stop it (evaluation refuses training seeds).
    """
    from ..decision.evaluation import Labelled
    from ..sim.oracle import oracle_records
    from ..sim.runner import as_scenario

    spec = with_link(as_scenario(scenario), dataset, trace_file)
    parts: list[Labelled] = []
    total = 0
    s = seed
    while total < records:
        refuse(s)
        if used is not None:
            used.append(s)
        t0 = time.perf_counter()
        part = Labelled.of(oracle_records(spec, behaviour, seed=s))
        if len(part) == 0:
            raise ConfigError(f"scenario {scenario}: the simulator recorded no decisions")
        parts.append(part)
        total += len(part)
        if progress:
            sys.stderr.write(
                f"  seed {s}: {len(part):,} decisions ({time.perf_counter() - t0:.1f} s), "
                f"{min(total, records):,}/{records:,}\n"
            )
        s += 1
    return Labelled.concat(parts).rows(slice(0, records))


_RECORDS: dict[tuple[str, int, str, int], Labelled] = {}


def risk_calibration(
    scenario: str, records: int, datasets: list[str], seed: int, progress: bool = True
) -> Any:
    """The risk-aware policy's :class:`~edgeoffload.decision.risk.UploadCalibration`,
    fitted on ``records`` decisions of each dataset from simulation seed ``seed`` (the
    records are kept for the process: a leave-one-dataset-out run fits one per set from
    the same few datasets)."""
    from ..decision.risk import fit_calibration

    parts = []
    for dataset in datasets:
        key = (scenario, records, dataset, seed)
        if key not in _RECORDS:
            _RECORDS[key] = make_records(
                scenario, records, dataset=dataset, seed=seed, progress=progress
            )
        parts.append(_RECORDS[key])
    return fit_calibration(parts, datasets)


def score_model(folder: str | Path, labelled: Labelled) -> dict[str, float]:
    """The metrics of a policy model folder of any kind on labelled decisions."""
    from ..decision.evaluation import evaluate_policy
    from ..decision.history import KIND, HistoryPolicy, HistoryScorer, evaluate_history
    from ..decision.learned import LearnedPolicy, Scorer
    from ..decision.modelfile import ModelFiles

    if ModelFiles.load(folder).kind == KIND:
        scorer = HistoryScorer(folder)
        return evaluate_history(labelled, HistoryPolicy(scorer), scorer.weights)
    learned = Scorer(folder)
    return evaluate_policy(labelled, LearnedPolicy(learned).decide_context, learned.weights)


def run(args: argparse.Namespace) -> int:
    if args.records < 1:
        raise ConfigError(f"--records must be >= 1, got {args.records}")
    if args.model == "bandwidth":
        return _train_bandwidth(args)
    if args.model == "risk":
        from ..traces import DATASETS

        calibration = risk_calibration(args.scenario, args.records, list(DATASETS), args.seed)
        calibration.save(Path(args.out) / "calibration.json")
        print(f"calibrated the upload quantiles on {calibration.samples:,} uploads -> {args.out}")
        return 0
    from ..decision.costs import CostWeights
    from ..decision.evaluation import evaluate_policy
    from ..decision.policies import CostModel
    from ..decision.train.policy import FITTERS, FitConfig, records_digest

    weights = CostWeights()
    print(f"recording {args.records:,} decisions of {args.scenario} on {args.dataset}")
    seeds: list[int] = []
    labelled = make_records(
        args.scenario,
        args.records,
        dataset=args.dataset,
        seed=args.seed,
        behaviour=args.behaviour,
        used=seeds,
    )
    # Validation: the next seed, a world and workload the model has not seen.
    valid = make_records(
        args.scenario,
        max(2000, args.records // 10),
        dataset=args.dataset,
        seed=args.seed + 10_000,
        behaviour=args.behaviour,
        progress=False,
        used=seeds,
    )
    config = FitConfig() if args.epochs is None else FitConfig(epochs=args.epochs)
    t0 = time.perf_counter()
    fitted = FITTERS[args.model](labelled, weights, config)
    fit_s = time.perf_counter() - t0
    out = Path(args.out)
    fitted.files.meta.update(
        scenario=Path(args.scenario).stem,
        dataset=args.dataset,
        seeds=seeds,  # every one, training and validation: evaluate refuses them
        records_digest=records_digest(labelled),
        behaviour=args.behaviour,
        fit_s=round(fit_s, 1),
    )
    fitted.files.save(out, fitted.onnx)
    metrics = {
        "learned": score_model(out, valid),
        "cost_model": evaluate_policy(valid, CostModel().decide_context, weights),
    }
    fitted.files.meta["validation"] = metrics
    fitted.files.save(out, fitted.onnx)
    print(f"trained {args.model} on {len(labelled):,} decisions in {fit_s:.1f} s -> {out}")
    print(json.dumps(metrics, indent=2))
    return 0


def _train_bandwidth(args: argparse.Namespace) -> int:
    from ..decision.train.predictor import PredictorConfig, bundled_series, train

    series = bundled_series()
    config = PredictorConfig(seed=args.seed)
    if args.epochs is not None:
        config = PredictorConfig(seed=args.seed, epochs=args.epochs)
    print(f"training the bandwidth predictor leave-one-dataset-out on {', '.join(series)}")
    t0 = time.perf_counter()
    trained = train(series, config)
    trained.files.meta.update(fit_s=round(time.perf_counter() - t0, 1))
    # The runtime is numpy only: an ONNX file left by an older predictor would mislead.
    (Path(args.out) / "model.onnx").unlink(missing_ok=True)
    out = trained.files.save(args.out)
    print(
        f"trained the bandwidth predictor -> {out}; point per horizon {trained.files.meta['point']}"
    )
    print(
        json.dumps(
            {
                ds: {h: round(row[h]["blend"]["mape"], 4) for h in ("1s", "5s")}
                for ds, row in trained.lodo.items()
            }
        )
    )
    return 0
