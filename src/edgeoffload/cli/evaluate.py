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

With ``--seeds`` (a list or range, e.g. ``101,201,301,401,501``) all of that is repeated
per evaluation seed (seed ``s`` records on simulation seeds ``s``, ``s + 1``, ... until
it has ``--records``; two evaluation seeds that would share a simulation seed are
refused, as their worlds would not be independent), and the output is each metric's mean
over the seeds with its 95 % interval, plus every pair of policies compared as a paired
difference of mean cost on the same tasks (``edgeoffload.decision.evaluation.over_seeds``).

The risk-aware policy (``risk_aware``, ``edgeoffload.decision.risk``: the model's
choice checked against upload-time quantiles, with a local fallback timer) is scored
beside them with the shipped upload calibration, or, with ``--lodo``, with one fitted
for each set on the other bundled datasets only (leave-one-dataset-out; the two
Pensieve sets count as one), on ``--calibration-seed`` (which must not be an
evaluation seed). ``learned_fallback`` is the model's own choice with the same
budgets: what the timer alone is worth.

Last come four references, not policies: the model and the cost model scored on the
same decisions with the truth about the link in place of the device's estimate
(``<name>_true_link``: its capacity at the decision; ``<name>_true_transfers``: the
real upload and download of each option; ``edgeoffload.decision.references``). The gap
between a policy and its references is what the link's unpredictability costs it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..stats import plus_minus
from .options import seed_list
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
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seed",
        type=int,
        default=None,
        help="one simulation seed (not a training one; default 101)",
    )
    seeds.add_argument(
        "--seeds",
        type=seed_list,
        default=None,
        metavar="LIST",
        help="several seeds, e.g. 101,201,301,401,501 or 101-105: means with 95 %% intervals "
        "and paired differences",
    )
    parser.add_argument("--behaviour", default="cost_model", help="policy run while recording")
    parser.add_argument(
        "--lodo",
        action="store_true",
        help="calibrate risk_aware per set on the other bundled datasets only",
    )
    parser.add_argument(
        "--calibration-seed",
        type=int,
        default=1,
        help="simulation seed of the --lodo calibration records (default 1)",
    )
    parser.add_argument(
        "--calibration-records",
        type=int,
        default=15_000,
        help="decisions per dataset for the --lodo calibration",
    )
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
    per_set: Callable[[str], dict[str, Any]] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{policy: {set name: metrics}}`` for sets of (name, dataset, trace file);
    ``extra`` adds policies (name -> object with ``decide_context``), ``per_set`` more
    of them built for each set's name (``--lodo``), ``extra_models`` more model folders
    (name -> folder, any kind); ``refuse`` is asked before each simulation seed
    (:func:`seed_guard`)."""
    from ..decision.costs import CostWeights
    from ..decision.evaluation import evaluate_online, evaluate_policy
    from ..decision.history import KIND as LSTM_KIND
    from ..decision.learned import LearnedPolicy, Scorer, ThresholdPolicy
    from ..decision.modelfile import ModelFiles
    from ..decision.online import OnlineCostModel
    from ..decision.references import LINK_TRUTHS, told
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
        if per_set is not None:
            policies.update(per_set(name))
        policies.update({p: resolve(p) for p in BASELINES if p != "online"})
        for policy_name, policy in policies.items():
            result = evaluate_policy(labelled, policy.decide_context, weights)
            out.setdefault(policy_name, {})[name] = result
        out.setdefault("online", {})[name] = evaluate_online(labelled, OnlineCostModel(), weights)
        # References, not policies: the model and the cost model told the truth about
        # the link (decision.references), on the same decisions.
        for truth in LINK_TRUTHS:
            informed = told(labelled, truth)
            out.setdefault(f"{model_name}_{truth}", {})[name] = score_model(model, informed)
            cost_model = policies["cost_model"]  # the same object as the cost_model row
            result = evaluate_policy(informed, cost_model.decide_context, weights)
            out.setdefault(f"cost_model_{truth}", {})[name] = result
    return out


def risk_policies(model: str | Path, calibration: Any, name: str = "risk_aware") -> dict[str, Any]:
    """``risk_aware`` on ``model``'s scorer with ``calibration``, and
    ``learned_fallback``: the scorer's own choice with the same budgets."""
    from ..decision.learned import LearnedPolicy, Scorer
    from ..decision.risk import RiskAware

    base = LearnedPolicy(Scorer(model))
    return {
        name: RiskAware(calibration, base=base, override=True),
        "learned_fallback": RiskAware(calibration, base=base, name="learned_fallback"),
    }


def lodo_calibrations(
    model: str | Path, scenario: str, records: int, seed: int
) -> Callable[[str], dict[str, Any]]:
    """Per set name, the risk policies calibrated on every bundled dataset but that
    one (and its family: ``pensieve_*`` are one). A trace file's set uses them all."""
    from ..traces import DATASETS
    from .train import risk_calibration

    def family(name: str) -> str:
        return name.split("_")[0] if name.startswith("pensieve") else name

    def for_set(name: str) -> dict[str, Any]:
        others = [d for d in DATASETS if family(d) != family(name)]
        return risk_policies(model, risk_calibration(scenario, records, others, seed))

    return for_set


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


def independent(refuse: Callable[[int], None]) -> Callable[[int], Callable[[int], None]]:
    """Per evaluation seed, a guard that also refuses a simulation seed an earlier
    evaluation seed ran (``refuse`` first: training seeds)."""
    owner: dict[int, int] = {}

    def for_seed(seed: int) -> Callable[[int], None]:
        def check(sim_seed: int) -> None:
            refuse(sim_seed)
            first = owner.setdefault(sim_seed, seed)
            if first != seed:
                raise ConfigError(
                    f"--seeds: seeds {first} and {seed} would both run simulation seed "
                    f"{sim_seed} (each runs consecutive seeds until it has --records); "
                    "space them further apart, e.g. 101,201,301"
                )

        return check

    return for_seed


def seeds_table(policies: dict[str, Any], paired: dict[str, Any], seeds: list[int]) -> str:
    """Markdown: each policy and set as mean ± half-width of the 95 % interval, then the
    paired differences of mean cost against the first policy (the model)."""

    def pm(row: dict[str, Any], metric: str, pct: bool) -> str:
        mean, (low, high) = row[metric], row["ci95"][metric]
        return plus_minus(mean, (high - low) / 2.0, "{:.1f}" if pct else "{:.3f}", percent=pct)

    lines = [
        f"over seeds {', '.join(map(str, seeds))} (mean ± 95 % interval, Student's t)",
        "",
        "| policy | traces | agreement | regret | avoidable | unavoidable | trimmed | "
        "deadline miss | energy J/task | mean cost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for policy, per_set in policies.items():
        for name, row in per_set.items():
            cells = [
                pm(row, m, True)
                for m in (
                    "agreement",
                    "regret",
                    "avoidable_regret",
                    "unavoidable_regret",
                    "trimmed_regret",
                    "deadline_miss",
                )
            ]
            cells += [pm(row, "energy_j", False), pm(row, "mean_cost", False)]
            lines.append(f"| {policy} | {name} | " + " | ".join(cells) + " |")
    first = next(iter(policies), None)
    pairs = {k: v for k, v in paired.items() if first and k.startswith(f"{first}_vs_")}
    if pairs:
        lines += [
            "",
            "| paired: mean cost difference | traces | mean | 95 % interval | |",
            "|---|---|---:|---|---|",
        ]
        for key, per_set in pairs.items():
            for name, d in per_set.items():
                low, high = d["ci95"]
                verdict = "lower" if high < 0 else "higher" if low > 0 else "not told apart"
                lines.append(
                    f"| {key.replace('_vs_', ' − ')} | {name} | {d['mean_diff']:+.4f} | "
                    f"[{low:+.4f}, {high:+.4f}] | {verdict} |"
                )
    return "\n".join(lines)


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
    seeds = args.seeds or [101 if args.seed is None else args.seed]
    for seed in seeds:
        refuse(seed)  # at once, before any simulation (later seeds as they come)
    extra: dict[str, Any] | None = None
    per_set = None
    if args.lodo:
        if args.calibration_seed in seeds:
            raise ConfigError(
                f"--calibration-seed {args.calibration_seed} is an evaluation seed: the "
                "calibration would have seen the worlds it is scored on"
            )
        if args.calibration_records < 1:
            raise ConfigError(f"--calibration-records must be >= 1, got {args.calibration_records}")
        per_set = lodo_calibrations(
            args.model, args.scenario, args.calibration_records, args.calibration_seed
        )
    else:
        from ..decision.risk import load_calibration

        extra = risk_policies(args.model, load_calibration())
    if args.seeds is None:
        results: dict[str, Any] = evaluate_sets(
            args.model,
            args.scenario,
            sets,
            args.records,
            seeds[0],
            args.behaviour,
            extra=extra,
            refuse=refuse,
            per_set=per_set,
        )
        print(table(results))
    else:
        from ..decision.evaluation import over_seeds

        guard = independent(refuse)
        per_seed = [
            evaluate_sets(
                args.model,
                args.scenario,
                sets,
                args.records,
                s,
                args.behaviour,
                extra=extra,
                refuse=guard(s),
                per_set=per_set,
            )
            for s in seeds
        ]
        policies, paired = over_seeds(per_seed)
        results = {"seeds": seeds, "policies": policies, "paired": paired}
        print(seeds_table(policies, paired, seeds))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
