"""Run the traffic example: ``python -m examples.traffic.run --url ws://HOST:PORT/offload``
(README.md; the options and the exit status are the shared runner's, examples/runner.py).
The ``cycle`` group's latency is the response time: from a cycle's last reading to the
intersection's next signal plan."""

from __future__ import annotations

import sys

from examples.runner import main as run_main
from examples.traffic.workload import check, workload


def main(argv: list[str] | None = None) -> int:
    return run_main("traffic", workload, check, "examples.traffic.tasks", 660, argv)


if __name__ == "__main__":
    sys.exit(main())
