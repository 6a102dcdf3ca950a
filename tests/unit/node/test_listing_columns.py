"""The listings discovery holds in memory: read again exactly when the market changes, and always the same answer
as a brute-force reading of the store's rows (registry.discovery), on both engines."""

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.market.deals import RESERVING
from node.market.listing_columns import ListingColumns, listing_columns, market_version
from node.store import Store
from node.store.migrations import MARKET_TABLES
from registry.discovery import ORDERS, Need, Offer, combine, discover

NOW = 1_800_000_000
T = 1_000_000
SELLERS = ["0x" + f"{i:040x}" for i in range(1, 6)]
REGIONS = ("CN-GD-SZ", "CN-GD", "CN-GDX", "CN-SH", "CN-ZJ-HZ", "")
KINDS = ("park", "greenway", "wetland")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store(tmp_path / "node.sqlite")
    else:
        opened = Store(request.getfixturevalue("postgres").create_database())
    yield opened
    opened.close()


def _list(store: Store, rng: random.Random, *, quantity: int | None = None, seller: str | None = None) -> int:
    return store.insert(
        "INSERT INTO listing (seller, batch_id, quantity, price_fen_per_tonne, min_lot, valid_from, valid_until,"
        " title, description, created_at, project_id, vintage, verifier, region, kind)"
        " VALUES (?,?,?,?,?,?,?,'t','d',?,?,?,'0x',?,?)",
        (
            seller or rng.choice(SELLERS), rng.randint(1, 6) << 32 | 1,
            quantity if quantity is not None else rng.randint(1, 40) * T // 2,
            rng.choice((0, 1_000, 5_000, 5_000, 12_000)), rng.choice((T // 2, T, 5 * T)),
            NOW - rng.choice((-86_400, 86_400)), NOW + rng.choice((-60, 86_400, 2 * 86_400)), NOW,
            rng.randint(1, 6), rng.randint(2020, 2025), rng.choice(REGIONS), rng.choice(KINDS),
        ),
    )  # fmt: skip


def _deal(store: Store, listing_id: int, grams: int, state: str) -> int:
    return store.insert(
        "INSERT INTO deal (listing_id, offer_id, seller, buyer, batch_id, quantity, price_fen_per_tonne, state,"
        " created_at) VALUES (?, ?, ?, ?, 1, ?, 1, ?, ?)",
        (listing_id, listing_id, SELLERS[0], SELLERS[1], grams, state, NOW),
    )


Answer = tuple[list[int], int, list[list[tuple[int, int]]]]


def _brute_force(store: Store, need: Need, orders: list[list[tuple[str, bool]]], review: bool,
                 inactive: set[int], frozen: set[str]) -> Answer:  # fmt: skip
    held: dict[int, int] = {}
    for deal in store.rows("SELECT listing_id, quantity, state FROM deal"):
        if deal["state"] in RESERVING:
            held[deal["listing_id"]] = held.get(deal["listing_id"], 0) + deal["quantity"]
    barred = {r["account"] for r in store.rows("SELECT account FROM blacklist WHERE lifted_at IS NULL")} | frozen
    latest: dict[int, str] = {}
    for review_row in store.rows("SELECT project_id, decision FROM project_review ORDER BY id"):
        latest[review_row["project_id"]] = review_row["decision"]
    offers = [
        Offer(
            listing_id=row["id"],
            available=row["quantity"] - held.get(row["id"], 0),
            min_lot=row["min_lot"],
            price_fen=row["price_fen_per_tonne"],
            vintage=row["vintage"],
            region=row["region"],
            kind=row["kind"],
            project_id=row["project_id"],
            valid_from=row["valid_from"],
            valid_until=row["valid_until"],
        )
        for row in store.rows("SELECT * FROM listing")
        if not row["withdrawn"]
        and row["seller"] not in barred
        and row["batch_id"] not in inactive
        and row["valid_from"] <= NOW
        and (not review or latest.get(row["project_id"]) == "approved")
    ]
    found = discover(need, offers, NOW, orders)
    return (
        [o.listing_id for o in found.fitting],
        found.fitting_grams,
        [[(p.listing_id, p.grams) for p in c.parts] for c in found.combinations],
    )


def _answer(columns: ListingColumns, need: Need, orders: list[list[tuple[str, bool]]], inactive: set[int],
            frozen: set[str]) -> Answer:  # fmt: skip
    fitting = columns.fitting(need, NOW, sorted(inactive), sorted(frozen))
    first = columns.in_order(fitting, orders[0])
    combinations = []
    for order in orders:
        read = columns.filled(columns.in_order(fitting, order), need.grams)
        offers = []
        for position in read:
            row = columns.row(int(position))
            offers.append(Offer(row["id"], row["available"], row["min_lot"], row["price_fen_per_tonne"],
                                row["vintage"], row["region"], row["kind"], row["project_id"], row["valid_from"],
                                row["valid_until"]))  # fmt: skip
        combinations.append([(p.listing_id, p.grams) for p in combine(need, offers, order).parts])
    return [int(columns.id[p]) for p in first], columns.total(fitting), combinations


def _random_need(rng: random.Random) -> tuple[Need, list[list[tuple[str, bool]]]]:
    low = rng.randint(2020, 2025)
    need = Need(
        grams=rng.choice((T // 3, 4 * T, 30 * T, 10**6 * T)),
        regions=tuple(rng.sample(("CN-GD", "CN-SH", "CN-ZJ", "CN-GD-SZ"), rng.randint(0, 2))),
        kinds=tuple(rng.sample(KINDS, rng.randint(0, 2))),
        vintage_from=rng.choice((None, low)),
        vintage_to=rng.choice((None, rng.randint(low, 2025))),
        max_price_fen=rng.choice((None, 5_000)),
        retire_by=rng.choice((None, NOW + 3_600)),
    )
    orders = [[(c, rng.random() < 0.4) for c in rng.sample(ORDERS, rng.randint(1, 3))] for _ in range(2)]
    return need, orders


def test_every_market_table_moves_the_counter_and_other_tables_do_not(store: Store) -> None:
    rng = random.Random(1)
    listing_id = _list(store, rng)
    _list(store, rng)  # deleted below
    writes = {
        "listing": ["UPDATE listing SET withdrawn = 1 WHERE id = ?", "DELETE FROM listing WHERE id = ? + 1"],
        "deal": [
            "INSERT INTO deal (listing_id, offer_id, seller, buyer, batch_id, quantity, price_fen_per_tonne, state,"
            " created_at) VALUES (?, 1, 'a', 'b', 1, 1, 1, 'accepted', 0)",
            "UPDATE deal SET state = 'cancelled' WHERE listing_id = ?",
        ],
        "campaign": [
            "INSERT INTO campaign (listing_id, seller, batch_id, target, deadline, state, created_at)"
            " VALUES (?, 'a', 1, 5, 0, 'open', 0)",
        ],
        "subscription": [
            "INSERT INTO subscription (campaign_id, subscriber, grams, amount_fen, channel, created_at)"
            " VALUES (?, 'b', 1, 1, 'web', 0)",
        ],
        "project_review": [
            "INSERT INTO project_review (project_id, decision, reason, actor, at) VALUES (?, 'approved', '-', 'r', 0)"
        ],
        "bundle_part": ["INSERT INTO bundle_part (listing_id, batch_id, quantity) VALUES (?, 7, 1)"],
        "blacklist": [
            "INSERT INTO blacklist (account, reason, listed_by, listed_at) VALUES (CAST(? AS TEXT), 'r', 'x', 0)",
            "UPDATE blacklist SET lifted_at = 1 WHERE account = CAST(? AS TEXT)",
        ],
    }
    assert set(writes) == set(MARKET_TABLES)
    for table, statements in writes.items():
        for sql in statements:
            before = market_version(store)
            store.execute(sql, (listing_id,))
            assert market_version(store) > before, f"{table}: {sql}"
    before = market_version(store)
    store.execute("INSERT INTO web_session (session_hash, token_hash, csrf, created_at, expires_at) VALUES"
                  " ('s', 't', 'c', 0, 1)")  # fmt: skip
    assert market_version(store) == before


@pytest.mark.parametrize("review", [False, True])
def test_columns_kept_up_to_date_answer_as_a_brute_force_reading(store: Store, review: bool) -> None:
    """Listings, deals, withdrawals, reviews and blacklistings arrive in rounds; after each, the columns read
    incrementally equal columns read from nothing, and both answer random needs as a brute force does."""
    rng = random.Random(7 if review else 8)
    for _round in range(6):
        for _ in range(rng.randint(0, 40)):
            listing_id = _list(store, rng)
            if rng.random() < 0.3:
                quantity = store.rows("SELECT quantity FROM listing WHERE id = ?", (listing_id,))[0]["quantity"]
                _deal(store, listing_id, rng.randint(1, quantity), rng.choice((*RESERVING, "cancelled")))
        ids = [r["id"] for r in store.rows("SELECT id FROM listing")]
        if ids and rng.random() < 0.7:
            store.execute("UPDATE listing SET withdrawn = 1 WHERE id = ?", (rng.choice(ids),))
        store.execute("INSERT INTO project_review (project_id, decision, reason, actor, at) VALUES (?, ?, '-', 'r', 0)",
                      (rng.randint(1, 6), rng.choice(("approved", "approved", "rejected"))))  # fmt: skip
        if rng.random() < 0.3:
            store.execute("INSERT INTO blacklist (account, reason, listed_by, listed_at) VALUES (?, 'r', 'x', 0)"
                          " ON CONFLICT (account) DO NOTHING", (rng.choice(SELLERS),))  # fmt: skip
        kept = listing_columns(store, listing_review=review)
        fresh = ListingColumns.read(store, kept.version, None)
        assert kept.version == (market_version(store), review)
        for name in ("id", "available", "live", "seller", "region", "price", "valid_until"):
            assert getattr(kept, name).tolist() == getattr(fresh, name).tolist(), name
        inactive = {rng.randint(1, 6) << 32 | 1} if rng.random() < 0.5 else set()
        frozen = {rng.choice(SELLERS)} if rng.random() < 0.5 else set()
        for _ in range(15):
            need, orders = _random_need(rng)
            expected = _brute_force(store, need, orders, review, inactive, frozen)
            assert _answer(kept, need, orders, inactive, frozen) == expected


def test_grams_beyond_int64_sums_stay_exact(store: Store) -> None:
    rng = random.Random(3)
    huge = 2**63 - 1
    ids = [_list(store, rng, quantity=huge) for _ in range(3)] + [_list(store, rng, quantity=T)]
    store.execute("UPDATE listing SET valid_from = ?, valid_until = ?, min_lot = 1", (NOW - 1, NOW + 10))
    columns = listing_columns(store, listing_review=False)
    need = Need(grams=2**53)
    fitting = columns.fitting(need, NOW, [], [])
    assert sorted(int(columns.id[p]) for p in fitting) == sorted(ids)
    assert columns.total(fitting) == 3 * huge + T
    by_quantity = columns.in_order(fitting, [("quantity", True)])
    assert [int(columns.id[p]) for p in by_quantity] == [*sorted(ids[:3]), ids[3]]
    assert [int(columns.id[p]) for p in columns.filled(by_quantity, need.grams)] == [min(ids[:3])]


def test_a_listing_added_after_the_first_read_is_found(store: Store) -> None:
    rng = random.Random(4)
    _list(store, rng)
    first = listing_columns(store, listing_review=False)
    added = _list(store, rng, quantity=3 * T)
    store.execute("UPDATE listing SET valid_from = ?, valid_until = ?, min_lot = ? WHERE id = ?",
                  (NOW - 1, NOW + 10, T, added))  # fmt: skip
    again = listing_columns(store, listing_review=False)
    assert again is not first and again.version > first.version
    assert added in [int(again.id[p]) for p in again.fitting(Need(grams=T), NOW, [], [])]
    assert listing_columns(store, listing_review=False) is again  # nothing changed: not read again
