"""A Docker engine for the container tests, through the same scripts as ``make image``.

:func:`engine` yields the engine's ``DOCKER_HOST``: an engine that already answers there
(``make docker-start``, or a build's) is used and left running; otherwise
``deploy/docker-engine.sh`` starts one in its own network namespace, and it is stopped
and cleaned up (its namespace, the nsfs mount it leaves, its empty cgroups) at the end.
Its data root is kept between runs, so the base image is built once per machine.

:func:`unavailable` names the reason the machine refuses (no root, no dockerd, an
engine that does not start) for a skip; anything else that goes wrong is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SCRIPT = DEPLOY / "docker-engine.sh"
#: The network namespace the engine (and so every container network) lives in.
NETNS = os.environ.get("DOCKER_ENGINE_NETNS", "edgeoffload-docker")
IMAGE = "edgeoffload:latest"


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env
    )


def docker_host() -> str:
    line = _script("env").stdout.strip()
    return line.split("=", 1)[1]


def unavailable() -> str | None:
    """None if an engine can run here, else why not (before trying to start one)."""
    if sys.platform != "linux":
        return "containers need Linux"
    if os.geteuid() != 0:
        return "the Docker engine needs root (network namespace, cgroups, overlayfs)"
    for tool in ("dockerd", "docker", "docker-compose", "ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-deps installs docker.io, docker-compose)"
    return None


@contextmanager
def engine() -> Iterator[str]:
    """The engine's DOCKER_HOST, started here if none answers (and then stopped here)."""
    env = {**os.environ, "DOCKER_HOST": docker_host()}
    started = False
    if _script("status", env=env).returncode != 0:
        out = _script("start", env=env)
        if out.returncode != 0:
            raise EngineRefused(f"dockerd did not start: {out.stderr.strip()[-600:]}")
        started = True
    try:
        yield env["DOCKER_HOST"]
    finally:
        if started:
            _script("stop", env=env)


class EngineRefused(RuntimeError):
    """The machine would not run a Docker engine (a reason to skip, not a failure)."""


def build_image(docker_host: str, python: str = sys.executable) -> None:
    """``make image``'s script: the base image if missing, the wheels, the build."""
    out = subprocess.run(
        [str(DEPLOY / "image.sh"), IMAGE],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DOCKER_HOST": docker_host, "PYTHON": python},
    )
    if out.returncode != 0:
        raise AssertionError(f"deploy/image.sh failed ({out.returncode}):\n{out.stderr[-4000:]}")


def in_netns(*args: str) -> list[str]:
    """A command line run in the engine's network namespace, where the containers'
    bridge addresses are reachable (only the network is entered: /sys, cgroups and the
    file system stay the host's)."""
    return ["nsenter", f"--net=/run/netns/{NETNS}", *args]
