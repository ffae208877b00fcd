"""Task registration details: --tasks values, module prefixes, re-imports, messages."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from edgeoffload.errors import ConfigError
from edgeoffload.tasks import REGISTRY, module_names, spec_of, task


@pytest.fixture
def clean_path(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    path = list(sys.path)
    monkeypatch.setattr(sys, "path", path)
    return path


def test_module_names_take_modules_and_files(tmp_path: Path, clean_path: list[str]) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mytasks.py").write_text("")
    (tmp_path / "top.py").write_text("")
    names = module_names(["pkg.tasks", "top.py", os.path.join("lib", "mytasks.py")], str(tmp_path))
    assert names == ["pkg.tasks", "top", "mytasks"]
    # The current folder and each file's folder are importable, each once.
    assert clean_path[:2] == [str(tmp_path / "lib"), str(tmp_path)]
    module_names(["top.py"], str(tmp_path))
    assert clean_path.count(str(tmp_path)) == 1


def test_a_missing_task_file_is_named(tmp_path: Path, clean_path: list[str]) -> None:
    with pytest.raises(ConfigError, match=rf"tasks: no such file 'gone\.py' \(from {tmp_path}\)"):
        module_names(["gone.py"], str(tmp_path))


def test_from_modules_matches_submodules_but_not_name_prefixes() -> None:
    def make(module: str, name: str) -> None:
        def fn() -> None: ...

        fn.__module__ = module
        task(name=name)(fn)

    make("unitpkg", "unit_pkg_top")
    make("unitpkg.sub", "unit_pkg_sub")
    make("unitpkgx", "unit_pkg_other")
    assert set(REGISTRY.from_modules(["unitpkg"])) == {"unit_pkg_top", "unit_pkg_sub"}
    assert set(REGISTRY.from_modules(["unitpkg.sub"])) == {"unit_pkg_sub"}


def test_registering_the_same_function_again_replaces_it() -> None:
    # What a module imported twice (by name and by file) does: no clash.
    def fn() -> int:
        return 1

    task(name="unit_again")(fn)

    def fn() -> int:  # type: ignore[no-redef]  # same module and qualified name
        return 2

    task(name="unit_again")(fn)
    spec = spec_of("unit_again")
    assert spec is not None and spec.fn() == 2


def test_a_single_parameter_is_named_in_the_singular() -> None:
    @task(name="unit_one_arg")
    def one(a: int) -> int:
        return a

    spec = spec_of(one)
    assert spec is not None
    with pytest.raises(TypeError, match=r"^one\(\) takes 1 positional argument, got 0$"):
        spec.check_args([])
    with pytest.raises(TypeError, match=r"^one\(\) takes 1 positional argument, got 2$"):
        spec.check_args([1, 2])


def test_unresolvable_annotations_fall_back_to_counting() -> None:
    @task(name="unit_unresolved")
    def odd(a: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        ...

    spec = spec_of(odd)
    assert spec is not None
    assert spec.check_args(["anything"]) == ["anything"]
    with pytest.raises(TypeError, match="takes 1 positional argument, got 0"):
        spec.check_args([])


def test_spec_of_a_plain_function_is_none() -> None:
    def plain() -> None: ...

    assert spec_of(plain) is None
    assert spec_of("unit_never_registered") is None


def test_hints_take_constants_and_functions_of_the_arguments() -> None:
    @task(name="unit_hinted", mem_mb=lambda n, m: n * m, io_ops=3)
    def hinted(n: int, m: int) -> None: ...

    spec = spec_of(hinted)
    assert spec is not None
    hints = spec.hints((4, 5))
    assert (hints.mem_mb, hints.io_ops, hints.cpu_cycles) == (20.0, 3.0, 1e6)
    assert spec.requires == {} and not spec.inline and spec.timeout_s is None
