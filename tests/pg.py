"""A real PostgreSQL server on loopback, started by the test suite itself.

initdb and pg_ctl come from the Debian ``postgresql`` package (``make test`` installs
it when missing). PostgreSQL refuses to run as root, so the cluster belongs to the
``postgres`` system user and is started with ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def _bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def unavailable() -> str | None:
    """None if a server can be started here, else why not."""
    if _bin() is None:
        return "PostgreSQL binaries not found (make test installs the postgresql package)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres system user (make test installs the postgresql package)"
    if os.geteuid() != 0:
        return "starting PostgreSQL as the postgres user needs root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a fresh server; stop it and remove its files afterwards."""
    bindir = _bin()
    assert bindir is not None
    root = tempfile.mkdtemp(prefix="edgeoffload-pg-")
    shutil.chown(root, "postgres", "postgres")
    data = os.path.join(root, "data")
    port = _free_port()

    def as_postgres(*args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=60
        )

    as_postgres(
        f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    as_postgres(
        f"{bindir}/pg_ctl", "-D", data, "-l", f"{root}/pg.log", "-w", "-o", options, "start"
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                f"{bindir}/pg_ctl",
                "-D",
                data,
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
