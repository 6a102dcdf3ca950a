"""The store's connection: one per process, migrated on open, one writer at a time.

Every aggregate module adds its SQL to `Store` (node.store); this module holds what they share: the
connection, the transaction helper and the plain row readers.
"""

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node.store.context import CURRENT_KEY
from node.store.dialect import dialect_for
from node.store.migrations import MIGRATIONS
from node.store.sealed import Sealer


class StoreBase:
    def __init__(self, location: Path | str) -> None:
        """`location`: the node.sqlite file, or a postgresql:// URL (SINKNODE_DATABASE_URL)."""
        self.location = location
        self.dialect = dialect_for(location)
        self._db: Any = self.dialect.connect(location)
        self._lock = threading.RLock()  # re-entrant: reads run inside transaction()
        self._depth = 0
        # Seals what must not sit in clear at rest (set by whoever holds the key: the services); without
        # one, kept answers are stored as they are.
        self.sealer: Sealer | None = None
        # The process serving through this store, when the node runs several (node.store.workers); recorded on
        # each intent it begins.
        self.worker_id: str | None = None
        self.migrate()

    # schema ---------------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Applies every migration the store lacks, each in its own transaction; returns those applied."""
        applied: list[int] = []
        with self.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at INTEGER NOT NULL)"
            )
        for migration in MIGRATIONS:
            with self.transaction() as db:
                if db.execute("SELECT 1 FROM schema_version WHERE version = ?", (migration.version,)).fetchone():
                    continue
                migration.apply(db, self.dialect)
                db.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?,?,?)",
                    (migration.version, migration.name, int(time.time())),
                )
                applied.append(migration.version)
        return applied

    def seal(self, plain: str, context: str) -> str:
        return plain if self.sealer is None else self.sealer.seal(plain, context)

    def unseal(self, stored: str, context: str) -> str:
        if not stored.startswith("sealed:"):
            return stored
        if self.sealer is None:
            raise ValueError(f"{context} is sealed and this store has no key to open it")
        return self.sealer.open(stored, context)

    def schema_version(self) -> int:
        rows = self.rows("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
        return int(rows[0]["v"])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # transactions ---------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; this thread's other calls on the store join it, other threads wait.

        Nested use joins the outer transaction, so an aggregate's function can be called alone or as part
        of a larger atomic step."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self.dialect.begin(self._db)
            self._depth = 1
            changes = self._db.total_changes
            try:
                yield self._db
                key = CURRENT_KEY.get()
                if key is not None and self._db.total_changes != changes:
                    # A request under an Idempotency-Key changed the store: the key says so in the same
                    # commit, so a retry after a crash knows the write happened even if its answer was lost.
                    self._db.execute(
                        "UPDATE idempotency_key SET applied = 1 WHERE scope = ? AND key = ? AND state = 'running'",
                        key,
                    )
            except BaseException:
                self._depth = 0
                self._db.execute("ROLLBACK")
                raise
            self._depth = 0
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for a few reads that must see one state (inside a transaction if this thread is in one)."""
        with self._lock:
            yield self._db

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write (in a transaction of its own unless one is open); returns the new row id."""
        with self.transaction() as db:
            cursor = db.execute(sql, params)
        return int(cursor.lastrowid or 0)

    def insert(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One INSERT into a table with an `id` key; returns the new row's id (both engines say RETURNING)."""
        with self.transaction() as db:
            return int(db.execute(sql + " RETURNING id", params).fetchone()[0])

    def changed(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write; returns how many rows it changed (a compare-and-set's outcome)."""
        with self.transaction() as db:
            return int(db.execute(sql, params).rowcount)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
