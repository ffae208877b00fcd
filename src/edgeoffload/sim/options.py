"""How a simulation runs, as opposed to what it simulates (that is the scenario).

Fixed when the :class:`~.simulation.Simulation` is built, because each mode decides
which code paths the run may take: the numpy paths (rounds of decisions, batches of
node arrivals, held-back finishes) are only taken when nothing needs to see every
task one at a time, so a mode switched on halfway would be silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class SimOptions:
    """Modes of one simulation run.

    Attributes:
        capture: keep every decision's features and hindsight probes (for
            :func:`edgeoffload.sim.oracle.oracle_records`; costs memory; decisions go
            one policy call per device-instant).
        external: Gymnasium mode: policy calls are queued in ``Simulation.pending`` and
            the engine stops, for a driver to decide and ``commit`` them.
        report_closed: collect the ids of tasks as they end in ``Simulation.closed``
            (the owner clears it; Gymnasium rewards).
        fast_paths: take the numpy paths where they apply. Off, every task goes
            through the scalar code: the same numbers, slower (the numpy paths are
            tested against it).
        numpy_min_rows: the fewest rows for which a numpy path is taken (None: each
            path's own threshold, where numpy's per-call cost starts to pay). A small
            value sends small batches through numpy too, for tests on small worlds.
        fallback: carry out the local fallback timer of a policy that gives budgets
            (``Decisions.fallback_s``, e.g. ``risk_aware``; ``client.ownership``'s
            rule): an offloaded task whose outcome comes later than its budget after
            its creation is abandoned then and run on its device. Off, budgets are
            ignored, as before. On, the numpy paths are off too (they end tasks in
            bulk, where the rule could not step in).
    """

    capture: bool = False
    external: bool = False
    report_closed: bool = False
    fast_paths: bool = True
    numpy_min_rows: int | None = None
    fallback: bool = False

    def __post_init__(self) -> None:
        if self.fallback and self.fast_paths:
            object.__setattr__(self, "fast_paths", False)  # frozen; see ``fallback``
        if self.numpy_min_rows is not None and self.numpy_min_rows < 1:
            raise ConfigError(f"numpy_min_rows must be >= 1, got {self.numpy_min_rows}")

    def min_rows(self, default: int) -> int:
        """The row threshold of a numpy path whose own is ``default``."""
        return default if self.numpy_min_rows is None else self.numpy_min_rows
