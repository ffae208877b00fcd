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
import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

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
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results JSON on stdout (the benchmark's tables and notes go to stderr)",
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

    options = list(args.options)
    as_json = args.json or "--json" in options  # after the name, where users put it
    options = [o for o in options if o != "--json"]
    out, update, options = _own_options(options)
    configure(out or args.out, update or args.update_docs)
    module = importlib.import_module(f"edgeoffload.bench.{args.name}")
    if not as_json:
        code: int = module.main(options)
        return code
    return _run_json(module, options)


def _run_json(module: Any, options: list[str]) -> int:
    """Run with everything the benchmark prints sent to stderr, then print the JSON
    results it wrote (``bench.common.write_json``): the one file's data, or an object
    by file name when it wrote several."""
    from ..bench.common import DEST

    start = len(DEST.written)
    with contextlib.redirect_stdout(sys.stderr):
        code: int = module.main(options)
    written = DEST.written[start:]
    data: Any = written[0][1] if len(written) == 1 else dict(written)
    print(json.dumps(data, indent=2))
    return code
