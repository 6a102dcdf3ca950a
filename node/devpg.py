"""A throwaway PostgreSQL cluster on this machine for tests and benchmarks: initdb in a temporary directory,
a server on a free loopback port, a fresh database per caller, and a stop by PID even on failure.

`initdb` and the server refuse to run as root: as root they run as the `postgres` system user (Debian's
package makes it), in a directory that user owns.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from node.chain.anvil import free_port


def postgres_bin() -> Path | None:
    """Debian's server binaries (the newest installed version), or None when PostgreSQL is not installed."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "initdb").is_file()), key=lambda p: int(p.parent.name))
    return versions[-1] if versions else None


@dataclass
class PostgresCluster:
    directory: Path
    port: int
    pid: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "sink") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres() -> tuple[list[str], int | None]:
    if os.getuid() != 0:
        return [], None
    return ["runuser", "-u", "postgres", "--"], pwd.getpwnam("postgres").pw_uid


@contextmanager
def postgres_cluster(*, timeout_s: float = 60.0) -> Iterator[PostgresCluster]:
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql); scripts/setup does it")
    prefix, uid = _as_postgres()
    directory = Path(tempfile.mkdtemp(prefix="sinkpg-"))
    if uid is not None:
        os.chown(directory, uid, -1)
    data = directory / "data"
    port = free_port()
    subprocess.run([*prefix, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--no-sync", "--no-instructions"], check=True, capture_output=True, timeout=timeout_s)  # fmt: skip
    log = (directory / "server.log").open("wb")
    server = subprocess.Popen(
        [*prefix, str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=200"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2):
                    break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    message = (directory / "server.log").read_text()[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start: {message}") from None
                time.sleep(0.1)
        yield PostgresCluster(directory, port, server.pid)
    finally:
        # runuser may be the child: stop its whole session (the server and its own processes), by PID.
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)  # "fast" shutdown
            try:
                server.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=timeout_s)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
