"""``edgeoffload bench decide``: the decision engine's figures, in OUT/decision.json.

Parts (``--parts``, default all), each writing its keys of decision.json and its section
of docs/decision.md; a part not run keeps its previous figures:

- ``timing``: one decision, and a batch of 1,000 per task, including feature extraction
  (``decide_us``);
- ``predictor``: bandwidth prediction error per dataset (``predictor``);
- ``policies``: every policy against the hindsight oracle on held-out traces, over
  several seeds with 95 % intervals (``policies``, ``paired``);
- ``pca``: the MLP with and without PCA on its features (``pca``);
- ``droo``: the DROO benchmark (``droo``; see bench/decide_droo.py);
- ``seed_claim``: the seed article's LSTM on 100,000 tasks against our policies on the
  same test tasks (``seed_claim``; see bench/decide_seed.py).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from edgeoffload.cli import Parser
from edgeoffload.cli.options import seed_list

from .common import machine, read_json, update_doc_section, write_json

PARTS = ("timing", "predictor", "policies", "pca", "droo", "seed_claim")


def _load() -> dict[str, Any]:
    data = read_json("decision.json")
    return data if isinstance(data, dict) else {}


def _split(results: dict[str, Any]) -> dict[str, Any]:
    """Keep ``policies`` (policy -> dataset -> metrics), ``predictor`` (dataset ->
    metrics) and ``pca`` (variant -> metrics) free of anything else: how each was run
    goes to ``<key>_setup``."""
    for key in ("predictor", "pca"):
        part = results.get(key)
        if not isinstance(part, dict):
            continue
        setup = results.setdefault(f"{key}_setup", {})
        for name in [
            k for k in part if k.startswith("_") or k in ("inference_us", "model", "command")
        ]:
            value = part.pop(name)
            if name == "_setup" and isinstance(value, dict):
                setup.update(value)
            else:
                setup[name] = value
    return results


def main(argv: list[str]) -> int:
    parser = Parser(prog="edgeoffload bench decide")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {PARTS}")
    parser.add_argument(
        "--droo-reference-frames",
        type=int,
        default=None,
        help="test frames the scalar-bisection reference decides (default: all 6,000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="DROO learner seed")
    parser.add_argument("--records", type=int, default=15_000, help="decisions per held-out set")
    parser.add_argument(
        "--eval-seed", type=int, default=101, help="simulation seed of the pca part's test set"
    )
    parser.add_argument(
        "--eval-seeds",
        type=seed_list,
        default=[101, 201, 301, 401, 501],
        metavar="LIST",
        help="simulation seeds of the policies part (default 101,201,301,401,501)",
    )
    parser.add_argument("--gbdt-records", type=int, default=30_000, help="gbdt training size")
    parser.add_argument(
        "--seed-records", type=int, default=100_000, help="tasks of the seed_claim record set"
    )
    parser.add_argument(
        "--seed-splits",
        type=int,
        default=5,
        help="seed_claim: seeded splits by device, each with its own LSTM (default 5)",
    )
    parser.add_argument(
        "--seed-records-out",
        type=Path,
        default=None,
        metavar="FILE.npz",
        help="also write the seed_claim record set (parameters, labels, split) there",
    )
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)} (known: {', '.join(PARTS)})")
    if args.seed_records < 100:
        parser.error(f"--seed-records must be >= 100, got {args.seed_records}")
    if args.seed_splits < 1:
        parser.error(f"--seed-splits must be >= 1, got {args.seed_splits}")
    command = "edgeoffload bench decide " + shlex.join(argv) if argv else "edgeoffload bench decide"
    results = _load()
    results["machine"] = machine("scipy", "torch", "onnxruntime", "scikit-learn")

    if "timing" in parts:
        from . import decide_timing

        timing = decide_timing.run()
        timing["command"] = command
        results["decide_us"] = timing
        update_doc_section("decision.md", "timing", decide_timing.markdown(timing, command))
        print(
            f"decide: {timing['single']:.1f} us single, {timing['batched_per_task']:.3f} us "
            "per task in batches of 1,000 (learned policy)",
            flush=True,
        )

    if "predictor" in parts:
        from . import decide_models

        before = os.getloadavg()
        pred = decide_models.predictor()
        load = f"{before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)"
        pred["_setup"]["load_average"] = load
        pred["command"] = command
        results["predictor"] = pred
        results.pop("predictor_setup", None)  # the previous run's, some keys now gone
        update_doc_section(
            "decision.md", "predictor", decide_models.predictor_markdown(pred, command, load)
        )

    if "policies" in parts:
        from . import decide_models

        pol = decide_models.policies(args.records, args.eval_seeds, args.gbdt_records)
        update_doc_section("decision.md", "policies", decide_models.policies_markdown(pol, command))
        results["policies"] = pol["policies"]
        results["paired"] = pol["paired"]
        results["policies_setup"] = pol["_setup"] | {"command": command}

    if "pca" in parts:
        from . import decide_models

        p = decide_models.pca(args.gbdt_records, args.records, args.eval_seed)
        p["_setup"]["command"] = command
        results["pca"] = p
        update_doc_section("decision.md", "pca", decide_models.pca_markdown(p, command))

    if "droo" in parts:
        from edgeoffload.decision.droo.learner import DrooConfig

        from . import decide_droo

        droo = decide_droo.run(args.droo_reference_frames, DrooConfig(seed=args.seed))
        droo["command"] = command
        results["droo"] = droo
        update_doc_section("decision.md", "droo", decide_droo.markdown(droo, command))
        print(
            f"droo: rate {droo['normalized_rate_mean']:.6f} (p5 {droo['normalized_rate_p5']:.6f}, "
            f"exact {droo['exact_share']:.2%}), {droo['decision_ms']:.3f} ms per decision vs "
            f"reference {droo['reference_decision_ms']:.3f} ms ({droo['speedup']}x)",
            flush=True,
        )

    if "seed_claim" in parts:
        from . import decide_seed

        loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
        claim = decide_seed.run(
            args.seed_records, save=args.seed_records_out, splits=args.seed_splits
        )
        claim |= {"command": command, "loadavg": loadavg}
        results["seed_claim"] = claim
        update_doc_section(
            "decision.md", "seed_claim", decide_seed.markdown(claim, command, loadavg)
        )

    write_json("decision.json", _split(results))
    return 0
