"""Applications as the simulator uses them: task attributes drawn in bulk, and task
graphs (DAGs) compiled to index lists.

A plain app's task is one unit of work: input uploaded, ``cpu_cycles`` run, output
returned. An app with ``stages`` is a DAG (e.g. decode -> detect -> classify): stage 0
reads the app's input; every other stage reads the outputs of the stages it comes
``after``; the outputs of the stages nothing depends on (sinks) go back to the device.
Each stage is decided and placed on its own (partial offloading).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decision.features import F64, I64
from .distributions import Value, Zipf, sample
from .scenario import AppSpec

#: Content keys of app ``i`` are ``i * KEY_SPACE + rank`` (distinct across apps, so a
#: cached result is never served to another app).
KEY_SPACE = 1 << 40


@dataclass(frozen=True, slots=True)
class Draws:
    """Attributes of ``n`` new tasks (one array per feature)."""

    cycles: F64
    mem_mb: F64
    io_ops: F64
    input_bytes: F64
    output_bytes: F64
    keys: I64
    #: A task graph's later stages (stage 1 on), one row per task: their cycles and
    #: output bytes, drawn now so that they do not depend on when the stages start.
    later_cycles: F64 | None = None
    later_output: F64 | None = None


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    cpu_cycles: Value
    output_bytes: Value
    after: tuple[int, ...]  # indices of the stages it reads
    successors: tuple[int, ...]  # stages that read it
    sink: bool  # its output goes back to the device


class AppModel:
    """One app of a scenario, ready to draw tasks from."""

    def __init__(self, index: int, name: str, spec: AppSpec) -> None:
        self.index = index
        self.name = name
        self.spec = spec
        self.deadline_s = spec.deadline_s if spec.deadline_s is not None else float("inf")
        self.priority = float(spec.priority)
        self.cacheable = spec.cacheable
        self._zipf = Zipf(spec.catalog, spec.zipf_s) if spec.catalog else None
        self.stages = _compile_stages(spec)

    @property
    def is_dag(self) -> bool:
        return bool(self.stages)

    def draw(self, rng: np.random.Generator, n: int) -> Draws:
        """Attributes of ``n`` tasks (for a DAG: of its first stage, and the sizes of
        its later stages)."""
        spec = self.spec
        if self.stages:
            first = self.stages[0]
            cycles = sample(first.cpu_cycles, rng, n)
            output = sample(first.output_bytes, rng, n)
        else:
            cycles = sample(spec.cpu_cycles, rng, n)
            output = sample(spec.output_bytes, rng, n)
        if self._zipf is not None:
            keys = self._zipf.sample(rng, n) + self.index * KEY_SPACE
        else:
            keys = np.full(n, -1, dtype=np.int64)
        mem_mb = sample(spec.mem_mb, rng, n)
        io_ops = sample(spec.io_ops, rng, n)
        input_bytes = sample(spec.input_bytes, rng, n)
        later_cycles = later_output = None
        if len(self.stages) > 1:
            later = self.stages[1:]
            later_cycles = np.column_stack([sample(s.cpu_cycles, rng, n) for s in later])
            later_output = np.column_stack([sample(s.output_bytes, rng, n) for s in later])
        return Draws(cycles, mem_mb, io_ops, input_bytes, output, keys, later_cycles, later_output)


def _compile_stages(spec: AppSpec) -> tuple[Stage, ...]:
    if not spec.stages:
        return ()
    names = [s.name for s in spec.stages]
    after: list[tuple[int, ...]] = []
    for k, s in enumerate(spec.stages):
        if k == 0:
            after.append(())
        elif s.after is None:
            after.append((k - 1,))
        else:
            after.append(tuple(names.index(a) for a in s.after))
    successors = [tuple(j for j, deps in enumerate(after) if k in deps) for k in range(len(names))]
    return tuple(
        Stage(s.name, s.cpu_cycles, s.output_bytes, after[k], successors[k], not successors[k])
        for k, s in enumerate(spec.stages)
    )
