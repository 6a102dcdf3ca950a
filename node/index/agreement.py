"""Agreement between indexes: what two organisations' nodes compare to know they hold the same ledger.

At a block B an index gives:
- its event digest (node.index.digest: the running digest after the last event at or before B) and the
  number of events up to B;
- one digest per chain-derived table as it stood at B: SHA-256 over the hashes of its rows in key order,
  each row hashed as canonical JSON of its columns. An index at B answers from its own tables; one past B
  re-derives them from its events up to B in a scratch index (seconds per 100,000 events); one not yet at
  B cannot answer for B.
The tables the risk rules derive (alerts, notes) are left out: each organisation may run its own rules.
Where two indexes differ is found with the per-event digests of a block range and the per-row hashes of
one table.
"""

import contextlib
import hashlib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from node.index.apply import Applier
from node.index.db import IndexLocation, create_schema, open_reader
from node.index.digest import genesis_digest
from node.index.models import DERIVED_TABLES, RULE_TABLES
from node.store.dialect import PgConnection

COMPARED_TABLES = tuple(table for table in DERIVED_TABLES if table not in RULE_TABLES)


class NotIndexedYet(Exception):
    def __init__(self, block: int, last_block: int) -> None:
        super().__init__(f"this index holds blocks up to {last_block}, not {block} yet")
        self.last_block = last_block


def _checkpoint(db: sqlite3.Connection) -> tuple[int, str, int, int]:
    row = db.execute("SELECT chain_id, contract, deploy_block, last_block FROM checkpoint WHERE id = 1").fetchone()
    if row is None:
        raise NotIndexedYet(0, -1)
    return int(row[0]), str(row[1]), int(row[2]), int(row[3])


def _key_columns(db: Any, table: str) -> tuple[list[str], list[str]]:
    """(every column, the primary key's columns in key order; every column where there is none)."""
    if isinstance(db, PgConnection):
        columns = [row[0] for row in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ? ORDER BY ordinal_position", (table,))]  # fmt: skip
        keys = [row[0] for row in db.execute(
            "SELECT k.column_name FROM information_schema.table_constraints c"
            " JOIN information_schema.key_column_usage k"
            " ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema"
            " WHERE c.table_schema = current_schema() AND c.table_name = ? AND c.constraint_type = 'PRIMARY KEY'"
            " ORDER BY k.ordinal_position", (table,))]  # fmt: skip
        return columns, keys or columns
    info = db.execute(f"PRAGMA table_info({table})").fetchall()
    columns = [row[1] for row in info]
    keys = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    return columns, keys or columns


def row_hashes(db: sqlite3.Connection, table: str) -> Iterator[tuple[str, str]]:
    """(key as JSON, row hash) of every row, in key order."""
    if table not in COMPARED_TABLES:
        raise ValueError(f"{table} is not a compared table")
    columns, keys = _key_columns(db, table)
    where = [columns.index(k) for k in keys]
    rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
    # Sorted here, not by the database: PostgreSQL orders text by its collation, SQLite (and Python) by code point.
    rows.sort(key=lambda row: [row[i] for i in where])
    for row in rows:
        canonical = orjson.dumps(dict(zip(columns, row, strict=True)), option=orjson.OPT_SORT_KEYS)
        yield orjson.dumps([row[i] for i in where]).decode(), hashlib.sha256(canonical).hexdigest()


def table_digest(db: sqlite3.Connection, table: str) -> str:
    digest = hashlib.sha256()
    for _, row_hash in row_hashes(db, table):
        digest.update(bytes.fromhex(row_hash))
    return digest.hexdigest()


def event_digest_at(db: sqlite3.Connection, block: int) -> tuple[int, str]:
    """(events up to `block`, the running digest after the last of them)."""
    chain_id, contract, _, _ = _checkpoint(db)
    count = db.execute("SELECT COUNT(*) FROM chain_event WHERE block_number <= ?", (block,)).fetchone()[0]
    row = db.execute(
        "SELECT digest FROM chain_event WHERE block_number <= ? ORDER BY block_number DESC, log_index DESC LIMIT 1",
        (block,),
    ).fetchone()
    return int(count), (str(row[0]) if row else genesis_digest(chain_id, contract))


def event_digests(db: sqlite3.Connection, from_block: int, to_block: int, limit: int) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT block_number, log_index, tx_hash, name, digest FROM chain_event WHERE block_number BETWEEN ? AND ?"
        " ORDER BY block_number, log_index LIMIT ?",
        (from_block, to_block, limit),
    )
    return [{"block": b, "log_index": i, "tx_hash": tx, "name": name, "digest": d} for b, i, tx, name, d in rows]


@contextlib.contextmanager
def state_at(index_path: IndexLocation, block: int, timezone: str) -> Iterator[sqlite3.Connection]:
    """A read connection holding the index's state at `block`: the index itself when it stands there (read in
    one snapshot), else a scratch index re-derived from its events up to `block`."""
    db = open_reader(index_path)
    try:
        # One snapshot: the indexer may commit meanwhile.
        db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if isinstance(db, PgConnection) else "BEGIN")
        chain_id, _, _, last_block = _checkpoint(db)
        if block > last_block:
            raise NotIndexedYet(block, last_block)
        if block == last_block:
            yield db
            return
        with tempfile.TemporaryDirectory(prefix="sinkstate-") as scratch_dir:
            path = Path(scratch_dir) / "state.sqlite"
            create_schema(path)
            scratch = sqlite3.connect(path, isolation_level=None)
            try:
                scratch.execute("PRAGMA synchronous=OFF")
                scratch.execute("BEGIN")
                events = db.execute(
                    "SELECT name, args, block_number, tx_hash, log_index, block_time FROM chain_event"
                    " WHERE block_number <= ? ORDER BY block_number, log_index",
                    (block,),
                )
                applier = Applier(scratch, chain_id, timezone)
                try:
                    applier.replay(events)
                finally:
                    applier.close()
                scratch.execute("COMMIT")
                yield scratch
            finally:
                scratch.close()
    finally:
        db.close()


def digest_at(index_path: IndexLocation, block: int, timezone: str) -> dict[str, Any]:
    """What a node answers when asked for its index digest at `block`."""
    with state_at(index_path, block, timezone) as state:
        db = open_reader(index_path)
        try:
            events, event_digest = event_digest_at(db, block)
        finally:
            db.close()
        return {
            "block": block,
            "events": events,
            "event_digest": event_digest,
            "tables": {table: table_digest(state, table) for table in COMPARED_TABLES},
        }


def rows_at(index_path: IndexLocation, block: int, timezone: str, table: str) -> list[dict[str, str]]:
    with state_at(index_path, block, timezone) as state:
        return [{"key": key, "hash": row_hash} for key, row_hash in row_hashes(state, table)]
