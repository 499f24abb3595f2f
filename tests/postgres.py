"""A throw-away PostgreSQL server on loopback, from Debian's postgresql package, for the shared-study test."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


class PostgresUnavailable(Exception):
    """PostgreSQL is not installed here: the one reason its test skips."""


class PostgresFailed(Exception):
    """PostgreSQL is installed but did not start: a failure, not a skip (.ci/run installs it)."""


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh database; the server is stopped and removed afterwards."""
    bindir = _bindir()
    data = tempfile.mkdtemp(prefix="lenet-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresFailed(f"{os.path.basename(args[0])} failed: "
                                      f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")

    try:
        run(f"{bindir}/initdb", "-D", f"{data}/db", "-A", "trust", "-U", "postgres")
        run(f"{bindir}/pg_ctl", "-D", f"{data}/db", "-l", f"{data}/log", "-w", "start", "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1")
        try:
            run(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "lenet")
            yield f"postgresql://postgres@127.0.0.1:{port}/lenet"  # SQLAlchemy 2.1: psycopg (3)
        finally:
            subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", f"{data}/db", "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(data, ignore_errors=True)
