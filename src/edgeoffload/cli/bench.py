"""``edgeoffload bench NAME``: run a benchmark of :mod:`edgeoffload.bench`.

The benchmarks ship with the package (their peers, Ray, Dask, aiohttp, LEAF, are the
``bench`` extra), so they run from an installed wheel as from a checkout. Each writes
only where told: ``--out DIR`` (default ``./edgeoffload-results``); ``--update-docs``
also refreshes a checkout's ``docs/`` and ``bench/results/`` (what ``make bench-*``
does). A benchmark is a module ``edgeoffload.bench.NAME`` with ``main(argv) -> int``,
listed in :data:`NAMES`.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from ..errors import ConfigError

#: The benchmarks, by module name under ``edgeoffload.bench``.
NAMES = (
    "rpc",
    "startup",
    "compress",
    "decide",
    "failover",
    "sim",
    "deploy",
    "abuse",
    "emulation",
    "e2e",
    "cache",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the results go (default: ./edgeoffload-results)",
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also refresh the checkout's docs/ and bench/results/ (maintainers)",
    )
    parser.add_argument("name", choices=NAMES, help="which benchmark")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options for the benchmark")


def _own_options(options: list[str]) -> tuple[Path | None, bool, list[str]]:
    """``--out DIR`` / ``--out=DIR`` and ``--update-docs`` given after the name (where
    users put them) are this command's, not the benchmark's."""
    out: Path | None = None
    update = False
    rest: list[str] = []
    it = iter(options)
    for arg in it:
        if arg == "--update-docs":
            update = True
        elif arg == "--out":
            value = next(it, None)
            if value is None:
                raise ConfigError("--out needs a folder")
            out = Path(value)
        elif arg.startswith("--out="):
            out = Path(arg.removeprefix("--out="))
        else:
            rest.append(arg)
    return out, update, rest


def run(args: argparse.Namespace) -> int:
    from ..bench.common import configure

    out, update, options = _own_options(list(args.options))
    configure(out or args.out, update or args.update_docs)
    module = importlib.import_module(f"edgeoffload.bench.{args.name}")
    code: int = module.main(options)
    return code
