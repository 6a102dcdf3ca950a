"""The store's schema as numbered migrations, applied in order on open and recorded in `schema_version`.

Migration 1 is the schema node stores had before migrations were numbered: a store written then has
every table but no `schema_version`, and migration 1 (all `IF NOT EXISTS`, plus the columns the earliest
stores lack) brings it to version 1 without touching its rows. Later migrations only add.
"""

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from node.store.dialect import Connection, Dialect


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection, Dialect], None]


def _script(name: str) -> str:
    return resources.files("node.store").joinpath("sql", name).read_text(encoding="utf-8")


# Columns added to tables of the first stores before numbered migrations existed.
_EARLY_COLUMNS = {
    "listing": {
        "project_id": "INTEGER NOT NULL DEFAULT 0",
        "vintage": "INTEGER NOT NULL DEFAULT 0",
        "verifier": "TEXT NOT NULL DEFAULT ''",
        "region": "TEXT NOT NULL DEFAULT ''",
        "kind": "TEXT NOT NULL DEFAULT ''",
        "bundle": "INTEGER NOT NULL DEFAULT 0",
    },
    "accounting": {"period_end": "TEXT NOT NULL DEFAULT ''"},
}


def _initial(db: Connection, dialect: Dialect) -> None:
    for table, columns in _EARLY_COLUMNS.items():
        present = dialect.columns(db, table)
        if not present:
            continue
        for column, ddl in columns.items():
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")
    dialect.run_script(db, _script("0001_initial.sql"))


def _intents(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0002_intents.sql"))


def _journal_indexes(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0003_journal_indexes.sql"))


def _participant_profiles(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0004_participant_profiles.sql"))


def _web_sessions(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0005_web_sessions.sql"))


def _workers(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0006_workers.sql"))
    if "worker" not in dialect.columns(db, "intent"):
        db.execute("ALTER TABLE intent ADD COLUMN worker TEXT")


# Columns declared as numbers or bytes that hold sealed text (node.store.sealed): SQLite's column types are
# affinities and keep the text; PostgreSQL's are types, so there they become TEXT.
_SEALED_TEXT = (("offer", "price_fen_per_tonne"), ("deal", "price_fen_per_tonne"), ("idempotency_key", "body"))


def _sealed_columns_text(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0007_sealed_text.sql"))  # says why; holds no statement
    if dialect.name != "postgresql":
        return
    for table, column in _SEALED_TEXT:
        db.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE TEXT USING {column}::text")


def _peering(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0008_peering.sql"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", _initial),
    Migration(2, "intents, transaction journal, idempotency keys, reservations", _intents),
    Migration(3, "journal indexes for the reconciler and recoveries", _journal_indexes),
    Migration(4, "participants' display names", _participant_profiles),
    Migration(5, "the site's sign-in sessions", _web_sessions),
    Migration(6, "the node's worker processes, and the one carrying each intent", _workers),
    Migration(7, "sealed values in columns of text (PostgreSQL)", _sealed_columns_text),
    Migration(8, "evidence shared between organisations: nonces, grants, access log", _peering),
)
