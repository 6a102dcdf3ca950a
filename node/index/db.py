"""Opening the index database: schema from the SQLModel models, a raw connection for writing.

The index lives in a SQLite file, or, when its location is a `postgresql://` URL, in that database's
`sink_index` schema. PostgreSQL's columns are 64-bit integers where the models say int (SQLite's are) and
booleans are kept as 0 and 1 as SQLite keeps them, so rows read the same from either engine; the indexer
writes through the store's PostgreSQL connection (node.store.dialect), which takes the same SQL.

Schema changes: a column added to a model is added to an existing index's table when it is opened (it must
be nullable, and is declared last in its model, so a fresh and an upgraded index have the same columns in
the same order). Whenever a change to the models or to how events are applied leaves the derived tables of
an existing index stale, DERIVATION_VERSION is raised: the indexer then re-derives them from the events the
index stores (node.index.follower), as after a reorg, and records the version in `PRAGMA user_version`.
"""

import contextlib
import sqlite3
import threading
import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Boolean, Engine, Integer, MetaData, event, text
from sqlmodel import SQLModel, create_engine

from node.index import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from node.private import private_sqlite
from node.store.dialect import PgConnection

INDEX_SCHEMA = "sink_index"
INDEXER_LOCK = zlib.crc32(b"sinkledger indexer")
IndexLocation = Path | str  # a SQLite file, or a postgresql:// URL


def is_postgres(location: IndexLocation) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def _pragmas(connection: sqlite3.Connection) -> None:
    # WAL keeps readers off the writer's back; synchronous=NORMAL survives a killed process (the WAL is
    # in the OS before commit returns), which is the failure the index must survive.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=OFF")
    connection.execute("PRAGMA busy_timeout=10000")


# 1: the first schema. 2: projects' own buffer shares (ProjectBufferShareSet) and each batch's share at issuance.
DERIVATION_VERSION = 2


def create_schema(path: Path) -> None:
    private_sqlite(path)  # 0600 before SQLite opens it, so its WAL and SHM files are 0600 too
    engine = create_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    _add_missing_columns(engine)
    engine.dispose()


def _add_missing_columns(engine: Engine) -> None:
    """Adds to existing tables the columns their models gained since (nullable ones: rows gain NULL)."""
    with engine.begin() as connection:
        for table in SQLModel.metadata.sorted_tables:
            present = {row[1] for row in connection.execute(text(f"PRAGMA table_info({table.name})"))}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable:
                    raise RuntimeError(f"index column {table.name}.{column.name} is new: it must be nullable")
                kind = column.type.compile(dialect=engine.dialect)
                try:
                    connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))
                except Exception as exc:  # another connection opening the index added it first
                    if "duplicate column" not in str(exc):
                        raise


def _postgres_metadata() -> MetaData:
    """The models' tables as PostgreSQL keeps them: BIGINT for every integer and boolean column."""
    metadata = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        copy = table.to_metadata(metadata)
        for column in copy.columns:
            if isinstance(column.type, Integer | Boolean) and not isinstance(column.type, BigInteger):
                column.type = BigInteger()
    return metadata


def create_postgres_schema(url: str) -> None:
    engine = create_engine(_sqlalchemy_url(url))
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {INDEX_SCHEMA}"))
        connection.execute(text(f"SET LOCAL search_path = {INDEX_SCHEMA}"))
        _postgres_metadata().create_all(connection)
        connection.execute(text("CREATE TABLE IF NOT EXISTS index_version (id BIGINT PRIMARY KEY, version BIGINT)"))
        connection.execute(text("INSERT INTO index_version VALUES (1, 0) ON CONFLICT (id) DO NOTHING"))
    engine.dispose()


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def derivation_version(connection: Any) -> int:
    if isinstance(connection, PgConnection):
        return int(connection.execute("SELECT version FROM index_version WHERE id = 1").fetchone()[0])
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def set_derivation_version(connection: Any) -> None:
    if isinstance(connection, PgConnection):
        connection.execute("UPDATE index_version SET version = ? WHERE id = 1", (DERIVATION_VERSION,))
    else:
        connection.execute(f"PRAGMA user_version = {DERIVATION_VERSION}")


def connect_postgres(url: str, *, read_only: bool = False) -> PgConnection:
    """A connection to a PostgreSQL index (autocommit; the indexer says BEGIN and COMMIT)."""
    connection = PgConnection(url, search_path=INDEX_SCHEMA)
    if read_only:
        connection.execute("SET default_transaction_read_only = on")
    return connection


class IndexerLock:
    """The session advisory lock the one indexer of a PostgreSQL index holds; another indexer waits for it and
    gets it as soon as the holder's connection ends (PostgreSQL releases it when a process dies, kill -9
    included)."""

    def __init__(self, url: str) -> None:
        self._connection = PgConnection(url)

    @classmethod
    def acquired(cls, url: str, *, timeout_s: float | None = None) -> "IndexerLock":
        """Waits for the lock (at most `timeout_s`, then psycopg's lock timeout error)."""
        lock = cls(url)
        try:
            if timeout_s is not None:
                lock._connection.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")
            lock._connection.execute("SELECT pg_advisory_lock(?)", (INDEXER_LOCK,))
        except BaseException:
            lock.close()
            raise
        return lock

    def try_acquire(self) -> bool:
        return bool(self._connection.execute("SELECT pg_try_advisory_lock(?)", (INDEXER_LOCK,)).fetchone()[0])

    def note(self, text: str) -> None:
        """Names the holder (as the file lock writes it in its file): the lock's session's application name."""
        self._connection.execute("SELECT set_config('application_name', ?, false)", (" ".join(text.split())[:63],))

    @staticmethod
    def holder(url: str) -> str:
        """What the holder noted, or "" when no indexer holds the lock."""
        probe = PgConnection(url)
        try:
            row = probe.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = ? AND l.objsubid = 1",
                (INDEXER_LOCK,),
            ).fetchone()
            return str(row[0]) if row else ""
        finally:
            probe.close()

    @staticmethod
    def held_elsewhere(url: str) -> bool:
        """Whether some indexer holds the lock now (tried without waiting)."""
        probe = IndexerLock(url)
        try:
            return not probe.try_acquire()
        finally:
            probe.close()

    def close(self) -> None:
        """Lets the lock go (its session ends)."""
        self._connection.close()


class ReaderPool:
    """Read-only connections to a PostgreSQL index, kept open between requests.

    Opening one costs a connection handshake and its settings, several times a small query's work; a
    process keeps up to `size` idle ones. A connection is lent by `take` and comes back when its user
    closes it; one that comes back broken, or inside a transaction it cannot roll back, is closed instead.
    """

    def __init__(self, url: str, *, size: int = 8) -> None:
        self._url = url
        self._size = size
        self._idle: list[PgConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> PgConnection:
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = connect_postgres(self._url, read_only=True)
        connection.give_back = self._give_back
        return connection

    def _give_back(self, connection: PgConnection) -> bool:
        connection.give_back = None  # a second close closes it
        if connection.in_transaction:
            with contextlib.suppress(Exception):
                connection.execute("ROLLBACK")
        if not connection.usable:
            return False
        with self._lock:
            if self._closed or len(self._idle) >= self._size:
                return False
            self._idle.append(connection)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def open_reader(path: IndexLocation) -> Any:
    """A read-only connection to an index (for queries, comparisons and tests).

    A request's dependencies and its handler may run on different worker threads; the connection is
    used by one request at a time, so it may cross threads.
    """
    if is_postgres(path):
        assert isinstance(path, str)
        return connect_postgres(path, read_only=True)
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def connect_writer(location: IndexLocation) -> Any:
    """The indexer's connection: autocommit off is managed explicitly with BEGIN IMMEDIATE (BEGIN on PostgreSQL)."""
    if is_postgres(location):
        assert isinstance(location, str)
        create_postgres_schema(location)
        return connect_postgres(location)
    path = Path(location)
    create_schema(path)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _pragmas(connection)
    connection.execute("PRAGMA cache_size=-65536")
    return connection


def query_engine(path: Path) -> Engine:
    """An engine for the query side (SQLModel sessions)."""
    create_schema(path)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        _pragmas(dbapi_connection)

    return engine
