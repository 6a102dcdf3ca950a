"""What differs between database engines, in one place.

The store is written for SQLite (the embedded default) in SQL that PostgreSQL also runs; what cannot
be written once lives here: opening, how a write transaction starts, an auto-numbered key, listing a
table's columns and running a multi-statement script.
"""

import sqlite3
from pathlib import Path
from typing import Any, Protocol

from node.private import private_sqlite


class Connection(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


class Dialect(Protocol):
    name: str
    begin_write: str  # the statement that starts a transaction taking the write lock at once

    def columns(self, db: Connection, table: str) -> set[str]: ...

    def run_script(self, db: Connection, script: str) -> None: ...


class SqliteDialect:
    name = "sqlite"
    begin_write = "BEGIN IMMEDIATE"

    def connect(self, path: Path) -> sqlite3.Connection:
        private_sqlite(path)  # 0600 before SQLite opens it, so its WAL and SHM files are 0600 too
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a transaction reported committed survives a power cut too, not only kill -9.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def columns(self, db: Connection, table: str) -> set[str]:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}

    def run_script(self, db: Connection, script: str) -> None:
        # executescript would COMMIT the caller's transaction first: run statement by statement instead.
        for statement in split_statements(script):
            db.execute(statement)


def split_statements(script: str) -> list[str]:
    """A script's statements (';'-separated; the store's scripts hold no ';' inside literals)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
