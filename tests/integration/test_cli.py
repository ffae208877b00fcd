"""The `edgeoffload` command as a user runs it: real subprocesses, exit codes, output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from edgeoffload.cli import COMMANDS
from tests.conftest import NodeProcess, edgeoffload


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    result = edgeoffload(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: edgeoffload" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchcommand"], "invalid choice"),
        (["node", "--bogus"], "unrecognized arguments: --bogus"),
        (["node", "--workers", "-2"], "workers: Expected `int` >= 0"),
        (["submit"], "the following arguments are required: task"),
        (["submit", "add", "{not json"], "argument 1 is not JSON"),
        (["node", "--tasks", "no.such.module"], "cannot import module 'no.such.module'"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = edgeoffload(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_submit_prints_the_result_as_json(node: NodeProcess) -> None:
    result = edgeoffload("submit", "add", "2", "3.5", "--url", node.url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == 5.5
    failed = edgeoffload("submit", "fail", '"boom"', "--url", node.url)
    assert failed.returncode == 1
    assert "TaskFailed" in failed.stderr and "boom" in failed.stderr


def test_config_show_reflects_file_and_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "edge.toml"
    cfg.write_text("[node]\nworkers = 3\n")
    result = edgeoffload("config", "show", "node", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["node"]["workers"] == 3


def test_token_is_accepted_by_a_secured_node(node_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret"
    secret.write_text("a-long-enough-secret-for-hs256-0123456789\n")
    secured = node_factory("--workers", "1", "--auth-secret-file", str(secret))
    made = edgeoffload(
        "token",
        "create",
        "--role",
        "client",
        "--subject",
        "cam",
        "--ttl",
        "1h",
        "--secret-file",
        str(secret),
    )
    assert made.returncode == 0, made.stderr
    token = tmp_path / "token"
    token.write_text(made.stdout)
    ok = edgeoffload("submit", "echo", '"hi"', "--url", secured.url, "--token-file", str(token))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == "hi"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        # The secret is never taken from argv (every user can read it with `ps`).
        (["--role", "client", "--subject", "x", "--secret", "s" * 40], {}, "unrecognized"),
        (["--role", "client", "--subject", "x"], {}, "no secret: give --secret-file"),
        (
            ["--role", "client", "--subject", "x"],
            {"EDGEOFFLOAD_AUTH_SECRET": "short"},
            "at least 32",
        ),
        (["--role", "root", "--subject", "x"], {}, "invalid choice: 'root'"),
        (["--role", "client", "--subject", "x", "--ttl", "-5"], {}, "positive duration"),
        (
            ["--role", "client", "--subject", "x", "--secret-file", "/nonexistent"],
            {},
            "cannot read",
        ),
    ],
)
def test_token_create_refuses_bad_usage_in_one_line(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgeoffload", "token", "create", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "EDGEOFFLOAD_AUTH_SECRET"} | env,
    )
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_token_create_reads_the_secret_from_the_environment() -> None:
    from edgeoffload.auth import CLIENT_ROLES, Keys, Role, verify_token

    secret = "env-secret-long-enough-for-hs256-0123456789"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeoffload",
            "token",
            "create",
            "--role",
            "admin",
            "--subject",
            "ops",
            "--ttl",
            "30m",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EDGEOFFLOAD_AUTH_SECRET": secret},
    )
    assert result.returncode == 0, result.stderr
    claims = verify_token(Keys(secret), result.stdout.strip(), CLIENT_ROLES)
    assert (claims.subject, claims.role) == ("ops", Role.ADMIN)


def test_demo_runs_end_to_end_and_leaves_no_process_behind() -> None:
    # The demo runs in a session of its own: every process it starts (nodes, their
    # forkservers and workers) keeps that session id, even once orphaned.
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeoffload", "demo", "--tasks", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert "every task completed exactly once" in out
    assert "resubmitted after node loss" in out
    # Helpers (forkserver, resource tracker) exit right after their node: allow them a moment.
    deadline = time.monotonic() + 5.0
    while _session_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_members(proc.pid) == []


def _session_members(sid: int) -> list[int]:
    import os

    import psutil

    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid:
                members.append(pid)
        except OSError:
            pass
    return members


def test_submit_applies_the_client_settings_config_show_prints() -> None:
    """Seen: EDGEOFFLOAD_PLACEMENT=psychic edgeoffload submit add 1 2 printed 3.0."""
    env = {**os.environ, "EDGEOFFLOAD_CLIENT__PLACEMENT": "psychic"}
    for argv in (["submit", "add", "1", "2"], ["config", "show", "client"]):
        result = subprocess.run(
            [sys.executable, "-m", "edgeoffload", *argv],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert result.returncode == 2, (argv, result.stdout)
        assert "placement: Invalid enum value 'psychic'" in result.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "edgeoffload", "config", "show", "client"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "EDGEOFFLOAD_CLIENT__PLACEMENT": "power_of_two"},
    )  # fmt: skip
    assert json.loads(shown.stdout)["client"]["placement"] == "power_of_two"


def test_a_port_in_use_is_one_line_naming_the_address_and_creates_nothing(  # type: ignore[no-untyped-def]
    node_factory, tmp_path
) -> None:
    """Seen: the node printed a 32-line traceback (exit 1); the controller printed
    uvicorn's error, exited 3 and created its database anyway."""
    taken = node_factory("--workers", "1")
    port = taken.url.rsplit(":", 1)[1].split("/")[0]
    node = edgeoffload("node", "--port", port, "--workers", "1", timeout=60)
    assert node.returncode == 2
    assert node.stderr.strip() == (
        f"edgeoffload node: error: cannot listen on 127.0.0.1:{port}: address already in use "
        "(another process listens there)"
    )
    db = tmp_path / "never.db"
    controller = edgeoffload("controller", "--port", port, "--store", f"sqlite:///{db}")
    assert controller.returncode == 2
    assert f"edgeoffload controller: error: cannot listen on 127.0.0.1:{port}" in controller.stderr
    assert len(controller.stderr.strip().splitlines()) == 1 and not db.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--url", "http://127.0.0.1:8765/offload"], "'http://127.0.0.1:8765/offload' is not"),
        (["--url", "notaurl"], "--url 'notaurl' is not a node URL"),
        (["--deadline", "-1"], "--deadline: expected a positive number of seconds, got '-1'"),
        (["--timeout", "-1"], "--timeout: expected a positive number of seconds, got '-1'"),
    ],
)
def test_submit_refuses_bad_usage_at_once(argv: list[str], message: str) -> None:
    """Seen: these were accepted and failed after 5-15 s (or named an internal field)."""
    started = time.monotonic()
    result = edgeoffload("submit", "add", "1", "2", *argv)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 10  # refused before any connection attempt


def test_a_task_module_is_found_from_its_folder_or_by_its_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seen: `--tasks mymodule` from the module's own folder failed, and
    `--tasks ./mymodule.py` crashed with a traceback."""
    (tmp_path / "mymodule.py").write_text(
        "from edgeoffload import task\n\n@task(name='triple')\ndef triple(x: int) -> int:\n"
        "    return 3 * x\n"
    )
    script = shutil.which("edgeoffload", path=os.path.dirname(sys.executable))
    assert script is not None
    for spec in ("mymodule", "./mymodule.py", str(tmp_path / "mymodule.py")):
        proc = subprocess.Popen(
            [script, "node", "--port", "0", "--workers", "1", "--tasks", spec],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()
        try:
            assert line.startswith("READY "), (spec, proc.stderr.read() if proc.stderr else "")
            url = line.split()[1]
            for where in ("edge",):  # inline=False: through the forkserver's workers
                out = edgeoffload("submit", "triple", "5", "--url", url)
                assert out.returncode == 0 and json.loads(out.stdout) == 15, (spec, where, out)
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    missing = edgeoffload("node", "--port", "0", "--tasks", "./nothere.py")
    assert missing.returncode == 2 and "no such file './nothere.py'" in missing.stderr


def test_bad_usage_of_a_subcommand_is_named_by_that_subcommand() -> None:
    """Seen: `edgeoffload node --bogus` said `edgeoffload: error:`, and `bench rpc
    --bogus` printed the whole usage."""
    node = edgeoffload("node", "--bogus")
    assert node.returncode == 2
    expected = "edgeoffload node: error: unrecognized arguments: --bogus (try --help)"
    assert node.stderr.strip() == expected
    bench = edgeoffload("bench", "rpc", "--bogus")
    assert bench.returncode == 2 and bench.stderr.strip().splitlines() == [
        "edgeoffload bench rpc: error: unrecognized arguments: --bogus (try --help)"
    ]
    top = edgeoffload("--help")
    assert "decide, per task, whether a device computes locally or offloads" in top.stdout


def test_an_unreachable_node_is_named_with_its_reason_after_the_time_asked() -> None:
    """Seen: `submit add 1 2 --url ws://127.0.0.1:9999/offload` took 15.35 s and said
    "no node could take task 'add' within 10.0 s" (with --timeout 2: 7.29 s), never
    "connection refused" nor the URL."""
    started = time.monotonic()
    result = edgeoffload("submit", "add", "1", "2", "--url", "ws://127.0.0.1:9/offload",
                         "--timeout", "2")  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "no node could take task 'add' within 2.0 s" in result.stderr
    assert "ws://127.0.0.1:9/offload: ConnectionRefusedError" in result.stderr
    assert elapsed < 6, elapsed  # 2 s of waiting plus start-up, not 15


def test_auto_with_every_node_down_runs_locally_at_once_and_quietly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Seen: where="auto" with every node down waited 5 s before running a trivial add
    locally, then printed "Task was destroyed but it is pending!"."""
    script = tmp_path / "auto.py"
    script.write_text(
        "import asyncio, time\n"
        "import edgeoffload.examples.tasks\n"
        "from edgeoffload import Client\n"
        "async def main():\n"
        "    t0 = time.perf_counter()\n"
        "    async with Client(['ws://127.0.0.1:9/offload']) as c:\n"
        "        print(await c.submit('add', 1, 2), time.perf_counter() - t0)\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    value, took = result.stdout.split()
    assert float(value) == 3.0 and float(took) < 1.0
    assert "destroyed" not in result.stderr and result.stderr == ""
