"""A pool process exits when the parent it was forked by is gone, even when the parent
died before the process asked the kernel to be told."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")

PROBE = """
import os, sys
from edgeoffload import _die_with_parent as m
{call}
print("alive", flush=True)
"""


def _probe(call: str) -> subprocess.CompletedProcess[str]:
    code = PROBE.format(call=call)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )


def test_a_parent_other_than_the_expected_one_means_it_already_died() -> None:
    # Our parent is this test process, not the pid given: as if reparented after a death.
    done = _probe(f"m.die_with_parent(parent={os.getpid() + 10_000_000})")
    assert done.returncode == 1 and "alive" not in done.stdout


def test_the_living_parent_keeps_it_alive() -> None:
    assert _probe("m.die_with_parent()").stdout.strip() == "alive"
    assert _probe(f"m.die_with_parent(parent={os.getpid()})").stdout.strip() == "alive"


def test_a_worker_checks_against_the_forkserver_that_imported_the_module() -> None:
    # Imported here (not inherited from a forkserver): the parent now is the reference.
    assert _probe("m.die_with_forkserver()").stdout.strip() == "alive"
    # Inherited from a process that is not our parent: that process is gone for us.
    done = _probe("m.IMPORTED_BY = os.getpid() + 10_000_000\nm.die_with_forkserver()")
    assert done.returncode == 1 and "alive" not in done.stdout


def _import_with_parent(pid: int) -> subprocess.CompletedProcess[str]:
    import edgeoffload.execution as execution

    return subprocess.run(
        [sys.executable, "-c", "import edgeoffload._die_with_parent; print('alive')"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, execution.POOL_PARENT_ENV: str(pid)},
    )


def test_a_forkserver_started_after_its_parent_died_exits_at_preload() -> None:
    # The pool names its pid in the environment; the preload compares.
    done = _import_with_parent(os.getpid() + 10_000_000)
    assert done.returncode == 1 and "alive" not in done.stdout
    assert _import_with_parent(os.getpid()).stdout.strip() == "alive"


def test_the_pool_and_the_preload_agree_on_the_variable() -> None:
    import edgeoffload.execution as execution

    # In a subprocess: importing the module arms the parent-death signal.
    printed = _probe("print(m.PARENT_ENV)").stdout.split()
    assert printed == [execution.POOL_PARENT_ENV, "alive"]
