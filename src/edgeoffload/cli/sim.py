"""``edgeoffload sim run|compare|sweep|list``: the simulator from the command line.

``run`` simulates one scenario (a file, or a bundled name) under one policy and writes
records, summary.json and a report; ``compare`` runs several policies on the identical
world and workload and reports them side by side; ``sweep`` runs a parameter grid in
parallel (local processes, or a Ray or Dask cluster).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from .options import seed_list


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (refused at parse time, before any output)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


_seeds = seed_list  # comma-separated seeds and ranges (101-105)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("scenario", help="scenario file (.yaml/.toml) or bundled name")
        p.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
        p.add_argument(
            "--out", type=Path, default=None, help="output folder (default: simout/NAME)"
        )
        p.add_argument("--duration", type=float, default=None, help="simulated seconds")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="PATH=VALUE",
            help="override a scenario field, e.g. --set devices[0].count=50 (repeatable)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--json",
            action="store_true",
            help="print the summary JSON (what summary.json or sweep.json holds) instead of "
            "the table; other messages go to stderr",
        )

    p = sub.add_parser("run", help="simulate one scenario under one policy")
    common(p)
    p.add_argument(
        "--policy",
        default=None,
        help="policy name, model folder or module:Name (default: the scenario's)",
    )
    p.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="records file format"
    )
    p.add_argument("--no-report", action="store_true", help="skip the plots and HTML report")

    p = sub.add_parser("compare", help="run several policies on identical traces and workloads")
    common(p)
    p.add_argument(
        "--policies", required=True, help="comma-separated policy names or model folders"
    )
    p.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="records file format"
    )

    p = sub.add_parser("sweep", help="run a parameter grid in parallel")
    common(p)
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=V1,V2",
        help="a swept field and its values, e.g. --grid devices[0].count=10,100 (repeatable)",
    )
    p.add_argument("--policies", default=None, help="comma-separated (default: the scenario's)")
    p.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help="seeds, e.g. 0,1,2 or 1-5 (default: the scenario's)",
    )
    p.add_argument("--workers", type=_positive_int, default=None, help="local worker processes")
    p.add_argument("--backend", choices=("local", "ray", "dask"), default="local")
    p.add_argument("--address", default=None, help="Ray/Dask scheduler address to join")

    sub.add_parser("list", help="bundled scenarios and known policies")

    p = sub.add_parser("validate", help="check the simulator against M/M/1, M/M/c, Kumar-Lu")
    p.add_argument("--jobs", type=_positive_int, default=300_000, help="jobs per queue check")
    p.add_argument("--seed", type=int, default=2)


def _literal(raw: str) -> Any:
    """A TOML literal when it parses as one (numbers, booleans, lists), else the string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    from ..errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {item!r}: expected PATH=VALUE")
        out[key.strip()] = value.strip()
    return out


def _scenario(args: argparse.Namespace) -> Any:
    from ..sim.scenario import load_scenario, with_overrides

    scenario = load_scenario(args.scenario)
    overrides = {k: _literal(v) for k, v in _pairs(args.set, "--set").items()}
    if args.duration is not None:
        overrides["duration_s"] = args.duration
    return with_overrides(scenario, overrides) if overrides else scenario


def _progress(quiet: bool, total: float, label: str) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        disable=quiet,
        transient=True,
        console=Console(stderr=True),
    )
    task = progress.add_task(label, total=total)
    return progress, task


def run(args: argparse.Namespace) -> int:
    if args.sim_command == "list":
        return _list()
    if args.sim_command == "validate":
        return _validate(args.jobs, args.seed)
    scenario = _scenario(args)
    out = args.out or Path("simout") / scenario.name
    existed = out.exists()
    _make_folder(out)
    try:
        if args.sim_command == "sweep":
            return _sweep(args, scenario, out)
        return _simulate(args, scenario, out)
    except BaseException:  # interrupted, or refused: leave no empty folder behind
        if not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _simulate(args: argparse.Namespace, scenario: Any, out: Path) -> int:
    from ..decision.registry import resolve
    from ..sim.output import write_json, write_records
    from ..sim.report import write_report
    from ..sim.results import SimResult
    from ..sim.simulation import Simulation
    from ..sim.summary import summarize

    names = [args.policy or scenario.policy] if args.sim_command == "run" else _split(args.policies)
    policies = [resolve(name) for name in names]  # unknown names fail before any run
    results = []
    for policy in policies:
        sim = Simulation(scenario, policy, seed=args.seed)
        progress, task = _progress(
            args.quiet, scenario.duration_s, f"{scenario.name} / {policy.name}"
        )
        with progress:

            def advance(now: float, progress: Any = progress, task: Any = task) -> None:
                progress.update(task, completed=now)

            sim.run(progress=advance)
        result = SimResult.of(sim)
        results.append(result)
        folder = out if len(policies) == 1 else out / policy.name
        folder.mkdir(parents=True, exist_ok=True)
        write_records(result, folder / "records", args.format)
        write_json(summarize(result), folder / "summary.json")
    summaries = [summarize(r) for r in results]
    if len(results) > 1:
        write_json(summaries, out / "summary.json")
    if not getattr(args, "no_report", False):
        write_report(results, out)
    _emit(args, summaries if len(summaries) > 1 else summaries[0], summaries, out)
    return 0


def _emit(args: argparse.Namespace, data: Any, rows: list[dict[str, Any]], out: Path) -> None:
    """The table and where the files went; with ``--json`` the JSON alone on stdout
    (for ``jq`` and scripts), the note on stderr."""
    if args.json:
        import json

        print(json.dumps(data, indent=2))
        sys.stderr.write(f"written to {out}\n")
        return
    _print(rows)
    print(f"written to {out}")


def _make_folder(out: Path) -> None:
    """Create the output folder, or say in one line why it cannot be."""
    from ..errors import ConfigError

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out {out}: the folder is not writable")


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def table_rows(summaries: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The printed table: headers and one row per summary. In a scenario of task graphs
    a job (every stage, from its creation to its last result) comes first; the stage
    figures follow, named as such (a stage's latency is not the job's)."""

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f}%"

    def ms(v: float | None, digits: int = 1) -> str:
        return "–" if v is None else f"{1000 * v:.{digits}f}"

    def tail(s: dict[str, Any]) -> list[str]:
        return [f"{s['device_energy_j']:,.1f}", pct(s["offload_share"]), pct(s["node_utilisation"])]

    dag = any(s.get("jobs") for s in summaries)
    if dag:
        # Latencies in ms (said under the table: the units would not fit 80 columns).
        headers = ["policy", "jobs", "job p50", "job p95", "job miss", "stages"]
        headers += ["stage p50", "energy J", "offload", "util"]
    else:
        headers = ["policy", "tasks", "p50 ms", "p95 ms", "miss", "energy J", "offload", "util"]
    rows = []
    for s in summaries:
        lat = s["latency_s"]
        if dag:
            jobs = s.get("jobs") or {}
            job_lat = jobs.get("latency_s") or {}
            rows.append(
                [
                    s["policy"],
                    f"{jobs.get('jobs', 0):,}",
                    ms(job_lat.get("p50"), 0),
                    ms(job_lat.get("p95"), 0),
                    pct(jobs.get("deadline_miss_rate")),
                    f"{s['tasks']:,}",
                    ms(lat["p50"]),
                    *tail(s),
                ]
            )
        else:
            rows.append(
                [
                    s["policy"],
                    f"{s['tasks']:,}",
                    ms(lat["p50"]),
                    ms(lat["p95"]),
                    pct(s["deadline_miss_rate"]),
                    *tail(s),
                ]
            )
    return headers, rows


def _print(summaries: list[dict[str, Any]]) -> None:
    headers, rows = table_rows(summaries)
    dag = "jobs" in headers
    _show(
        headers, rows, "latencies in ms; stage figures count every stage as a task" if dag else None
    )


def _show(headers: list[str], rows: list[list[str]], caption: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(*headers, box=box.SIMPLE_HEAD, pad_edge=False, caption=caption)
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:  # a file or a pipe: as wide as the table, never cut
        wide = console.options.update_width(1000)
        console = Console(width=max(console.width, console.measure(table, options=wide).maximum))
    console.print(table)


def _sweep(args: argparse.Namespace, scenario: Any, out: Path) -> int:
    from ..decision.registry import check
    from ..sim.output import write_json
    from ..sim.sweep import aggregate, points, sweep
    from ..sim.sweep_report import table, write_csv, write_html

    grid = {
        k: [_literal(v) for v in _split(values)]
        for k, values in _pairs(args.grid, "--grid").items()
    }
    policies = _split(args.policies) if args.policies else [scenario.policy]
    for name in policies:
        check(name)  # before any worker starts
    # `is None`, not `or`: seed 0 is a seed (it once ran the scenario's instead).
    seeds = args.seeds or [scenario.seed if args.seed is None else args.seed]
    total = len(points(grid, policies, seeds))
    progress, task = _progress(args.quiet, total, f"sweep {scenario.name}")
    with progress:
        results = sweep(
            scenario,
            grid,
            policies,
            seeds,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            on_result=lambda _: progress.advance(task),
        )
    write_json(results, out / "sweep.json")
    params = list(grid)
    rows = aggregate(results, params)
    written = [out / "sweep.json", write_csv(rows, params, out / "sweep.csv")]
    try:
        written.append(write_html(rows, params, f"sweep {scenario.name}", out))
    except ImportError:  # matplotlib is in the sim extra
        sys.stderr.write(
            "no sweep.html: the plots need matplotlib (pip install 'edgeoffload[sim]')\n"
        )
    where = ", ".join(str(p) for p in written)
    if args.json:  # every run's summary, as sweep.json holds them
        import json

        print(json.dumps(results, indent=2))
        sys.stderr.write(f"written to {where}\n")
        return 0
    _show(*table(rows, params), "mean ± 95 % interval over seeds (Student's t)")
    print(f"written to {where}")
    return 0


def _list() -> int:
    from ..decision.registry import ALIASES, NAMED
    from ..sim.scenario import bundled_names, load_scenario

    print("bundled scenarios:")
    for name in bundled_names():
        s = load_scenario(name)
        print(f"  {name:14s} {s.description.split(': ')[0].split('. ')[0]}")
    print("policies:")
    for name, named in NAMED.items():
        print(f"  {name:14s} {named.summary}")
    for alias, name in ALIASES.items():
        print(f"  {alias:14s} the client's default: {name}")
    print("  DIR            a trained model folder (edgeoffload train --out DIR)")
    print("  module:Name    any importable factory of objects with decide()")
    sys.stdout.flush()
    return 0


def _validate(jobs: int, seed: int) -> int:
    """Print the validation tables (markdown) of docs/simulator.md."""
    from ..sim.validation import kumar_lu_check, mmc_check

    print("| queue | lambda | mu | jobs | simulated Wq (s) | theory Wq (s) | error |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for arrival, cores in ((0.3, 1), (0.5, 1), (2.4, 4)):
        c = mmc_check(arrival, 1.0, cores, jobs, seed)
        name = "M/M/1" if cores == 1 else f"M/M/{cores}"
        print(
            f"| {name} | {arrival} | 1 | {c.jobs:,} | {c.measured_wait_s:.4f} | "
            f"{c.theory_wait_s:.4f} | {100 * c.relative_error:+.2f} % |"
        )
    print()
    print("| cycles | input | local J (sim / theory) | offload J (sim / theory) | offload saves? |")
    print("|---:|---:|---:|---:|---|")
    for cycles, size in ((1e9, 1e5), (1e9, 1e6), (1e8, 1e6), (4e9, 2e6), (3e8, 5e4)):
        k = kumar_lu_check(cycles, size)
        agree = "yes" if k.offload_saves else "no"
        same = (
            "as predicted" if k.offload_saves == k.theory_says_offload_saves else "NOT as predicted"
        )
        print(
            f"| {cycles:.0e} | {size / 1e3:,.0f} kB | {k.local_j:.4f} / {k.local_theory_j:.4f} | "
            f"{k.offload_j:.4f} / {k.offload_theory_j:.4f} | {agree}, {same} |"
        )
    return 0
