"""``edgeoffload bench NAME``: run a benchmark from the source tree's ``bench/`` folder.

Benchmarks are not part of the installed package (their peers, Ray, Dask, aiohttp, are
the ``bench`` extra); this command finds ``bench/`` next to ``src/`` and runs
``bench.<NAME>.main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

NAMES = ("rpc", "startup", "compress", "decide", "failover", "sim", "emulation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=NAMES, help="which benchmark")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options for the benchmark")


def run(args: argparse.Namespace) -> int:
    root = Path(__file__).resolve().parents[3]
    if not (root / "bench" / "__init__.py").exists():
        sys.stderr.write(f"edgeoffload bench: no bench/ folder at {root}; use a source checkout\n")
        return 2
    sys.path.insert(0, str(root))
    module = importlib.import_module(f"bench.{args.name}")
    code: int = module.main(args.options)
    return code
