"""``DATASET:NAME`` or a file path -> a :class:`~edgeoffload.traces.Trace`.

The command line names a bundled trace by its dataset and file name
(``ghent_4g:report_bus_0001``, ``pensieve_test:norway_bus_1``; ``DATASET:`` alone
lists the names in the error) or gives any two-column ``seconds Mbit/s`` file.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..traces import DATASETS, Trace, load_dataset, load_trace_file


def load_trace_ref(ref: str, scale: float = 1.0) -> Trace:
    """The trace ``ref`` names, its capacities multiplied by ``scale``.

    Raises:
        ConfigError: no such file, dataset or trace (the message lists what exists).
    """
    dataset, sep, name = ref.partition(":")
    if sep and dataset in DATASETS:
        traces = load_dataset(dataset)
        matches = [t for t in traces if name in (t.name, Path(t.name).stem)]
        if not matches:
            known = ", ".join(t.name for t in traces[:8])
            raise ConfigError(
                f"no trace {name!r} in {dataset} ({len(traces)} traces, e.g. {known})"
            )
        trace = matches[0]
    elif Path(ref).is_file():
        trace = load_trace_file(ref)
    else:
        raise ConfigError(
            f"trace {ref!r} is neither a file nor DATASET:NAME (datasets: {', '.join(DATASETS)})"
        )
    return trace if scale == 1.0 else trace.scaled(scale)
