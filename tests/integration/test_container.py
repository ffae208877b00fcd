"""The image built and run for real: a controller and two nodes as containers (compose),
tasks run through them from the host, one node container stopped with tasks in flight,
every task completed exactly once.

The image is built by ``make image``'s own script (deploy/image.sh) with a Docker
engine in its own network namespace (deploy/docker-engine.sh). The first run on a
machine also builds the base image with debootstrap (about a minute, mirror-bound); the
engine's data root is kept, so later runs only rebuild the package's layer.

The stack is deploy/compose.yaml, with authentication on as it ships: the site secret
is a compose secret (a file mounted at /run/secrets/auth, named by
``--auth-secret-file``: never on a command line, never in a log, both checked), each
node signs its own node token with it for the controller, and the client on the host
gets a client token (from a file). Requests without a token are refused: a REST write
to the controller (401) and a hello to a node (``unauthorized``). Taken out or pinned
is only what this test cannot have: no published port (the host reaches containers by
address from the engine's namespace; a published port would go through docker-proxy,
which accepts connections before the process behind it listens), fixed addresses that
nodes advertise (clients outside the compose network cannot resolve service names), the
controller's CPU health rule off (every container sees this shared machine's load), and
two nodes instead of three.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeoffload.auth import make_token
from tests import docker_engine

ROOT = Path(__file__).resolve().parents[2]
SUBNET = "172.31.250.0/24"
ADDRESSES = {"controller": "172.31.250.10", "node1": "172.31.250.11", "node2": "172.31.250.12"}
TASKS = 600
VICTIM = "node1"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """A running engine with edgeoffload:latest built from this tree."""
    reason = docker_engine.unavailable()
    if reason is not None:
        pytest.skip(reason)
    try:
        with docker_engine.engine() as host:
            docker_engine.build_image(host)
            yield host
    except docker_engine.EngineRefused as exc:
        pytest.skip(str(exc))


#: The container user (deploy/Dockerfile): the secret file must be readable by it alone.
CONTAINER_UID = 10001


def derive_compose(source: Path, target: Path, secret_file: Path) -> None:
    """deploy/compose.yaml with its secret from ``secret_file``, less published ports and
    node3 (module docstring)."""
    doc = yaml.safe_load(source.read_text())
    services: dict[str, Any] = {}
    for name, address in ADDRESSES.items():
        service = dict(doc["services"][name])
        assert service["secrets"] == ["auth"], f"{name}: the site secret as a compose secret"
        assert "--auth-secret-file=/run/secrets/auth" in service["command"], name
        service.pop("ports", None)
        command = [
            f"--advertise-url=ws://{address}:8765/offload" if a.startswith("--advertise-url")
            else a
            for a in service["command"]
        ]  # fmt: skip
        if name == "controller":
            command.append("--cpu-percent-max=100")
        service["command"] = command
        service["networks"] = {"site": {"ipv4_address": address}}
        services[name] = service
    compose = {
        "version": doc["version"],
        "services": services,
        "secrets": {"auth": {"file": str(secret_file)}},
        "volumes": doc.get("volumes", {}),
        "networks": {"site": {"ipam": {"config": [{"subnet": SUBNET}]}}},
    }
    target.write_text(yaml.safe_dump(compose, sort_keys=False))


class Stack:
    def __init__(self, file: Path, docker_host: str) -> None:
        self.file = file
        # One fixed name: a run that was killed half-way is taken down by the next one
        # (its containers would hold the addresses and its network the subnet).
        self.project = "edgeoffload-test"
        self.env = {"DOCKER_HOST": docker_host, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

    def compose(self, *args: str, timeout: float = 120) -> str:
        out = subprocess.run(
            ["docker-compose", "-p", self.project, "-f", str(self.file), *args],
            capture_output=True, text=True, timeout=timeout, env=self.env,
        )  # fmt: skip
        assert out.returncode == 0, f"docker-compose {' '.join(args)}: {out.stderr[-2000:]}"
        return out.stdout

    def wait_healthy(self, services: list[str], timeout: float) -> str:
        """The containers' health once all are healthy, or the last one seen."""
        ids = [self.compose("ps", "-q", name).strip() for name in services]
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run(
                ["docker", "inspect", "--format", "{{.State.Health.Status}}", *ids],
                capture_output=True, text=True, timeout=30, env=self.env,
            )  # fmt: skip
            states = set(out.stdout.split())
            if states == {"healthy"} or time.monotonic() > deadline:
                return " ".join(sorted(states)) or out.stderr
            time.sleep(0.5)

    def logs(self, tail: int | None = 6000) -> str:
        """The stack's logs: the last ``tail`` characters (for a failure's message), or
        all of them."""
        out = subprocess.run(
            ["docker-compose", "-p", self.project, "-f", str(self.file), "logs", "--no-color"],
            capture_output=True, text=True, timeout=60, env=self.env,
        )  # fmt: skip
        return out.stdout if tail is None else out.stdout[-tail:]


def test_containers_serve_tasks_and_fail_over_when_a_node_container_stops(
    docker_host: str, tmp_path: Path
) -> None:
    site_secret = secrets.token_urlsafe(32)
    secret_file = tmp_path / "auth-secret"
    secret_file.write_text(site_secret + "\n")
    os.chown(secret_file, CONTAINER_UID, CONTAINER_UID)
    secret_file.chmod(0o600)
    token_file = tmp_path / "client-token"
    client_token = make_token(site_secret, "container-test", "client", 600)
    token_file.write_text(client_token)
    token_file.chmod(0o600)
    file = tmp_path / "compose.yaml"
    derive_compose(ROOT / "deploy" / "compose.yaml", file, secret_file)
    assert site_secret not in file.read_text()
    stack = Stack(file, docker_host)
    stack.compose("down", "--volumes", "--timeout", "1")
    stack.compose("up", "-d", "--no-build")
    client = None
    try:
        client = subprocess.Popen(
            docker_engine.in_netns(
                sys.executable, "-m", "tests.container_client",
                f"ws://{ADDRESSES['controller']}:8700", str(TASKS), str(token_file),
            ),
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert client.stdout is not None
        first = client.stdout.readline()
        assert first, f"client ended early (exit {client.wait(10)}):\n{stack.logs()}"
        started = json.loads(first)
        # Without a token: the controller refuses an admin's write, a node the hello.
        assert started["refused"] == {"rest_write": 401, "node_hello": "unauthorized"}, started
        in_flight = started["in_flight"]
        assert set(in_flight) == {"node1", "node2"}, in_flight
        assert in_flight[VICTIM] > 50, in_flight
        # SIGTERM (the node starts draining), then SIGKILL a second later with most of
        # its queue still there: what a scale-down or a host shutdown does.
        stack.compose("stop", "--timeout", "1", VICTIM)
        last = client.stdout.readline()
        assert last, f"client ended early (exit {client.wait(10)}):\n{stack.logs()}"
        result = json.loads(last)
        assert client.wait(30) == 0
        assert result["errors"] == [] and result["failed"] == 0, result
        assert result["wrong"] == []
        assert sorted(int(i) for i in result["delivered"]) == list(range(TASKS))
        assert set(result["delivered"].values()) == {1}  # exactly once, nothing lost
        assert result["resubmitted"] > 0  # the stopped node's queue went to the other
        states = stack.compose("ps", "--services", "--filter", "status=running").split()
        assert sorted(states) == ["controller", "node2"]
        # The image's HEALTHCHECK (every 10 s, the role's /healthz) passes for both roles.
        assert stack.wait_healthy(["controller", "node2"], timeout=40) == "healthy"
        # The secret reached the containers as a file only: not on any command line the
        # engine keeps, and in no log line; nor is the client's token.
        ids = stack.compose("ps", "-q").split()
        inspected = subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, timeout=30,
            env=stack.env, check=True,
        ).stdout  # fmt: skip
        assert site_secret not in inspected
        logs = stack.logs(tail=None)
        assert site_secret not in logs and client_token not in logs
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(10)
        if client is not None and client.stdout is not None:
            client.stdout.close()
        stack.compose("down", "--volumes", "--timeout", "5")
