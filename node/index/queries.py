"""Read-side functions over the index (keyword-only, one question each)."""

import sqlite3
from typing import Any

from node.index.models import DERIVED_TABLES

_ORDER = {
    "ledger_settings": "id",
    "participant": "address",
    "project": "id",
    "batch": "id",
    "balance": "batch_id, account",
    "retirement": "id",
    "freeze": "kind, target",
    "daily_project_stats": "day, project_id",
}


def dump_index(*, connection: sqlite3.Connection) -> dict[str, Any]:
    """Every derived table and the event log's digest and count: what two equal indexes share exactly."""
    dump: dict[str, Any] = {
        table: connection.execute(f"SELECT * FROM {table} ORDER BY {_ORDER[table]}").fetchall()
        for table in DERIVED_TABLES
    }
    dump["events"] = connection.execute(
        "SELECT chain_id, block_number, block_hash, tx_hash, log_index, name, args, digest FROM chain_event"
        " ORDER BY block_number, log_index"
    ).fetchall()
    dump["checkpoint"] = connection.execute("SELECT last_block, event_count, digest FROM checkpoint").fetchall()
    return dump


def balances(*, connection: sqlite3.Connection) -> dict[tuple[int, str], int]:
    rows = connection.execute("SELECT batch_id, account, amount FROM balance")
    return {(batch, account): amount for batch, account, amount in rows}


def index_digest(*, connection: sqlite3.Connection) -> tuple[int, int, str]:
    """(last block, event count, digest) of the checkpoint."""
    row = connection.execute("SELECT last_block, event_count, digest FROM checkpoint WHERE id = 1").fetchone()
    return (row[0], row[1], row[2]) if row else (-1, 0, "")
