"""Opening the index database: schema from the SQLModel models, a raw sqlite3 connection for writing.

Schema changes: a column added to a model is added to an existing index's table when it is opened (it must
be nullable, and is declared last in its model, so a fresh and an upgraded index have the same columns in
the same order). Whenever a change to the models or to how events are applied leaves the derived tables of
an existing index stale, DERIVATION_VERSION is raised: the indexer then re-derives them from the events the
index stores (node.index.follower), as after a reorg, and records the version in `PRAGMA user_version`.
"""

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, event, text
from sqlmodel import SQLModel, create_engine

from node.index import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from node.private import private_sqlite


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


def derivation_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def set_derivation_version(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA user_version = {DERIVATION_VERSION}")


def connect_writer(path: Path) -> sqlite3.Connection:
    """The indexer's connection: autocommit off is managed explicitly with BEGIN IMMEDIATE."""
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
