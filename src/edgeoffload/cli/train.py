"""``edgeoffload train``: labelled decisions from the simulator, a model, its folder.

``--model mlp|lstm|gbdt``: run ``--scenario`` in the simulator (seed after seed, until
``--records`` decisions) with the hindsight oracle's costs of every option
(``edgeoffload.sim.oracle``), fit the policy model, save it with its scaler and
metadata, and print its validation metrics next to the cost model's. ``--model
bandwidth`` instead trains the GRU bandwidth predictor on a bandwidth dataset.
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
MODELS = ("mlp", "lstm", "gbdt", "bandwidth")


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
        help="bandwidth dataset the scenario's links replay (policies), or the predictor "
        "trains on (bandwidth)",
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
    from ..decision.costs import CostWeights
    from ..decision.evaluation import evaluate_policy
    from ..decision.policies import CostModel
    from ..decision.train.policy import FITTERS, FitConfig

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
    from ..decision.estimators import LearnedPredictor
    from ..decision.train.predictor import PredictorConfig, evaluate, one_second_series, train
    from ..traces import load_dataset

    series = one_second_series(load_dataset(args.dataset))
    config = PredictorConfig() if args.epochs is None else PredictorConfig(epochs=args.epochs)
    t0 = time.perf_counter()
    trained = train(series, config)
    trained.files.meta.update(dataset=args.dataset, fit_s=round(time.perf_counter() - t0, 1))
    out = trained.files.save(args.out, trained.onnx)
    metrics = evaluate(LearnedPredictor(out), series)
    trained.files.meta["train_error"] = metrics
    trained.files.save(out, trained.onnx)
    print(f"trained the bandwidth predictor on {args.dataset} -> {out}")
    print(
        json.dumps(
            {h: {m: round(v["mape"], 4) for m, v in row.items()} for h, row in metrics.items()}
        )
    )
    return 0
