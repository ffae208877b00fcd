"""The task registry: named Python functions with resource hints.

A task is an ordinary function made known under a name::

    @task(name="resize", cpu_cycles=lambda img, w: 40 * img.size, input_bytes=8e6)
    def resize(img: np.ndarray, w: int) -> np.ndarray: ...

The decorator returns the function unchanged (call it directly as before) and records a
:class:`TaskSpec`. Nothing travels on the wire but the name and msgpack values: a node
runs only tasks registered by the modules it was started with (:func:`load_modules`),
and it looks names up in that table, never imports by name from a frame.

Resource hints feed the decision engine. Each is a number or a callable of the task's
arguments (for size-dependent costs); :meth:`TaskSpec.hints` evaluates them.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import msgspec

from .errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])
Hint = float | Callable[..., float]


@dataclass(frozen=True, slots=True)
class ResourceHints:
    """A task's expected resource use, evaluated for one set of arguments."""

    cpu_cycles: float
    mem_mb: float
    io_ops: float
    input_bytes: float
    output_bytes: float


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A registered task: its function, where it came from, hints and execution flags.

    Attributes:
        inline: run in the node's event loop instead of the process pool. Only for
            tasks that finish in microseconds; a slow inline task stalls the node.
        cacheable: the result depends only on the arguments: a node with a cache keeps
            it under the task's name and its arguments' digests and answers a repeat
            without running it (``Result.cached``; node/cache.py).
        idempotent: running it twice is harmless (allows hedged requests).
        requires: node labels the task needs, e.g. ``{"gpu": "true"}``: it is placed
            only on nodes that carry all of them.
        timeout_s: longest one run may take on a node's pool (capped by the node's
            ``max_task_s``); past it the worker is stopped and the task answered
            ``deadline_exceeded``. None: the node's cap alone.
        max_attempts: placements (on nodes or here) without a result after which the
            task fails, overriding the client's ``max_attempts`` for this task: 1 for a
            task that must not run twice, more for one worth retrying longer. None: the
            client's setting.
    """

    name: str
    fn: Callable[..., Any]
    module: str
    cpu_cycles: Hint = 1e6
    mem_mb: Hint = 1.0
    io_ops: Hint = 0.0
    input_bytes: Hint = 0.0
    output_bytes: Hint = 0.0
    cacheable: bool = False
    inline: bool = False
    idempotent: bool = False
    requires: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    max_attempts: int | None = None
    _check: Callable[[list[Any]], list[Any]] = field(default=lambda a: a, repr=False)

    def hints(self, args: list[Any] | tuple[Any, ...] = ()) -> ResourceHints:
        """Evaluate the resource hints for these arguments."""

        def value(h: Hint) -> float:
            return float(h(*args)) if callable(h) else float(h)

        return ResourceHints(
            value(self.cpu_cycles),
            value(self.mem_mb),
            value(self.io_ops),
            value(self.input_bytes),
            value(self.output_bytes),
        )

    def check_args(self, args: list[Any]) -> list[Any]:
        """Check the arguments against the signature and annotations, converting where
        the annotation asks (e.g. a msgpack array to a ``tuple``).

        Raises:
            TypeError: wrong count or type, with a message naming the parameter.
        """
        return self._check(args)


class _Registry:
    """All tasks registered in this process, by name."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}

    def add(self, spec: TaskSpec) -> None:
        old = self._tasks.get(spec.name)
        if old is not None and (old.module, old.fn.__qualname__) != (
            spec.module,
            spec.fn.__qualname__,
        ):
            raise ConfigError(
                f"task name {spec.name!r} is registered twice: by "
                f"{old.module}.{old.fn.__qualname__} and by {spec.module}.{spec.fn.__qualname__}"
            )
        self._tasks[spec.name] = spec

    def get(self, name: str) -> TaskSpec | None:
        return self._tasks.get(name)

    def from_modules(self, modules: Iterable[str]) -> dict[str, TaskSpec]:
        """The tasks defined in these modules (or their submodules)."""
        prefixes = tuple(modules)
        return {
            name: spec
            for name, spec in self._tasks.items()
            if any(spec.module == m or spec.module.startswith(m + ".") for m in prefixes)
        }


REGISTRY = _Registry()


@overload
def task(fn: F, /) -> F: ...


@overload
def task(
    *,
    name: str | None = None,
    cpu_cycles: Hint = 1e6,
    mem_mb: Hint = 1.0,
    io_ops: Hint = 0.0,
    input_bytes: Hint = 0.0,
    output_bytes: Hint = 0.0,
    cacheable: bool = False,
    inline: bool = False,
    idempotent: bool = False,
    requires: dict[str, str] | None = None,
    timeout_s: float | None = None,
    max_attempts: int | None = None,
) -> Callable[[F], F]: ...


def task(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    cpu_cycles: Hint = 1e6,
    mem_mb: Hint = 1.0,
    io_ops: Hint = 0.0,
    input_bytes: Hint = 0.0,
    output_bytes: Hint = 0.0,
    cacheable: bool = False,
    inline: bool = False,
    idempotent: bool = False,
    requires: dict[str, str] | None = None,
    timeout_s: float | None = None,
    max_attempts: int | None = None,
) -> F | Callable[[F], F]:
    """Register a function as a task (usable bare, ``@task``, or with options).

    The name defaults to the function's ``__name__``. See :class:`TaskSpec` for the flags.
    """

    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if max_attempts is not None and (type(max_attempts) is not int or max_attempts < 1):
        raise ValueError(f"max_attempts must be a whole number >= 1, got {max_attempts!r}")

    def register(f: F) -> F:
        spec = TaskSpec(
            name=name or f.__name__,
            fn=f,
            module=f.__module__,
            cpu_cycles=cpu_cycles,
            mem_mb=mem_mb,
            io_ops=io_ops,
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            cacheable=cacheable,
            inline=inline,
            idempotent=idempotent,
            requires=dict(requires or {}),
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            _check=_make_checker(f),
        )
        REGISTRY.add(spec)
        f.__edgeoffload_task__ = spec  # type: ignore[attr-defined]
        return f

    return register(fn) if fn is not None else register


def spec_of(fn_or_name: Callable[..., Any] | str) -> TaskSpec | None:
    """The spec of a registered function, or of a task name registered in this process."""
    if isinstance(fn_or_name, str):
        return REGISTRY.get(fn_or_name)
    spec = getattr(fn_or_name, "__edgeoffload_task__", None)
    return spec if isinstance(spec, TaskSpec) else None


def search_from(cwd: str) -> None:
    """Find modules from the current folder too, as ``python -m`` and ``celery -A`` do:
    an installed console script's ``sys.path`` lacks it, so ``examples.traffic`` from a
    checkout's root was not found."""
    import sys

    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def module_names(specs: Iterable[str], cwd: str) -> list[str]:
    """Module names for ``--tasks`` values, as users give them: a module name
    (``mymodule``, ``pkg.tasks``), found from the current folder too (as ``celery -A``
    does), or a file (``./mymodule.py``, ``lib/tasks.py``), whose folder is put on
    ``sys.path`` so that the node and its workers import it by name (the forkserver
    inherits ``sys.path``).

    Raises:
        ConfigError: a file that does not exist.
    """
    import os
    import sys

    search_from(cwd)
    names = []
    for spec in specs:
        if spec.endswith(".py") or os.sep in spec:
            path = os.path.abspath(os.path.join(cwd, spec))
            if not os.path.isfile(path):
                raise ConfigError(f"tasks: no such file {spec!r} (from {cwd})")
            folder, file = os.path.split(path)
            if folder not in sys.path:
                sys.path.insert(0, folder)
            names.append(file.removesuffix(".py"))
        else:
            names.append(spec)
    return names


def load_modules(modules: Iterable[str]) -> dict[str, TaskSpec]:
    """Import the task modules a node was started with; return their tasks by name.

    Raises:
        ConfigError: a module cannot be imported or registers no task.
    """
    modules = list(modules)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"tasks: cannot import module {module!r}: {exc}") from exc
        if not REGISTRY.from_modules([module]):
            raise ConfigError(f"tasks: module {module!r} registers no task (use @task)")
    return REGISTRY.from_modules(modules)


def _make_checker(fn: Callable[..., Any]) -> Callable[[list[Any]], list[Any]]:
    """Build the argument check for ``fn`` once, so that the per-call cost is the minimum:
    a length test for unannotated functions, one msgspec.convert per annotated argument.
    """
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations: check counts only
        hints = {}
    params = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    fixed = [p for p in params if p.kind is not p.VAR_POSITIONAL]
    required = sum(1 for p in fixed if p.default is p.empty)
    maximum = None if variadic else len(fixed)
    types: list[tuple[int, str, Any]] = [
        (i, p.name, hints[p.name])
        for i, p in enumerate(fixed)
        if p.name in hints and hints[p.name] is not Any
    ]

    def check(args: list[Any]) -> list[Any]:
        n = len(args)
        if n < required or (maximum is not None and n > maximum):
            expected = f"{required}" if maximum == required else f"{required} to {maximum or 'any'}"
            noun = "argument" if expected == "1" else "arguments"  # as Python says it
            raise TypeError(f"{fn.__name__}() takes {expected} positional {noun}, got {n}")
        if not types:
            return args
        args = list(args)
        for i, pname, tp in types:
            if i < n:
                try:
                    args[i] = msgspec.convert(args[i], tp, strict=True)
                except msgspec.ValidationError as exc:
                    raise TypeError(f"argument {pname!r}: {exc}") from None
        return args

    return check
