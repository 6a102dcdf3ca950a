"""Opening the index database: schema from the SQLModel models, a raw sqlite3 connection for writing."""

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, event
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


def create_schema(path: Path) -> None:
    private_sqlite(path)  # 0600 before SQLite opens it, so its WAL and SHM files are 0600 too
    engine = create_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    engine.dispose()


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
