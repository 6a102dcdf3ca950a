"""What differs between database engines, in one place.

The store is written for SQLite (the embedded default) in SQL that PostgreSQL also runs; what cannot
be written once lives here: opening, how a write transaction starts, listing a table's columns, running a
multi-statement script, the DDL types, and the planner hint SQLite needs (`+column` keeps it off an index).
PostgreSQL is reached through a connection that takes the store's SQL as written (`?` parameters,
integers for booleans) and counts the rows its statements change, as SQLite's `total_changes` does.
"""

import contextlib
import re
import sqlite3
import zlib
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import psycopg

from node.private import private_sqlite

# A duplicate key, whichever engine refused it.
IntegrityError: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
# The advisory lock a PostgreSQL store's write transactions take: one writer at a time, as SQLite's
# BEGIN IMMEDIATE gives (the store's read-then-write steps rely on it).
STORE_WRITE_LOCK = zlib.crc32(b"sinkledger store writes")


class Connection(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


class Dialect(Protocol):
    name: str
    unindexed: str  # prefix of a column the planner must not answer from an index

    def connect(self, location: Any) -> Any: ...

    def begin(self, db: Any) -> None: ...

    def columns(self, db: Connection, table: str) -> set[str]: ...

    def run_script(self, db: Connection, script: str) -> None: ...


class SqliteDialect:
    name = "sqlite"
    unindexed = "+"

    def connect(self, path: Path) -> sqlite3.Connection:
        private_sqlite(path)  # 0600 before SQLite opens it, so its WAL and SHM files are 0600 too
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a transaction reported committed survives a power cut too, not only kill -9.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def begin(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")  # takes the write lock at once

    def columns(self, db: Connection, table: str) -> set[str]:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}

    def run_script(self, db: Connection, script: str) -> None:
        # executescript would COMMIT the caller's transaction first: run statement by statement instead.
        for statement in split_statements(script):
            db.execute(statement)


class PgCursor:
    """A psycopg cursor as the store reads one: rows as tuples, `description`, `rowcount`, `lastrowid`."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = None  # PostgreSQL has none: the store's inserts say RETURNING id

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone() if self.description is not None else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall() if self.description is not None else []

    def __iter__(self) -> Any:
        return iter(self.fetchall())


class _NumberAsSqlite(psycopg.adapt.Loader):
    """NUMERIC (what PostgreSQL's SUM of integers gives) read as SQLite gives it: an int when whole."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class PgConnection:
    """A PostgreSQL connection in autocommit mode (the store says BEGIN and COMMIT itself) that runs the
    store's SQLite-flavoured SQL."""

    def __init__(self, url: str, *, search_path: str | None = None) -> None:
        options = {"options": f"-c search_path={search_path}"} if search_path else {}
        self._db = psycopg.connect(url, autocommit=True, **options)
        self.url = url
        self._db.adapters.register_loader("numeric", _NumberAsSqlite)
        self.total_changes = 0
        # Set by a pool that lent this connection: `close` offers it back, and closes it if refused.
        self.give_back: Callable[[PgConnection], bool] | None = None

    def execute(self, sql: str, params: Any = ()) -> PgCursor:
        cursor = self._db.cursor()
        cursor.execute(pg_sql(sql), _pg_params(params))
        if _is_write(sql):
            self.total_changes += max(cursor.rowcount, 0)
        return PgCursor(cursor)

    def executemany(self, sql: str, rows: Any) -> PgCursor:
        cursor = self._db.cursor()
        cursor.executemany(pg_sql(sql), [_pg_params(row) for row in rows])
        self.total_changes += max(cursor.rowcount, 0)
        return PgCursor(cursor)

    def copy_stream(self, table: str, columns: tuple[str, ...]) -> "CopyStream":
        return CopyStream(self, table, columns)

    @property
    def in_transaction(self) -> bool:
        return self._db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def usable(self) -> bool:
        """Open, not broken, and outside any transaction (ready to be lent again)."""
        db = self._db
        return not db.closed and not db.broken and db.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        if self.give_back is not None and self.give_back(self):
            return
        self._db.close()


class CopyStream:
    """Rows sent to a table by COPY as they are made, so that the server stores them while the caller goes on
    computing the next ones. The connection takes no other statement during a COPY: `pause` ends it before one,
    and the next row starts another."""

    def __init__(self, connection: PgConnection, table: str, columns: tuple[str, ...]) -> None:
        self._connection = connection
        self._sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        self._manager: Any = None
        self._copy: Any = None
        self._rows = 0

    def write(self, row: tuple[Any, ...]) -> None:
        if self._copy is None:
            self._manager = self._connection._db.cursor().copy(self._sql)
            self._copy = self._manager.__enter__()
        self._copy.write_row(row)
        self._rows += 1

    def pause(self) -> None:
        """Ends the COPY under way (its rows are stored when this returns)."""
        if self._manager is not None:
            manager, self._manager, self._copy = self._manager, None, None
            manager.__exit__(None, None, None)
            self._connection.total_changes += self._rows
            self._rows = 0

    def abort(self) -> None:
        """Abandons the COPY under way; the caller rolls its transaction back."""
        if self._manager is not None:
            manager, self._manager, self._copy = self._manager, None, None
            error = RuntimeError("the rows' transaction failed")
            with contextlib.suppress(Exception):
                manager.__exit__(RuntimeError, error, None)


def _is_write(sql: str) -> bool:
    return sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")


def _pg_params(params: Any) -> tuple[Any, ...]:
    # SQLite keeps booleans as 0 and 1 in INTEGER columns; PostgreSQL refuses a boolean there.
    return tuple(int(p) if isinstance(p, bool) else p for p in (params or ()))


@lru_cache(maxsize=4096)
def pg_sql(sql: str) -> str:
    """The store's SQL for psycopg: `?` outside quotes becomes `%s`, a literal `%` becomes `%%`."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            out.append("%%" if char == "%" else char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


_DDL = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", re.I), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
)


def pg_ddl(statement: str) -> str:
    """A migration's statement in PostgreSQL's types: 64-bit integers (SQLite's are), identity keys, bytea."""
    for pattern, replacement in _DDL:
        statement = pattern.sub(replacement, statement)
    return statement


class PostgresDialect:
    name = "postgresql"
    unindexed = ""

    def connect(self, url: str) -> PgConnection:
        return PgConnection(url)

    def begin(self, db: PgConnection) -> None:
        db.execute("BEGIN")
        db.execute("SELECT pg_advisory_xact_lock(?)", (STORE_WRITE_LOCK,))

    def columns(self, db: Connection, table: str) -> set[str]:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ?",
            (table,),
        )
        return {row[0] for row in rows}

    def run_script(self, db: Connection, script: str) -> None:
        for statement in split_statements(script):
            db.execute(pg_ddl(statement))


def in_list(column: str, count: int, *, negated: bool = False) -> str:
    """`column IN (?, …)` for `count` parameters; for none, what it means (SQLite reads `IN ()`, PostgreSQL
    does not): false, or true when negated."""
    if count == 0:
        return "1 = 1" if negated else "1 = 0"
    return f"{column} {'NOT IN' if negated else 'IN'} ({','.join('?' * count)})"


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def dialect_for(location: Path | str) -> SqliteDialect | PostgresDialect:
    return PostgresDialect() if is_postgres_url(location) else SqliteDialect()


def split_statements(script: str) -> list[str]:
    """A script's statements (';'-separated; the store's scripts hold no ';' inside literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
