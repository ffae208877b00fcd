"""Run the AOI example: ``python -m examples.aoi.run --url ws://HOST:PORT/offload``
(README.md; the options and the exit status are the shared runner's, examples/runner.py).
The ``part`` group's latency is from the cameras' trigger to a frame's verdict; a part
misses its deadline when a verdict comes later than 0.5 s."""

from __future__ import annotations

import sys

from examples.aoi.workload import check, workload


def main(argv: list[str] | None = None) -> int:
    from examples.runner import main as run_main

    return run_main("aoi", workload, check, "examples.aoi.tasks", 80, argv)


if __name__ == "__main__":
    sys.exit(main())
