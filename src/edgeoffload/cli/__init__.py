"""edgeoffload: decide, per task, whether a device computes locally or offloads to an
edge node, and then do it: nodes, a controller, a client, a simulator and benchmarks.

This package is the one command, and the only code that reads argv and the environment.
Each subcommand lives in its own module, imported only when chosen, so that
``edgeoffload node`` does not pay for the demo's or the benchmarks' imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

#: subcommand -> (module under edgeoffload.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "node": ("node", "run an edge node serving registered tasks over WebSocket"),
    "controller": ("controller", "run the controller: membership, health, node table, REST API"),
    "submit": ("submit", "run one task on a node and print its result as JSON"),
    "demo": ("demo", "start 3 local nodes, run a mixed workload through a client, summarise"),
    "bench": ("bench", "run a benchmark (rpc, startup, sim, ...) into --out DIR"),
    "status": ("status", "show the site: nodes, states, queues, throughput, recent events"),
    "config": ("config", "show the effective configuration (defaults, file, environment)"),
    "token": ("token", "create an access token (role client, node or admin)"),
    "sim": ("sim", "simulate devices, links and nodes: sim run|compare|sweep|list|validate"),
    "compress": ("compress", "INT8-quantize or prune a model; print size, latency, accuracy"),
    "distill": ("distill", "train a small student model on a teacher's outputs (train extra)"),
    "train": ("train", "train a decision model on simulated decisions labelled in hindsight"),
    "evaluate": ("evaluate", "score a decision model against the hindsight oracle and baselines"),
    "emulate": ("emulate", "a device and edge hosts on shaped links (trace, RTT, loss, CPU cap)"),
    "completion": ("completion", "print a shell completion script (bash, zsh or tcsh)"),
}


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, with the terminal's width found without ``shutil``.

    argparse makes a formatter for every ``add_argument`` (to check its metavar), and
    the stock one imports ``shutil`` for ``get_terminal_size``, which brings ``bz2``,
    ``lzma`` and ``fnmatch``: about 2.5 ms of a node's start-up CPU, 25 ms of its cold
    start at 0.1 CPU. Same width: ``$COLUMNS``, else the terminal's, else 80; less 2.
    """

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, as it finds it."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2 on bad usage.

    Abbreviated options are off: with them ``token --secret S`` silently meant
    ``--secret-file S``, and the error then printed the secret.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (try --help)\n")
        raise SystemExit(2)


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    summary = " ".join(__doc__.split("\n\n")[0].split()) if __doc__ else None
    parser = Parser(prog="edgeoffload", description=summary)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    subparsers = {}
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"edgeoffload.cli.{module}").add_arguments(p)
        add_log_options(p)
        subparsers[name] = p
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edgeoffload`` script; returns the exit code."""
    from .startup import defer_unused_imports

    defer_unused_imports()  # before websockets is imported (cli/startup.py says why)
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Parse only the chosen subcommand's options (lazy imports keep `node` start fast).
    command = next((a for a in args_list if not a.startswith("-")), None)
    chosen: Parser | None = None
    if command in COMMANDS:
        parser = Parser(prog="edgeoffload")
        sub = parser.add_subparsers(dest="command", parser_class=Parser)
        module = importlib.import_module(f"edgeoffload.cli.{COMMANDS[command][0]}")
        chosen = sub.add_parser(command, description=COMMANDS[command][1])
        module.add_arguments(chosen)
        add_log_options(chosen)
    else:
        parser, _ = build_parser()
    args, unknown = parser.parse_known_args(args_list)
    if unknown:  # named by the subcommand that did not know them: `edgeoffload node: ...`
        (chosen or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 2
    from ..errors import ConfigError
    from ..logs import configure

    configure(args.log_level, args.log_format)
    try:
        code: int = importlib.import_module(f"edgeoffload.cli.{COMMANDS[args.command][0]}").run(
            args
        )
    except ConfigError as exc:
        sys.stderr.write(f"edgeoffload {args.command}: configuration error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"edgeoffload {args.command}: interrupted\n")
        return 130
    return code


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``--log-format`` on every command (edgeoffload.logs)."""
    from ..logs import LEVELS

    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=LEVELS,
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING (default), ERROR or CRITICAL",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="text (default) or json: one object per line, with task, node and "
        "connection ids as fields",
    )


def _version() -> str:
    from ..version import __version__

    return f"edgeoffload {__version__}"
