"""The store's SQL for exactly-once writes: intents, the transaction journal, idempotency keys, and the
transaction helper they all run in."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from node.store import Store
from node.store.dialect import IntegrityError
from node.store.idempotency import KEEP_S

ACCOUNT = "0x" + "ab" * 20


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store on each engine: node.sqlite, and a fresh database of the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        opened = Store(tmp_path / "node.sqlite")
    else:
        opened = Store(request.getfixturevalue("postgres").create_database())
    yield opened
    opened.close()


def _intent(store: Store, subject: str | None = None, **request: object) -> int:
    return store.create_intent(kind="deliver", actor=ACCOUNT, key_name="seller", request=request, subject=subject)


def _state(store: Store, intent_id: int) -> str:
    intent = store.intent(intent_id)
    assert intent is not None
    return str(intent["state"])


def _tx_row(store: Store, tx_hash: str) -> dict[str, Any]:
    row = store.tx(tx_hash)
    assert row is not None
    return row


def _count(store: Store, table: str) -> int:
    return int(store.rows(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def _committed(location: Path | str, sql: str) -> list[tuple[object, ...]]:
    """What another connection sees: only committed rows."""
    if isinstance(location, str):
        with psycopg.connect(location) as pg:
            return [tuple(row) for row in pg.execute(sql).fetchall()]
    db = sqlite3.connect(location)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


# intents ------------------------------------------------------------------------------------------
def test_a_new_intent_is_reserved_with_its_request_and_idempotency_key(store: Store) -> None:
    intent_id = store.create_intent(
        kind="offset",
        actor=ACCOUNT,
        key_name="buyer",
        request={"plan": [[7, 100]], "root": "0x01"},
        subject="offset:1",
        idempotency=("scope-1", "key-1"),
    )
    intent = store.intent(intent_id)
    assert intent is not None
    assert (intent["kind"], intent["actor"], intent["key_name"], intent["subject"]) == (
        "offset",
        ACCOUNT,
        "buyer",
        "offset:1",
    )
    assert (intent["state"], intent["status"], intent["answer"]) == ("reserved", None, None)
    assert intent["request"] == {"plan": [[7, 100]], "root": "0x01"}
    found = store.intent_for_key("scope-1", "key-1")
    assert found is not None and found["id"] == intent_id
    assert store.intent_for_key("scope-1", "other") is None
    assert [i["id"] for i in store.live_intents()] == [intent_id]
    assert store.live_subject("offset:1") == intent_id
    assert store.intent(intent_id + 1) is None


def test_an_intent_settles_once_and_its_first_answer_stays(store: Store) -> None:
    intent_id = _intent(store)
    assert store.settle_intent(intent_id, state="done", status=201, answer={"offset_id": 1}) is True
    assert store.settle_intent(intent_id, state="failed", status=409, answer={"error": {"code": "late"}}) is False
    assert store.settle_intent(intent_id, state="done", status=200, answer={"offset_id": 2}) is False
    intent = store.intent(intent_id)
    assert intent is not None
    assert (intent["state"], intent["status"], intent["answer"]) == ("done", 201, {"offset_id": 1})
    assert store.live_intents() == []


def test_a_sent_intent_is_still_live_and_settles_once(store: Store) -> None:
    intent_id = _intent(store)
    store.mark_intent_sent(intent_id)
    assert _state(store, intent_id) == "sent"
    assert [i["id"] for i in store.live_intents()] == [intent_id]
    assert store.settle_intent(intent_id, state="failed", status=409, answer={"error": {"code": "x"}}) is True
    assert store.settle_intent(intent_id, state="done", status=200, answer={}) is False
    store.mark_intent_sent(intent_id)  # a settled intent never moves back
    assert _state(store, intent_id) == "failed"


def test_two_live_intents_for_one_subject_violate_the_unique_index(store: Store) -> None:
    first = _intent(store, "deal:1")
    with pytest.raises(IntegrityError):
        _intent(store, "deal:1")
    store.mark_intent_sent(first)
    with pytest.raises(IntegrityError):
        _intent(store, "deal:1")
    assert _count(store, "intent") == 1
    assert store.live_subject("deal:1") == first


def test_a_settled_intent_does_not_block_a_new_one_for_its_subject(store: Store) -> None:
    first = _intent(store, "deal:1")
    assert store.settle_intent(first, state="failed", status=409, answer={})
    second = _intent(store, "deal:1")
    assert second != first
    assert store.live_subject("deal:1") == second
    assert store.settle_intent(second, state="done", status=200, answer={})
    third = _intent(store, "deal:1")
    assert store.live_subject("deal:1") == third


def test_intents_without_a_subject_never_conflict(store: Store) -> None:
    ids = [_intent(store) for _ in range(3)]
    assert len(set(ids)) == 3
    assert [i["id"] for i in store.live_intents()] == ids


# the transaction journal --------------------------------------------------------------------------
def _tx(n: int) -> str:
    return "0x" + f"{n:064x}"


def test_journalling_a_transaction_marks_its_intent_sent(store: Store) -> None:
    intent_id = _intent(store)
    tx_id = store.journal_tx(intent_id=intent_id, account=ACCOUNT.upper(), nonce=4, tx_hash=_tx(0xAB).upper(), raw="0x")
    row = _tx_row(store, _tx(0xAB))
    assert (row["id"], row["intent_id"], row["account"], row["nonce"], row["state"]) == (
        tx_id,
        intent_id,
        ACCOUNT,
        4,
        "sent",
    )
    assert row["tx_hash"] == _tx(0xAB)
    assert _state(store, intent_id) == "sent"
    assert [t["id"] for t in store.txs_of_intent(intent_id)] == [tx_id]
    assert [t["id"] for t in store.pending_txs()] == [tx_id]


def test_a_journalled_hash_is_unique(store: Store) -> None:
    store.journal_tx(intent_id=None, account=ACCOUNT, nonce=0, tx_hash=_tx(1), raw="0x")
    with pytest.raises(IntegrityError):
        store.journal_tx(intent_id=None, account=ACCOUNT, nonce=0, tx_hash=_tx(1), raw="0x")
    assert _count(store, "chain_tx") == 1


def test_mined_refused_and_unmined_transactions(store: Store) -> None:
    for n in (1, 2, 3):
        store.journal_tx(intent_id=None, account=ACCOUNT, nonce=n, tx_hash=_tx(n), raw="0x")
    store.tx_mined(_tx(1), block_number=9, tx_index=2, status=1)
    store.tx_refused(_tx(2), "rejected", "nonce too low")
    store.tx_refused(_tx(3), "dropped", "nonce taken")
    mined, rejected, dropped = (_tx_row(store, _tx(n)) for n in (1, 2, 3))
    assert (mined["state"], mined["block_number"], mined["tx_index"], mined["status"]) == ("mined", 9, 2, 1)
    assert (rejected["state"], dropped["state"]) == ("rejected", "dropped")
    assert store.rows("SELECT answer FROM chain_tx WHERE tx_hash = ?", (_tx(2),)) == [
        {"answer": '{"why":"nonce too low"}'}
    ]
    assert store.pending_txs() == []
    assert store.highest_journal_nonce(ACCOUNT) == 1  # refused ones do not hold a nonce
    store.tx_unmined(_tx(1))
    again = _tx_row(store, _tx(1))
    assert (again["state"], again["block_number"], again["tx_index"]) == ("sent", None, None)
    assert store.highest_journal_nonce("0x" + "00" * 20) is None


def test_transactions_to_check_are_mined_ones_by_block_and_index_then_pending_ones_as_sent(store: Store) -> None:
    # (tx, then) in the order they were sent; ids follow that order.
    plan = {
        1: None,  # pending
        2: ("mined", 12, 0),
        3: ("mined", 11, 3),
        4: ("mined", 11, 1),
        5: None,  # pending
        6: ("mined", 5, 0),  # below from_block: the chain keeps it
        7: ("rejected",),
        8: ("dropped",),
        9: ("mined", 10, 7),  # at from_block: checked
    }
    for n, fate in plan.items():
        store.journal_tx(intent_id=None, account=ACCOUNT, nonce=n, tx_hash=_tx(n), raw="0x")
        if fate and fate[0] == "mined":
            store.tx_mined(_tx(n), block_number=fate[1], tx_index=fate[2], status=1)
        elif fate:
            store.tx_refused(_tx(n), fate[0], "test")
    assert [t["tx_hash"] for t in store.txs_to_check(10)] == [_tx(n) for n in (9, 4, 3, 2, 1, 5)]
    assert [t["tx_hash"] for t in store.txs_to_check(0)] == [_tx(n) for n in (6, 9, 4, 3, 2, 1, 5)]
    assert [t["tx_hash"] for t in store.txs_to_check(13)] == [_tx(1), _tx(5)]


# idempotency keys ---------------------------------------------------------------------------------
def _claim(store: Store, *, request_hash: str = "h1", boot: str = "boot-a", key: str = "k1") -> str:
    return store.claim_key(scope="token-1", key=key, request_hash=request_hash, boot=boot).outcome


def test_a_new_key_is_claimed_and_running_in_the_same_boot(store: Store) -> None:
    assert _claim(store) == "new"
    claim = store.claim_key(scope="token-1", key="k1", request_hash="h1", boot="boot-a")
    assert claim.outcome == "running"
    assert claim.row is not None and claim.row["state"] == "running"
    assert _claim(store, key="k2") == "new"
    assert store.claim_key(scope="token-2", key="k1", request_hash="h9", boot="boot-a").outcome == "new"


def test_a_finished_key_replays_its_answer(store: Store) -> None:
    assert _claim(store) == "new"
    store.finish_key(scope="token-1", key="k1", status=201, body=b'{"ok":true}', content_type="application/json")
    claim = store.claim_key(scope="token-1", key="k1", request_hash="h1", boot="boot-b")
    assert claim.outcome == "replay"
    assert claim.row is not None
    assert (claim.row["status"], claim.row["body"], claim.row["content_type"]) == (
        201,
        b'{"ok":true}',
        "application/json",
    )


def test_another_request_under_a_key_is_a_mismatch(store: Store) -> None:
    assert _claim(store) == "new"
    assert _claim(store, request_hash="h2") == "mismatch"
    assert _claim(store, request_hash="h2", boot="boot-b") == "mismatch"
    store.finish_key(scope="token-1", key="k1", status=200, body=b"{}", content_type="application/json")
    assert _claim(store, request_hash="h2") == "mismatch"
    assert store.rows("SELECT request_hash, boot FROM idempotency_key") == [{"request_hash": "h1", "boot": "boot-a"}]


def test_a_key_claimed_in_another_boot_is_orphaned_and_taken_over(store: Store) -> None:
    assert _claim(store, boot="boot-a") == "new"
    claim = store.claim_key(scope="token-1", key="k1", request_hash="h1", boot="boot-b")
    assert claim.outcome == "orphaned"
    assert claim.row is not None and claim.row["boot"] == "boot-a"
    assert store.rows("SELECT boot, state FROM idempotency_key") == [{"boot": "boot-b", "state": "running"}]
    assert _claim(store, boot="boot-b") == "running"
    assert _claim(store, boot="boot-a") == "orphaned"


def test_a_released_key_runs_afresh(store: Store) -> None:
    assert _claim(store) == "new"
    store.release_key(scope="token-1", key="k1")
    assert _count(store, "idempotency_key") == 0
    assert _claim(store, request_hash="h2") == "new"


def test_answered_keys_are_pruned_after_24_hours_running_ones_are_not(store: Store) -> None:
    assert _claim(store, key="done") == "new"
    assert _claim(store, key="running") == "new"
    store.finish_key(scope="token-1", key="done", status=200, body=b"{}", content_type="application/json")
    created = store.rows("SELECT MAX(created_at) AS t FROM idempotency_key")[0]["t"]
    assert store.prune_keys(now=created + KEEP_S) == 0
    assert _count(store, "idempotency_key") == 2
    assert store.prune_keys(now=created + KEEP_S + 1) == 1
    assert store.rows("SELECT key FROM idempotency_key") == [{"key": "running"}]
    assert store.prune_keys(now=created + 10 * KEEP_S) == 0
    assert store.prune_keys() == 0


# transactions -------------------------------------------------------------------------------------
def test_an_inner_transaction_joins_the_outer_one(store: Store) -> None:
    with store.transaction() as outer:
        outer.execute("INSERT INTO custodian (address, name, added_by, added_at) VALUES ('0x1', 'a', 'x', 0)")
        with store.transaction() as inner:
            assert inner is outer
            inner.execute("INSERT INTO custodian (address, name, added_by, added_at) VALUES ('0x2', 'b', 'x', 0)")
        assert outer.in_transaction  # the inner block did not commit
        assert _committed(store.location, "SELECT address FROM custodian") == []
        intent_id = _intent(store)  # an aggregate's own transaction joins too
        assert _committed(store.location, "SELECT id FROM intent") == []
    assert _committed(store.location, "SELECT address FROM custodian ORDER BY address") == [("0x1",), ("0x2",)]
    assert _committed(store.location, "SELECT id FROM intent") == [(intent_id,)]


def test_an_exception_in_an_inner_transaction_rolls_everything_back(store: Store) -> None:
    with pytest.raises(RuntimeError, match="refused"), store.transaction() as outer:
        outer.execute("INSERT INTO custodian (address, name, added_by, added_at) VALUES ('0x1', 'a', 'x', 0)")
        _intent(store, "deal:1")
        with store.transaction() as inner:
            inner.execute("INSERT INTO custodian (address, name, added_by, added_at) VALUES ('0x2', 'b', 'x', 0)")
            raise RuntimeError("refused")
    assert _count(store, "custodian") == 0
    assert _count(store, "intent") == 0
    # The store is usable again, outside any transaction.
    intent_id = _intent(store, "deal:1")
    assert _committed(store.location, "SELECT id FROM intent") == [(intent_id,)]


def test_an_integrity_error_inside_a_transaction_rolls_back_its_earlier_writes(store: Store) -> None:
    _intent(store, "deal:1")
    with pytest.raises(IntegrityError), store.transaction():
        store.journal_tx(intent_id=None, account=ACCOUNT, nonce=0, tx_hash=_tx(1), raw="0x")
        _intent(store, "deal:1")
    assert _count(store, "chain_tx") == 0
    assert _count(store, "intent") == 1


def test_a_transaction_that_writes_under_a_key_marks_it_applied_in_the_same_commit(store: Store) -> None:
    from node.store.context import CURRENT_KEY

    store.claim_key(scope="s", key="k", request_hash="h", boot="b")
    token = CURRENT_KEY.set(("s", "k"))
    try:
        with store.transaction() as db:
            db.execute("SELECT COUNT(*) FROM intent").fetchone()
        assert store.rows("SELECT applied FROM idempotency_key")[0]["applied"] == 0, "a read applies nothing"
        with pytest.raises(RuntimeError), store.transaction() as db:
            db.execute("INSERT INTO custodian (address, name, added_by, added_at) VALUES ('a', 'b', 'c', 1)")
            raise RuntimeError("rolled back")
        assert store.rows("SELECT applied FROM idempotency_key")[0]["applied"] == 0, "nor a rolled-back write"
        with store.transaction() as db:
            db.execute("INSERT INTO custodian (address, name, added_by, added_at) VALUES ('a', 'b', 'c', 1)")
        assert store.rows("SELECT applied FROM idempotency_key")[0]["applied"] == 1
    finally:
        CURRENT_KEY.reset(token)
    claim = store.claim_key(scope="s", key="k", request_hash="h", boot="another")
    assert claim.outcome == "orphaned" and claim.row is not None and claim.row["applied"] == 1
