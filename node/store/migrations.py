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


# The tables behind what a listing still offers and whether it is open: a change to any of them moves the market's
# counter, so what reads listings in memory (node.market.listing_columns) knows when to read them again.
MARKET_TABLES = ("listing", "deal", "campaign", "subscription", "project_review", "bundle_part", "blacklist")


def _market_changes(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0009_market_changes.sql"))  # says why; holds no statement
    db.execute("CREATE TABLE IF NOT EXISTS market_change (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)")
    db.execute("INSERT INTO market_change (id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
    if dialect.name == "postgresql":
        db.execute(
            "CREATE OR REPLACE FUNCTION market_changed() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN UPDATE market_change SET n = n + 1 WHERE id = 1; RETURN NULL; END $$"
        )
        for table in MARKET_TABLES:
            db.execute(f"DROP TRIGGER IF EXISTS {table}_market_changed ON {table}")
            db.execute(
                f"CREATE TRIGGER {table}_market_changed AFTER INSERT OR UPDATE OR DELETE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION market_changed()"
            )
        return
    for table in MARKET_TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_market_changed AFTER {event} ON {table}"
                " BEGIN UPDATE market_change SET n = n + 1 WHERE id = 1; END"
            )


def _saved_needs(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0010_saved_needs.sql"))


def _esg_statements(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0011_esg_statements.sql"))


def _audit_grants(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0012_audit_grants.sql"))


def _credit(db: Connection, dialect: Dialect) -> None:
    for table in ("offer", "deal"):  # the agreed delivery date (a deal takes its offer's, or a default)
        if "deliver_by" not in dialect.columns(db, table):
            db.execute(f"ALTER TABLE {table} ADD COLUMN deliver_by INTEGER")
    dialect.run_script(db, _script("0013_credit.sql"))


def _pledge_defaults(db: Connection, dialect: Dialect) -> None:
    dialect.run_script(db, _script("0014_pledge_defaults.sql"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", _initial),
    Migration(2, "intents, transaction journal, idempotency keys, reservations", _intents),
    Migration(3, "journal indexes for the reconciler and recoveries", _journal_indexes),
    Migration(4, "participants' display names", _participant_profiles),
    Migration(5, "the site's sign-in sessions", _web_sessions),
    Migration(6, "the node's worker processes, and the one carrying each intent", _workers),
    Migration(7, "sealed values in columns of text (PostgreSQL)", _sealed_columns_text),
    Migration(8, "evidence shared between organisations: nonces, grants, access log", _peering),
    Migration(9, "a counter of the market's changes, moved by triggers", _market_changes),
    Migration(10, "buyers' saved needs and the new listings noticed for them", _saved_needs),
    Migration(11, "ESG retirement statements as issued, with their files", _esg_statements),
    Migration(12, "third-party auditors' grants and every query made under them", _audit_grants),
    Migration(13, "delivery dates, dispute decisions, credit facts and scores", _credit),
    Migration(14, "banks' written reasons for pledge defaults", _pledge_defaults),
)
