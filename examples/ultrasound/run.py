"""Run the ultrasound example: ``python -m examples.ultrasound.run --url
ws://HOST:PORT/offload`` (README.md; the options and the exit status are the shared
runner's, examples/runner.py). A frame's latency runs from its capture to its analysis."""

from __future__ import annotations

import sys

from examples.runner import main as run_main
from examples.ultrasound.workload import check, workload


def main(argv: list[str] | None = None) -> int:
    return run_main("ultrasound", workload, check, "examples.ultrasound.tasks", 50, argv)


if __name__ == "__main__":
    sys.exit(main())
