"""A whole node on this machine for tests and benchmarks: anvil, a deployment, the demo cast with
keystores and API tokens, registered on chain through the API, and the API itself in a thread."""

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from pydantic import SecretStr

from node.api.app import create_app
from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.deploy import ensure_deployed
from node.chain.keystore import Keystore
from node.demo import CAST, prepare_participants
from node.devpg import PostgresCluster
from node.index.db import connect_postgres, is_postgres
from node.settings import PROJECT_ROOT, Settings, load_settings
from node.store import Store
from node.store.dialect import pg_sql


@dataclass
class LocalNode:
    settings: Settings
    url: str
    tokens: dict[str, str]
    addresses: dict[str, str]
    http: httpx.Client
    app: Any = None  # the FastAPI app, for tests that look at the node's services in place
    # Other hosts of the same node (one PostgreSQL store, each its own index): races spread requests over them.
    race_urls: list[str] | None = None

    @property
    def services(self) -> Any:
        return self.app.state.services

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, path, headers=headers, **kwargs)

    # The node's store as a test sees it from outside, whichever engine holds it ------------------
    def store_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows read through a connection of the test's own (read-only for node.sqlite)."""
        url = self.settings.database_url
        if url:
            with psycopg.connect(url) as db:
                return [tuple(row) for row in db.execute(pg_sql(sql), params).fetchall()]
        db = sqlite3.connect(f"file:{self.settings.node_state_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def store_write(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """A test's own change to the store (moving time back, say), committed at once."""
        url = self.settings.database_url
        if url:
            with psycopg.connect(url, autocommit=True) as db:
                db.execute(pg_sql(sql), params)
            return
        with contextlib.closing(sqlite3.connect(self.settings.node_state_path, timeout=10)) as db, db:
            db.execute(sql, params)

    def index_write(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A test's own statement on the index where the node keeps it (tampering with a row, say), committed at
        once; returns the rows it selects."""
        location = self.settings.index_location
        if is_postgres(location):
            assert isinstance(location, str)
            db = connect_postgres(location)
            try:
                return db.execute(sql, params).fetchall()
            finally:
                db.close()
        with contextlib.closing(sqlite3.connect(location, timeout=10)) as sqlite, sqlite:
            return sqlite.execute(sql, params).fetchall()

    def store_tables(self) -> list[str]:
        if self.settings.database_url:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return sorted(row[0] for row in self.store_rows(sql))

    def stored_bytes(self) -> bytes:
        """What the store keeps at rest, as bytes: node.sqlite and its WAL, or every row of every table."""
        if not self.settings.database_url:
            path = self.settings.node_state_path
            wal = path.with_name(path.name + "-wal")
            return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        return b"".join(repr(self.store_rows(f'SELECT * FROM "{t}"')).encode() for t in self.store_tables())

    def ok(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> Any:
        reply = self.call(method, path, who, **kwargs)
        assert reply.status_code < 400, f"{method} {path}: {reply.status_code} {reply.text[:500]}"
        return reply.json()


# Set by the tests' session (SINKNODE_TEST_DATABASE=postgresql): each node gets a fresh database there.
POSTGRES: PostgresCluster | None = None


def _test_settings(home: Path, anvil_port: int, api_port: int, **overrides: Any) -> Settings:
    # Tests and benchmarks send thousands of requests from 127.0.0.1: unlimited unless the caller says otherwise
    # (other loopback addresses such as 127.0.0.2 stay limited, for the tests of the limits themselves).
    overrides.setdefault("rate_limit_exempt", ["127.0.0.1"])
    if POSTGRES is not None and "database_url" not in overrides:
        overrides["database_url"] = POSTGRES.create_database()
    return load_settings(
        home=home,
        anvil_port=anvil_port,
        api_port=api_port,
        keystore_scrypt_n=2**10,
        build_cache_dir=PROJECT_ROOT / "build" / "test-home" / "build",
        **overrides,
    )


@contextmanager
def local_node(home: Path, **overrides: Any) -> Iterator[LocalNode]:
    anvil_port, api_port = free_port(), free_port()
    settings = _test_settings(home, anvil_port, api_port, **overrides)
    with AnvilProcess(AnvilConfig(binary=anvil_binary(PROJECT_ROOT), port=anvil_port)):
        ensure_deployed(settings)
        state = Store(settings.store_location)
        tokens = prepare_participants(settings, state)
        state.close()
        app = create_app(settings)
        with served(app, api_port, log_level="warning"):
            keystore = Keystore.from_settings(settings)
            http = httpx.Client(base_url=settings.base_url, timeout=300)
            node = LocalNode(
                settings, settings.base_url, tokens, {name: keystore.address(name) for name in CAST}, http, app
            )
            try:
                register_cast(node)
                yield node
            finally:
                http.close()


@contextmanager
def peer_node(home: Path, of: LocalNode, **overrides: Any) -> Iterator[LocalNode]:
    """Another organisation's node on `of`'s chain: its own home, keys, store and index, the same deployment
    manifest, its API in a thread of this process. It registers nobody: it reads, indexes and compares."""
    api_port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    settings = _test_settings(home, of.settings.anvil_port, api_port, rpc_url=of.settings.effective_rpc_url,
                              **overrides)  # fmt: skip
    shutil.copyfile(of.settings.manifest_path, settings.manifest_path)
    app = create_app(settings)
    with served(app, api_port, log_level="warning"), httpx.Client(base_url=settings.base_url, timeout=300) as http:
        yield LocalNode(settings, settings.base_url, {}, dict(of.addresses), http, app)


@contextmanager
def second_host(of: LocalNode, home: Path) -> Iterator[str]:
    """`of` served from another host: a `sinknode serve` process with its own data directory (keys and
    deployment copied, its own index of the chain; no evidence files) and `of`'s PostgreSQL store. Yields its
    URL."""
    if not of.settings.database_url:
        raise ValueError("hosts share a node only through a PostgreSQL store")
    home.mkdir(parents=True, exist_ok=True)
    shutil.copytree(of.settings.keys_dir, home / "keys", dirs_exist_ok=True)
    shutil.copyfile(of.settings.manifest_path, home / "deployment.json")
    port = free_port()
    env = {**os.environ, **settings_environment(of.settings), "SINKNODE_HOME": str(home),
           "SINKNODE_API_PORT": str(port), "SINKNODE_RPC_URL": of.settings.effective_rpc_url}  # fmt: skip
    log = home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "node.cli", "serve"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(process, lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, log,
                     "the second host")  # fmt: skip
        yield url
    finally:
        stop_process_tree(process)


def settings_environment(settings: Settings) -> dict[str, str]:
    """The SINKNODE_ variables that give another process these settings (those set explicitly)."""
    env: dict[str, str] = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"SINKNODE_{name.upper()}"] = text
    return env


@dataclass
class WorkerPool:
    """`sinknode`'s API as several worker processes under node.api.workers (stopped by PID)."""

    process: subprocess.Popen[bytes]
    log: Path

    def worker_pids(self) -> list[int]:
        """The live API workers (not multiprocessing's resource tracker, also a child)."""
        pids = []
        for pid in _children(self.process.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in command:
                pids.append(pid)
        return pids


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in path.read_text().split()]
    except OSError:
        return []


@contextmanager
def local_node_workers(home: Path, workers: int = 2, **overrides: Any) -> Iterator[tuple[LocalNode, WorkerPool]]:
    """A node whose API runs as `workers` worker processes (node.api.workers) on one data directory (one indexes)."""
    anvil_port, api_port = free_port(), free_port()
    settings = _test_settings(home, anvil_port, api_port, api_workers=workers, **overrides)
    with AnvilProcess(AnvilConfig(binary=anvil_binary(PROJECT_ROOT), port=anvil_port)):
        ensure_deployed(settings)
        state = Store(settings.store_location)
        tokens = prepare_participants(settings, state)
        state.close()
        env = {**os.environ, **settings_environment(settings)}
        log = home / "workers.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "node.api.workers", "--host", "127.0.0.1", "--port", str(api_port),
                 "--workers", str(workers), "--log-level", "warning"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
            )  # fmt: skip
        pool = WorkerPool(process, log)
        http = httpx.Client(base_url=settings.base_url, timeout=300)
        try:

            def ready() -> bool:
                return http.get("/healthz").status_code == 200 and len(pool.worker_pids()) == workers

            wait_serving(process, ready, log, "the API workers")
            keystore = Keystore.from_settings(settings)
            node = LocalNode(settings, settings.base_url, tokens, {name: keystore.address(name) for name in CAST}, http)
            register_cast(node)
            yield node, pool
        finally:
            http.close()
            stop_process_tree(process)


def wait_serving(process: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path, what: str,
                 timeout_s: float = 60.0, pause_s: float = 0.1) -> None:  # fmt: skip
    """Returns once `ready()` (an HTTP check) is true; raises with the log's tail if the process ends first or
    `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {log.read_text()[-2000:]}")
        time.sleep(pause_s)


def stop_process_tree(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """SIGTERM to the process (a supervisor stops its workers), SIGKILL to all if that is not enough."""
    if process.poll() is not None:
        return
    pids = _children(process.pid)
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def register_cast(node: LocalNode) -> None:
    """The admin registers every other member of the demo cast on chain, with its organisation and roles."""
    for name, (organisation, roles, display_name) in CAST.items():
        if name != "admin":
            body = {"account": node.addresses[name], "organisation": organisation, "roles": roles,
                    "display_name": display_name}  # fmt: skip
            node.ok("POST", "/v1/admin/participants", "admin", json=body)


@contextmanager
def served(app: Any, port: int, *, timeout_s: float = 30.0, **config: Any) -> Iterator[uvicorn.Server]:
    """`app` served by uvicorn on 127.0.0.1:`port` in a thread of this process, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)
