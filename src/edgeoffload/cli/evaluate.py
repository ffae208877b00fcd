"""``edgeoffload evaluate --model DIR``: a learned policy against the hindsight oracle,
side by side with the cost model and the trivial policies, on held-out bandwidth traces.

For each ``--dataset`` (a bandwidth dataset name) or ``--trace`` (a trace file: two
columns per line, seconds and Mbit/s, separated by spaces, no header), the scenario's
links replay it and the simulator records ``--records`` decisions with every option's
realised cost, on seeds not used for training: a seed in the model's ``meta.json``
(``seeds``: every seed its training and validation ran) is refused (exit 2), since
scoring a policy on the worlds it was fitted to flatters it. Every policy is then scored on the same
decisions (the world as it ran under ``--behaviour``; the online policy learns as it
goes through them in time order): agreement with the oracle, regret, deadline misses,
mean device energy (see ``edgeoffload.decision.evaluation``). Prints a table and writes
JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .train import DEFAULT_SCENARIO, make_records

#: Policies scored beside the learned model, in table order.
BASELINES = ("cost_model", "online", "always_local", "always_edge", "random")
HELD_OUT = ("pensieve_test", "ghent_4g", "nyu_lte")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR", help="a policy model folder")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, help="scenario file or name")
    parser.add_argument(
        "--dataset",
        action="append",
        default=None,
        help=f"held-out bandwidth dataset (repeatable; default {', '.join(HELD_OUT)})",
    )
    parser.add_argument(
        "--trace",
        action="append",
        default=None,
        metavar="FILE",
        help="trace file: two columns per line, seconds and Mbit/s, no header (repeatable)",
    )
    parser.add_argument("--records", type=int, default=15_000, help="decisions per trace set")
    parser.add_argument(
        "--seed", type=int, default=101, help="simulation seed (not a training one)"
    )
    parser.add_argument("--behaviour", default="cost_model", help="policy run while recording")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")


def evaluate_sets(
    model: str | Path,
    scenario: str,
    sets: list[tuple[str, str | None, str | None]],
    records: int,
    seed: int,
    behaviour: str = "cost_model",
    extra: dict[str, Any] | None = None,
    extra_models: dict[str, str | Path] | None = None,
    refuse: Callable[[int], None] = lambda seed: None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{policy: {set name: metrics}}`` for sets of (name, dataset, trace file);
    ``extra`` adds policies (name -> object with ``decide_context``), ``extra_models``
    more model folders (name -> folder, any kind); ``refuse`` is asked before each
    simulation seed (:func:`seed_guard`)."""
    from ..decision.costs import CostWeights
    from ..decision.evaluation import evaluate_online, evaluate_policy
    from ..decision.history import KIND as LSTM_KIND
    from ..decision.learned import LearnedPolicy, Scorer, ThresholdPolicy
    from ..decision.modelfile import ModelFiles
    from ..decision.online import OnlineCostModel
    from ..decision.registry import resolve
    from .train import score_model

    files = ModelFiles.load(model)
    weights = CostWeights(**files.meta.get("cost", {}))
    model_name = f"learned_{files.meta.get('model', files.kind)}"
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, dataset, trace in sets:
        labelled = make_records(
            scenario,
            records,
            dataset=dataset,
            trace_file=trace,
            seed=seed,
            behaviour=behaviour,
            refuse=refuse,
        )
        out.setdefault(model_name, {})[name] = score_model(model, labelled)
        for extra_name, folder in (extra_models or {}).items():
            out.setdefault(extra_name, {})[name] = score_model(folder, labelled)
        policies: dict[str, Any] = {}
        if files.kind != LSTM_KIND:
            policies["threshold"] = ThresholdPolicy(LearnedPolicy(Scorer(model)))
        policies.update(extra or {})
        policies.update({p: resolve(p) for p in BASELINES if p != "online"})
        for policy_name, policy in policies.items():
            result = evaluate_policy(labelled, policy.decide_context, weights)
            out.setdefault(policy_name, {})[name] = result
        out.setdefault("online", {})[name] = evaluate_online(labelled, OnlineCostModel(), weights)
    return out


def training_seeds(model: str | Path) -> list[int]:
    """The simulation seeds a policy model was trained and validated on (its
    ``meta.json``; older models list only the first seed of each)."""
    from ..decision.modelfile import ModelFiles

    seeds = ModelFiles.load(model).meta.get("seeds", [])
    return sorted({int(s) for s in seeds if isinstance(s, int)})


def seed_guard(model: str | Path) -> Callable[[int], None]:
    """A check that raises ConfigError for a seed the model was trained on, naming
    them: evaluating there measures the fit, not the policy."""
    seen = training_seeds(model)

    def refuse(seed: int) -> None:
        if seed in seen:
            listed = ", ".join(map(str, seen))
            raise ConfigError(
                f"--seed: simulation seed {seed} is one {model} was trained on "
                f"(seeds {listed}); evaluate on others, e.g. --seed 101"
            )

    return refuse


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A markdown table: one row per policy and set."""
    lines = [
        "| policy | traces | agreement | regret | deadline miss | energy J/task | offloaded |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for policy, per_set in results.items():
        for name, m in per_set.items():
            lines.append(
                f"| {policy} | {name} | {m['agreement']:.2%} | {m['regret']:.1%} | "
                f"{m['deadline_miss']:.2%} | {m['energy_j']:.3f} | {m['offload_share']:.1%} |"
            )
    return "\n".join(lines)


def trace_sets(datasets: list[str], traces: list[str]) -> list[tuple[str, str | None, str | None]]:
    """(name, dataset, trace file) per set to evaluate; results are keyed by the name,
    so two trace files of one file name are told apart by their paths."""
    sets: list[tuple[str, str | None, str | None]] = [(d, d, None) for d in datasets]
    names = [Path(f).name for f in traces]
    sets += [
        (name if names.count(name) == 1 else str(f), None, f)
        for name, f in zip(names, traces, strict=True)
    ]
    if len({name for name, _, _ in sets}) < len(sets):
        raise ConfigError("--trace/--dataset: a set is given twice")
    for _, _, trace in sets:
        if trace is not None and not Path(trace).is_file():
            raise ConfigError(f"--trace {trace}: no such file")
    return sets or [(d, d, None) for d in HELD_OUT]


def run(args: argparse.Namespace) -> int:
    if args.records < 1:
        raise ConfigError(f"--records must be >= 1, got {args.records}")
    sets = trace_sets(args.dataset or [], args.trace or [])
    from ..decision.registry import check, resolve
    from ..traces import load_trace_file

    check(Path(args.model))  # before the first simulated record
    resolve(Path(args.model))  # its weights load too (not only its meta.json)
    check(args.behaviour)
    for _, _, trace in sets:
        if trace is not None:
            load_trace_file(trace)  # a malformed file is refused before any simulation
    refuse = seed_guard(args.model)
    refuse(args.seed)  # at once, before any simulation (later seeds as they come)
    results = evaluate_sets(
        args.model, args.scenario, sets, args.records, args.seed, args.behaviour, refuse=refuse
    )
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
