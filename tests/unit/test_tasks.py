from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.tasks import REGISTRY, load_modules, spec_of, task


def test_decorator_registers_and_returns_the_function_unchanged() -> None:
    @task(
        name="unit_scale",
        cpu_cycles=lambda x, k=2: 10 * len(x),
        input_bytes=lambda x, k=2: 8 * len(x),
    )
    def scale(x: list[float], k: float = 2.0) -> list[float]:
        return [k * v for v in x]

    assert scale([1.0, 2.0]) == [2.0, 4.0]
    spec = spec_of(scale)
    assert spec is not None and spec is spec_of("unit_scale")
    assert spec.module == __name__
    hints = spec.hints([[1.0, 2.0, 3.0]])
    assert hints.cpu_cycles == 30 and hints.input_bytes == 24 and hints.mem_mb == 1.0


def test_bare_decorator_uses_the_function_name() -> None:
    @task
    def unit_bare() -> int:
        return 1

    assert spec_of("unit_bare") is spec_of(unit_bare)


def test_argument_checks_use_the_signature_and_annotations() -> None:
    @task(name="unit_typed")
    def typed(a: int, b: tuple[int, int], img: np.ndarray, *rest: str) -> None: ...

    spec = spec_of(typed)
    assert spec is not None
    arr = np.zeros(2)
    args = spec.check_args([1, [2, 3], arr, "x", "y"])
    assert args[1] == (2, 3) and args[2] is arr  # converted where the annotation says
    with pytest.raises(TypeError, match="takes 3 to any positional arguments, got 2"):
        spec.check_args([1, [2, 3]])
    with pytest.raises(TypeError, match="argument 'a': Expected `int`, got `str`"):
        spec.check_args(["1", [2, 3], arr])
    with pytest.raises(TypeError, match="argument 'img'"):
        spec.check_args([1, [2, 3], [0.0]])


def test_unannotated_tasks_only_check_the_count() -> None:
    @task(name="unit_loose")
    def loose(a, b=1):  # type: ignore[no-untyped-def]
        return a

    spec = spec_of(loose)
    assert spec is not None
    assert spec.check_args(["anything"]) == ["anything"]
    with pytest.raises(TypeError, match="takes 1 to 2 positional arguments, got 3"):
        spec.check_args([1, 2, 3])


def test_the_same_name_twice_is_a_config_error() -> None:
    @task(name="unit_clash")
    def one() -> None: ...

    with pytest.raises(ConfigError, match="registered twice"):

        @task(name="unit_clash")
        def two() -> None: ...


def test_load_modules_serves_only_the_named_modules() -> None:
    module = types.ModuleType("unit_fake_tasks")
    sys.modules["unit_fake_tasks"] = module
    try:
        exec(
            "from edgeoffload.tasks import task\n@task(name='unit_only_here')\ndef f(): return 1\n",
            module.__dict__,
        )
        table = load_modules(["unit_fake_tasks"])
        assert set(table) == {"unit_only_here"}
        assert "echo" not in table  # registered by another module
    finally:
        del sys.modules["unit_fake_tasks"]


def test_load_modules_errors_name_the_module() -> None:
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module_xyz'"):
        load_modules(["no_such_module_xyz"])
    with pytest.raises(ConfigError, match="registers no task"):
        load_modules(["json"])


def test_registry_lookup_by_name() -> None:
    import edgeoffload.examples.tasks  # noqa: F401

    spec = REGISTRY.get("echo")
    assert spec is not None and spec.inline
    assert REGISTRY.get("nope") is None


def test_a_time_limit_is_part_of_the_registration() -> None:
    @task(name="test_limited", timeout_s=2.5)
    def limited() -> None: ...

    spec = spec_of(limited)
    assert spec is not None and spec.timeout_s == 2.5
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        task(name="test_never", timeout_s=0)


def test_a_task_s_own_max_attempts_is_part_of_the_registration() -> None:
    @task(name="test_once", max_attempts=1)
    def once() -> None: ...

    spec = spec_of(once)
    assert spec is not None and spec.max_attempts == 1

    @task(name="test_as_the_client_says")
    def default() -> None: ...

    assert (spec := spec_of(default)) is not None and spec.max_attempts is None
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_attempts must be a whole number >= 1"):
            task(name="test_never_tried", max_attempts=bad)  # type: ignore[arg-type]
