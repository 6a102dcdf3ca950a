"""The node's own state, kept apart from the index (which can always be rebuilt from the chain):
API tokens, stored hashed, and the log of every regulator query. Lives in <home>/node.sqlite.
"""

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_token (
    token_hash TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    account TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS offset_batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    root TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    orders INTEGER NOT NULL,
    total_grams INTEGER NOT NULL,
    retirements TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS offset_order (
    order_id TEXT PRIMARY KEY,
    offset_id INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL,
    grams INTEGER NOT NULL,
    breakdown TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_offset_order_batch ON offset_order (offset_id, leaf_index);
CREATE TABLE IF NOT EXISTS carbon_points (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    holder TEXT NOT NULL,
    points INTEGER NOT NULL,
    grams INTEGER NOT NULL,
    source TEXT NOT NULL,
    retirement_ids TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_points_holder ON carbon_points (holder);
CREATE TABLE IF NOT EXISTS accounting (
    evidence_root TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL,
    creditable_grams INTEGER NOT NULL,
    input_hash TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    period_end TEXT NOT NULL DEFAULT ''
);
-- Alerts the node raises itself when data arrives off chain (an ecological loss in a monitoring report):
-- the columns of the index's alert table, with no block, log or transaction.
CREATE TABLE IF NOT EXISTS report_alert (
    key TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    block_number INTEGER,
    log_index INTEGER,
    tx_hash TEXT,
    block_time INTEGER NOT NULL,
    participants TEXT NOT NULL,
    evidence TEXT NOT NULL,
    deals TEXT NOT NULL,
    explanation_zh TEXT NOT NULL,
    explanation_en TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS listing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seller TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    price_fen_per_tonne INTEGER NOT NULL,
    min_lot INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    project_id INTEGER NOT NULL DEFAULT 0,
    vintage INTEGER NOT NULL DEFAULT 0,
    verifier TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    bundle INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_listing_seller ON listing (seller, batch_id);
CREATE INDEX IF NOT EXISTS ix_listing_price ON listing (price_fen_per_tonne, id);
CREATE INDEX IF NOT EXISTS ix_listing_created ON listing (created_at, id);
CREATE INDEX IF NOT EXISTS ix_listing_project ON listing (project_id, id);
CREATE TABLE IF NOT EXISTS custodian (
    address TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS offer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id INTEGER NOT NULL,
    buyer TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    price_fen_per_tonne INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    deal_id INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id INTEGER NOT NULL,
    offer_id INTEGER NOT NULL,
    seller TEXT NOT NULL,
    buyer TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    price_fen_per_tonne INTEGER NOT NULL,
    state TEXT NOT NULL,
    receipt TEXT,
    deal_ref TEXT,
    created_at INTEGER NOT NULL,
    allocation TEXT
);
CREATE INDEX IF NOT EXISTS ix_deal_ref ON deal (deal_ref);
CREATE TABLE IF NOT EXISTS deal_step (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS project_profile (
    project_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    metadata_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deposit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seller TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    drawn_fen INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    custodian TEXT NOT NULL,
    custodian_ref TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    paid_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_deposit_seller ON deposit (seller);
CREATE TABLE IF NOT EXISTS blacklist (
    account TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    listed_by TEXT NOT NULL,
    listed_at INTEGER NOT NULL,
    lifted_at INTEGER,
    lift_reason TEXT
);
CREATE TABLE IF NOT EXISTS compensation_case (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id INTEGER NOT NULL,
    batch_id INTEGER NOT NULL,
    buyer TEXT NOT NULL,
    seller TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    state TEXT NOT NULL,
    amount_fen INTEGER,
    note TEXT,
    opened_at INTEGER NOT NULL,
    resolved_by TEXT,
    resolved_at INTEGER,
    UNIQUE (deal_id, batch_id)
);
CREATE TABLE IF NOT EXISTS bundle_part (
    listing_id INTEGER NOT NULL,
    batch_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (listing_id, batch_id)
);
CREATE TABLE IF NOT EXISTS campaign (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    listing_id INTEGER NOT NULL UNIQUE,
    seller TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    target INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    state TEXT NOT NULL,
    root TEXT,
    retirement_id INTEGER,
    tx_hash TEXT,
    closed_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL,
    subscriber TEXT NOT NULL,
    grams INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    channel TEXT NOT NULL,
    receipt_id INTEGER,
    leaf_index INTEGER,
    refund_due INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_subscription_campaign ON subscription (campaign_id, receipt_id);
CREATE TABLE IF NOT EXISTS subscription_receipt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL,
    root TEXT NOT NULL UNIQUE,
    count INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    custodian TEXT NOT NULL,
    sealed TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_action (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_alert_action_key ON alert_action (alert_key, id);
CREATE TABLE IF NOT EXISTS measure (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    participant TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    tx_hash TEXT,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_measure_participant ON measure (participant, id);
CREATE TABLE IF NOT EXISTS project_review (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_project_review ON project_review (project_id, id);
CREATE TABLE IF NOT EXISTS regulator_query (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    account TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL
);
"""

_LISTING_COLUMNS = {
    "project_id": "INTEGER NOT NULL DEFAULT 0",
    "vintage": "INTEGER NOT NULL DEFAULT 0",
    "verifier": "TEXT NOT NULL DEFAULT ''",
    "region": "TEXT NOT NULL DEFAULT ''",
    "kind": "TEXT NOT NULL DEFAULT ''",
    "bundle": "INTEGER NOT NULL DEFAULT 0",
}


@dataclass(frozen=True)
class TokenOwner:
    key_name: str
    account: str
    label: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NodeState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._add_columns()
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()  # re-entrant: reads run inside transaction()

    def _add_columns(self) -> None:
        """A node.sqlite written before listings carried their batch's filter columns, or monitoring
        computations their period's end, gains them here."""
        for table, columns in (
            ("listing", _LISTING_COLUMNS),
            ("accounting", {"period_end": "TEXT NOT NULL DEFAULT ''"}),
        ):
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if not present:
                continue
            for column, ddl in columns.items():
                if column not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")

    def close(self) -> None:
        self._db.close()

    def create_token(self, *, key_name: str, account: str, label: str) -> str:
        """A new API token acting for `account` (signing with keystore `key_name`); shown once, stored hashed."""
        token = "slk_" + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_token (token_hash, key_name, account, label, created_at) VALUES (?,?,?,?,?)",
                (_hash(token), key_name, account.lower(), label, int(time.time())),
            )
        return token

    def owner_of(self, token: str) -> TokenOwner | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key_name, account, label FROM api_token WHERE token_hash = ? AND revoked = 0", (_hash(token),)
            ).fetchone()
        return TokenOwner(*row) if row else None

    def revoke_tokens(self, *, key_name: str) -> int:
        with self._lock:
            return self._db.execute("UPDATE api_token SET revoked = 1 WHERE key_name = ?", (key_name,)).rowcount

    def tokens(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT key_name, account, label, created_at, revoked FROM api_token").fetchall()
        return [dict(zip(("key_name", "account", "label", "created_at", "revoked"), r, strict=True)) for r in rows]

    def known_orders(self, order_ids: list[str]) -> list[str]:
        """Which of these order ids were offset before."""
        found: list[str] = []
        with self._lock:
            for start in range(0, len(order_ids), 500):
                chunk = order_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found += [
                    r[0]
                    for r in self._db.execute(f"SELECT order_id FROM offset_order WHERE order_id IN ({marks})", chunk)
                ]
        return found

    def record_offset(
        self,
        *,
        root: str,
        account: str,
        orders: list[tuple[str, int, str]],
        total: int,
        retirements: list[dict[str, Any]],
    ) -> int:
        """Stores an offset and its orders (id, grams, breakdown JSON) in one transaction; returns its id."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                offset_id = self._db.execute(
                    "INSERT INTO offset_batch (root, account, orders, total_grams, retirements, created_at)"
                    " VALUES (?,?,?,?,?,?)",
                    (root, account, len(orders), total, orjson.dumps(retirements).decode(), int(time.time())),
                ).lastrowid
                self._db.executemany(
                    "INSERT INTO offset_order (order_id, offset_id, leaf_index, grams, breakdown) VALUES (?,?,?,?,?)",
                    [
                        (order_id, offset_id, i, grams, breakdown)
                        for i, (order_id, grams, breakdown) in enumerate(orders)
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        assert offset_id is not None
        return int(offset_id)

    def offset(self, offset_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, root, account, orders, total_grams, retirements, created_at FROM offset_batch WHERE id = ?",
                (offset_id,),
            ).fetchone()
        if row is None:
            return None
        names = ("id", "root", "account", "orders", "total_grams", "retirements", "created_at")
        record = dict(zip(names, row, strict=True))
        record["retirements"] = orjson.loads(record["retirements"])
        return record

    def offset_orders(self, offset_id: int) -> list[tuple[str, int, str]]:
        with self._lock:
            return self._db.execute(
                "SELECT order_id, grams, breakdown FROM offset_order WHERE offset_id = ? ORDER BY leaf_index",
                (offset_id,),
            ).fetchall()

    def order(self, order_id: str) -> tuple[int, int, int, str] | None:
        """(offset id, leaf index, grams, breakdown JSON) of an offset order."""
        with self._lock:
            return self._db.execute(
                "SELECT offset_id, leaf_index, grams, breakdown FROM offset_order WHERE order_id = ?", (order_id,)
            ).fetchone()

    def award_points(self, rows: list[tuple[str, int, int, str, list[int]]]) -> None:
        """Credits (holder, points, grams, source, retirement ids) in one transaction."""
        now = int(time.time())
        encoded: dict[tuple[int, ...], str] = {}  # a campaign's 100,000 rows share one list of ids
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO carbon_points (holder, points, grams, source, retirement_ids, at)"
                    " VALUES (?,?,?,?,?,?)",
                    [
                        (
                            h,
                            p,
                            g,
                            src,
                            encoded.get(tuple(ids)) or encoded.setdefault(tuple(ids), orjson.dumps(ids).decode()),
                            now,
                        )
                        for h, p, g, src, ids in rows
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def points(self, holder: str, *, limit: int = 100) -> dict[str, Any]:
        with self._lock:
            total = self._db.execute(
                "SELECT COALESCE(SUM(points), 0), COALESCE(SUM(grams), 0) FROM carbon_points WHERE holder = ?",
                (holder,),
            ).fetchone()
            rows = self._db.execute(
                "SELECT points, grams, source, retirement_ids, at FROM carbon_points WHERE holder = ? ORDER BY id DESC"
                " LIMIT ?",
                (holder, limit),
            ).fetchall()
        entries = [
            {"points": p, "grams": g, "source": src, "retirement_ids": orjson.loads(ids), "at": at}
            for p, g, src, ids, at in rows
        ]
        return {"holder": holder, "points": total[0], "grams": total[1], "entries": entries}

    def save_accounting(
        self,
        *,
        evidence_root: str,
        project_id: int,
        creditable_grams: int,
        input_hash: str,
        result: dict[str, Any],
        period_end: str,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO accounting (evidence_root, project_id, creditable_grams, input_hash, result,"
                " created_at, period_end) VALUES (?,?,?,?,?,?,?)",
                (
                    evidence_root,
                    project_id,
                    creditable_grams,
                    input_hash,
                    orjson.dumps(result).decode(),
                    int(time.time()),
                    period_end,
                ),
            )

    def previous_accounting(self, project_id: int, period_end: str) -> dict[str, Any] | None:
        """The project's computation for the latest period that ended before `period_end` (ISO dates)."""
        with self._lock:
            row = self._db.execute(
                "SELECT evidence_root, project_id, creditable_grams, input_hash, result, created_at FROM accounting"
                " WHERE project_id = ? AND period_end < ? AND period_end != '' ORDER BY period_end DESC, created_at"
                " DESC LIMIT 1",
                (project_id, period_end),
            ).fetchone()
        return None if row is None else self._accounting_row(row)

    def save_report_alert(self, row: tuple[Any, ...]) -> bool:
        """An alert in ALERT_COLUMNS order; False if one with its key exists already."""
        with self._lock:
            cursor = self._db.execute(f"INSERT OR IGNORE INTO report_alert VALUES ({','.join('?' * len(row))})", row)
        return cursor.rowcount == 1

    def accounting(self, evidence_root: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT evidence_root, project_id, creditable_grams, input_hash, result, created_at FROM accounting"
                " WHERE evidence_root = ?",
                (evidence_root.lower(),),
            ).fetchone()
        return None if row is None else self._accounting_row(row)

    def project_accounting(self, project_id: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT evidence_root, project_id, creditable_grams, input_hash, result, created_at FROM accounting"
                " WHERE project_id = ? ORDER BY created_at",
                (project_id,),
            ).fetchall()
        return [self._accounting_row(r) for r in rows]

    @staticmethod
    def _accounting_row(row: tuple[Any, ...]) -> dict[str, Any]:
        names = ("evidence_root", "project_id", "creditable_grams", "input_hash", "result", "created_at")
        record = dict(zip(names, row, strict=True))
        record["result"] = orjson.loads(record["result"])
        return record

    def create_listing(self, row: dict[str, Any], parts: list[tuple[int, int]]) -> int:
        """A listing, and for a bundle its (batch, grams) parts, in one transaction."""
        columns = (
            "seller",
            "batch_id",
            "quantity",
            "price_fen_per_tonne",
            "min_lot",
            "valid_from",
            "valid_until",
            "title",
            "description",
            *_LISTING_COLUMNS,
        )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    f"INSERT INTO listing ({', '.join(columns)}, created_at)"
                    f" VALUES ({', '.join('?' * len(columns))}, ?)",
                    (*(row[c] for c in columns), int(time.time())),
                )
                listing_id = int(cursor.lastrowid or 0)
                self._db.executemany(
                    "INSERT INTO bundle_part (listing_id, batch_id, quantity) VALUES (?,?,?)",
                    [(listing_id, batch_id, grams) for batch_id, grams in parts],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return listing_id

    def listings(self, *, seller: str | None = None, listing_id: int | None = None) -> list[dict[str, Any]]:
        clauses, params = ["1 = 1"], []
        if seller is not None:
            clauses.append("seller = ?")
            params.append(seller)
        if listing_id is not None:
            clauses.append("id = ?")
            params.append(listing_id)
        with self._lock:
            cursor = self._db.execute(f"SELECT * FROM listing WHERE {' AND '.join(clauses)} ORDER BY id", params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def withdraw_listing(self, listing_id: int) -> None:
        with self._lock:
            self._db.execute("UPDATE listing SET withdrawn = 1 WHERE id = ?", (listing_id,))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; this thread's other calls on the state join it, other threads wait."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One write; returns the new row id (for the market's small tables)."""
        with self._lock:
            cursor = self._db.execute(sql, params)
        return int(cursor.lastrowid or 0)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def log_query(self, *, account: str, endpoint: str, params: dict[str, Any], outcome: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO regulator_query (at, account, endpoint, params, outcome) VALUES (?,?,?,?,?)",
                (int(time.time()), account, endpoint, orjson.dumps(params, default=str).decode(), outcome),
            )

    def query_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, account, endpoint, params, outcome FROM regulator_query ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        names = ("id", "at", "account", "endpoint", "params", "outcome")
        return [dict(zip(names, r, strict=True)) for r in rows]
