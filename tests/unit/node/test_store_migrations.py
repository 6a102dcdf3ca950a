"""The store's numbered migrations: a store written before they existed is brought to the latest schema
with every row kept, a second open applies nothing, and a migrated store has the schema of a fresh one."""

import re
import sqlite3
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from node.store import Store
from node.store import base as store_base
from node.store.dialect import Connection, Dialect
from node.store.migrations import MIGRATIONS, Migration

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "store-v0.sql"
TOKEN = "slk_WFBU8AKs6fe3tgDcEPTfZwXVu-SZdeyTsE1ziO7byOo"
BUYER = "0x" + "ab" * 20
SELLER = "0x" + "cd" * 20


def _load_fixture(path: Path) -> Path:
    db = sqlite3.connect(path)
    try:
        db.executescript(FIXTURE.read_text(encoding="utf-8"))
    finally:
        db.close()
    return path


def _tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


def _schema(store: Store) -> dict[str, tuple[str, str]]:
    """Every table and index by name: (type, its CREATE statement with whitespace normalised)."""
    rows = store.rows(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL"
        " AND name NOT LIKE 'sqlite_%'"
    )
    return {r["name"]: (r["type"], _normalised(r["sql"])) for r in rows}


def _normalised(sql: str) -> str:
    return re.sub(r"\s*([(),])\s*", r"\1", re.sub(r"\s+", " ", sql)).strip()


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    return _load_fixture(tmp_path / "node.sqlite")


@pytest.fixture
def migrated(old_store: Path) -> Iterator[Store]:
    store = Store(old_store)
    yield store
    store.close()


def test_the_fixture_is_a_store_from_before_numbered_migrations(old_store: Path) -> None:
    tables = _tables(old_store)
    assert "schema_version" not in tables
    assert {"api_token", "offset_batch", "listing", "deal"} <= tables
    assert not {"intent", "chain_tx", "idempotency_key"} & tables


def test_opening_an_old_store_migrates_it_to_the_latest_version(migrated: Store) -> None:
    versions = migrated.rows("SELECT version, name FROM schema_version ORDER BY version")
    assert [(r["version"], r["name"]) for r in versions] == [(m.version, m.name) for m in MIGRATIONS]
    assert migrated.schema_version() == MIGRATIONS[-1].version


def test_migrating_keeps_the_api_token(migrated: Store) -> None:
    owner = migrated.owner_of(TOKEN)
    assert owner is not None
    assert (owner.key_name, owner.account, owner.label) == ("buyer", BUYER, "buyer")


def test_migrating_keeps_the_offset_and_its_orders_readable_as_done(migrated: Store) -> None:
    assert migrated.rows("SELECT id, state, intent_id FROM offset_batch") == [
        {"id": 1, "state": "done", "intent_id": None}
    ]
    offset = migrated.offset(1)
    assert offset is not None
    assert offset["root"] == "0x" + "11" * 32
    assert (offset["orders"], offset["total_grams"]) == (2, 2010)
    assert offset["retirements"][0]["retirement_id"] == 1
    assert migrated.order("order-1") == (1, 0, 1210, '{"grams":1210}')
    assert migrated.order("order-2") == (1, 1, 800, '{"grams":800}')
    assert migrated.offset_orders(1) == [("order-1", 1210, '{"grams":1210}'), ("order-2", 800, '{"grams":800}')]
    assert migrated.known_orders(["order-1", "order-2", "order-3"]) == ["order-1", "order-2"]


def test_migrating_keeps_the_listing_the_deal_points_and_query_log(migrated: Store) -> None:
    (listing,) = migrated.listings()
    assert (listing["id"], listing["seller"], listing["batch_id"], listing["quantity"]) == (
        1,
        SELLER,
        4294967297,
        20_000_000,
    )
    assert (listing["title"], listing["region"], listing["kind"], listing["bundle"]) == (
        "Park A 2025",
        "CN-330100",
        "park",
        0,
    )
    (deal,) = migrated.rows("SELECT * FROM deal")
    assert (deal["id"], deal["state"], deal["buyer"], deal["quantity"]) == (1, "paid", BUYER, 5_000_000)
    assert deal["intent_id"] is None
    points = migrated.points("shopper-1")
    assert (points["points"], points["grams"]) == (121, 1210)
    assert points["entries"][0]["retirement_ids"] == [1]
    (query,) = migrated.query_log()
    assert (query["account"], query["endpoint"], query["outcome"]) == (
        "0x" + "99" * 20,
        "/v1/regulator/summary",
        "ok",
    )


def test_migrating_keeps_the_row_counters(migrated: Store) -> None:
    """AUTOINCREMENT counters survive: a new row never reuses an old id."""
    row = {
        "seller": SELLER,
        "batch_id": 4294967297,
        "quantity": 1,
        "price_fen_per_tonne": 100,
        "min_lot": 1,
        "valid_from": 0,
        "valid_until": 1,
        "title": "t",
        "description": "d",
        "project_id": 1,
        "vintage": 2025,
        "verifier": "",
        "region": "",
        "kind": "",
        "bundle": 0,
    }
    assert migrated.create_listing(row, []) == 2


def test_migrating_adds_the_new_tables_and_columns(migrated: Store) -> None:
    tables = {r["name"] for r in migrated.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "intent", "chain_tx", "idempotency_key"} <= tables
    columns = migrated.dialect.columns
    with migrated.reading() as db:
        assert {"state", "intent_id"} <= columns(db, "offset_batch")
        assert "intent_id" in columns(db, "deal")
        assert "intent_id" in columns(db, "campaign")
    indexes = {r["name"] for r in migrated.rows("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"ux_intent_live_subject", "ix_chain_tx_state", "ix_idempotency_created"} <= indexes


def test_a_migrated_store_takes_new_writes(migrated: Store) -> None:
    intent_id = migrated.create_intent(kind="offset", actor=BUYER, key_name="buyer", request={"n": 1})
    migrated.journal_tx(intent_id=intent_id, account=BUYER, nonce=0, tx_hash="0x" + "01" * 32, raw="0x00")
    assert migrated.claim_key(scope="s", key="k", request_hash="h", boot="b").outcome == "new"
    assert migrated.rows("SELECT state FROM intent") == [{"state": "sent"}]


def test_opening_a_store_twice_applies_nothing_the_second_time(
    old_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[int] = []

    def counted(migration: Migration) -> Migration:
        def apply(db: Connection, dialect: Dialect) -> None:
            applied.append(migration.version)
            migration.apply(db, dialect)

        return Migration(migration.version, migration.name, apply)

    monkeypatch.setattr(store_base, "MIGRATIONS", tuple(counted(m) for m in MIGRATIONS))
    first = Store(old_store)
    versions = first.rows("SELECT * FROM schema_version ORDER BY version")
    schema = _schema(first)
    first.close()
    assert applied == [m.version for m in MIGRATIONS]

    second = Store(old_store)
    try:
        assert applied == [m.version for m in MIGRATIONS]  # nothing more
        assert second.migrate() == []
        assert second.rows("SELECT * FROM schema_version ORDER BY version") == versions
        assert _schema(second) == schema
        assert second.owner_of(TOKEN) is not None
    finally:
        second.close()


def test_a_fresh_store_has_the_schema_of_a_migrated_old_one(tmp_path: Path, migrated: Store) -> None:
    fresh = Store(tmp_path / "fresh" / "node.sqlite")
    try:
        assert fresh.schema_version() == migrated.schema_version()
        fresh_schema, migrated_schema = _schema(fresh), _schema(migrated)
        assert sorted(fresh_schema) == sorted(migrated_schema)
        for name, definition in fresh_schema.items():
            assert migrated_schema[name] == definition, name
    finally:
        fresh.close()


def test_migrations_are_numbered_from_one_without_gaps_and_each_has_a_name() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    for migration in MIGRATIONS:
        assert isinstance(migration.name, str) and migration.name.strip(), migration.version
        assert callable(migration.apply)


def test_migration_scripts_are_numbered_without_gaps_and_none_lacks_its_migration() -> None:
    names = sorted(p.name for p in resources.files("node.store").joinpath("sql").iterdir() if p.name.endswith(".sql"))
    assert all(re.fullmatch(r"\d{4}_\w+\.sql", n) for n in names), names
    numbers = [int(n[:4]) for n in names]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) <= len(MIGRATIONS)
