"""Read-side functions over the index: keyword-only, one question each, plain rows out.

Large reads (provenance histories, registry lists, summaries) go through sqlite3 and return dicts,
not ORM objects: on this machine the ORM path measured an order of magnitude slower for such bodies
(the reference figures in BENCHMARKS.md).
"""

import base64
import calendar
import sqlite3
from datetime import date
from typing import Any

import orjson

from node.index.models import DERIVED_TABLES
from node.store.dialect import PgConnection, in_list
from registry.units import VINTAGE_SQL, VINTAGE_SQL_POSTGRES

_ORDER = {
    "ledger_settings": "id",
    "participant": "address",
    "project": "id",
    "batch": "id",
    "balance": "batch_id, account",
    "retirement": "id",
    "pledge": "id",
    "freeze": "kind, target",
    "daily_project_stats": "day, project_id",
    "alert": "key",
    "risk_note": "id",
}
BATCH_STATUS = {0: "active", 1: "frozen", 2: "revoked"}
PROJECT_STATUS = {0: "none", 1: "active", 2: "suspended", 3: "closed"}


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _one(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    rows = _rows(cursor)
    return rows[0] if rows else None


# ------------------------------------------------------------------------------------------------
# Comparison and checkpoint


def dump_index(*, connection: sqlite3.Connection) -> dict[str, Any]:
    """Every derived table and the event log's digest and count: what two equal indexes share exactly."""
    dump: dict[str, Any] = {
        table: connection.execute(f'SELECT * FROM "{table}" ORDER BY {_ORDER[table]}').fetchall()
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


# ------------------------------------------------------------------------------------------------
# Batches, projects, retirements


def serial_prefix(batch: dict[str, Any]) -> str:
    """A batch's serial prefix: SL-<project>-<period index>; its units are serials 1..quantity."""
    return f"SL-{batch['project_id']}-{batch['period_index']}"


def _batch_public(row: dict[str, Any]) -> dict[str, Any]:
    outstanding = row["quantity"] - row["retired"] - row["reversed"]
    row = dict(row)
    row["status"] = BATCH_STATUS[row["status"]]
    row["supply"] = {"issued": row["quantity"], "retired": row["retired"], "reversed": row["reversed"],
                     "outstanding": outstanding}  # fmt: skip
    row["serial_prefix"] = serial_prefix(row)
    row["serial_range"] = f"{serial_prefix(row)}-1..{serial_prefix(row)}-{row['quantity']}"
    return row


def get_batch(*, connection: sqlite3.Connection, batch_id: int) -> dict[str, Any] | None:
    row = _one(connection.execute("SELECT * FROM batch WHERE id = ?", (batch_id,)))
    return _batch_public(row) if row else None


# A project row with the buffer share its next issuance holds back: its own, else the registry's.
_PROJECT = (
    "SELECT p.*, COALESCE(p.buffer_share_bps, s.buffer_share_bps) AS effective_buffer_share_bps FROM project p"
    " LEFT JOIN ledger_settings s ON s.id = 1"
)


def get_project(*, connection: sqlite3.Connection, project_id: int) -> dict[str, Any] | None:
    row = _one(connection.execute(f"{_PROJECT} WHERE p.id = ?", (project_id,)))
    if row:
        row["status"] = PROJECT_STATUS[row["status"]]
    return row


def buffer_share_of(*, connection: sqlite3.Connection, project_id: int) -> int | None:
    """The buffer share (basis points) an issuance of the project holds back now, as the index knows it (the
    contract's bufferShareOf); None if the index has no such project, or no registry settings yet."""
    row = connection.execute(
        "SELECT COALESCE(p.buffer_share_bps, s.buffer_share_bps) FROM project p"
        " LEFT JOIN ledger_settings s ON s.id = 1 WHERE p.id = ?",
        (project_id,),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def get_participant(*, connection: sqlite3.Connection, address: str) -> dict[str, Any] | None:
    return _one(connection.execute("SELECT * FROM participant WHERE address = ?", (address.lower(),)))


def get_retirement(*, connection: sqlite3.Connection, retirement_id: int) -> dict[str, Any] | None:
    return _one(connection.execute("SELECT * FROM retirement WHERE id = ?", (retirement_id,)))


def encode_cursor(block: int, log_index: int) -> str:
    return base64.urlsafe_b64encode(f"{block}:{log_index}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    padded = cursor + "=" * (-len(cursor) % 4)
    block, log_index = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
    return int(block), int(log_index)


_EVENT_COLUMNS = "id, block_number, block_time, tx_hash, log_index, name, account, counterparty, amount, args"


def _event(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["args"] = orjson.loads(row["args"])
    row.pop("id", None)
    return row


def batch_events(
    *, connection: sqlite3.Connection, batch_id: int, after: tuple[int, int] | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A keyset page of a batch's events in chain order, and the cursor of the next page."""
    block, log_index = after if after else (-1, -1)
    rows = _rows(
        connection.execute(
            f"SELECT {_EVENT_COLUMNS} FROM chain_event WHERE batch_id = ? AND (block_number, log_index) > (?, ?)"
            " ORDER BY block_number, log_index LIMIT ?",
            (batch_id, block, log_index, limit + 1),
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["block_number"], rows[-1]["log_index"]) if more and rows else None
    return [_event(r) for r in rows], cursor


def search_events(
    *,
    connection: sqlite3.Connection,
    name: str | None = None,
    batch_id: int | None = None,
    project_id: int | None = None,
    account: str | None = None,
    since: int | None = None,
    until: int | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 500,
    scope: tuple[list[int], list[str]] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Events in chain order after the cursor; with `scope` (projects, accounts), only those of one of the
    projects or with one of the accounts on either side (an auditor's grant)."""
    clauses, params = ["(block_number, log_index) > (?, ?)"], list(after or (-1, -1))
    if scope is not None:
        projects, accounts = scope
        clauses.append(
            f"({in_list('project_id', len(projects))} OR {in_list('account', len(accounts))}"
            f" OR {in_list('counterparty', len(accounts))})"
        )
        params += [*projects, *accounts, *accounts]
    for column, value in (("name", name), ("batch_id", batch_id), ("project_id", project_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if account is not None:
        clauses.append("(account = ? OR counterparty = ?)")
        params += [account.lower(), account.lower()]
    if since is not None:
        clauses.append("block_time >= ?")
        params.append(since)
    if until is not None:
        clauses.append("block_time < ?")
        params.append(until)
    rows = _rows(
        connection.execute(
            f"SELECT {_EVENT_COLUMNS} FROM chain_event WHERE {' AND '.join(clauses)}"
            " ORDER BY block_number, log_index LIMIT ?",
            (*params, limit + 1),
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["block_number"], rows[-1]["log_index"]) if more and rows else None
    return [_event(r) for r in rows], cursor


def list_projects(*, connection: sqlite3.Connection, owner: str | None = None, status: str | None = None,
                  limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    clauses, params = ["1 = 1"], []
    if owner:
        clauses.append("p.owner = ?")
        params.append(owner.lower())
    if status:
        codes = [k for k, v in PROJECT_STATUS.items() if v == status]
        clauses.append("p.status = ?")
        params.append(codes[0] if codes else -1)
    rows = _rows(connection.execute(
        f"{_PROJECT} WHERE {' AND '.join(clauses)} ORDER BY p.id LIMIT ? OFFSET ?", (*params, limit, offset)
    ))  # fmt: skip
    for row in rows:
        row["status"] = PROJECT_STATUS[row["status"]]
    return rows


def list_batches(*, connection: sqlite3.Connection, project_id: int | None = None, status: str | None = None,
                 verifier: str | None = None, vintage: int | None = None, limit: int = 500,
                 offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    clauses, params = ["1 = 1"], []
    if project_id is not None:
        clauses.append("project_id = ?")
        params.append(project_id)
    if status:
        codes = [k for k, v in BATCH_STATUS.items() if v == status]
        clauses.append("status = ?")
        params.append(codes[0] if codes else -1)
    if verifier:
        clauses.append("verifier = ?")
        params.append(verifier.lower())
    if vintage is not None:
        clauses.append(f"{_vintage_sql(connection)} = ?")
        params.append(vintage)
    rows = _rows(connection.execute(
        f"SELECT * FROM batch WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ? OFFSET ?", (*params, limit, offset)
    ))  # fmt: skip
    return [_batch_public(r) for r in rows]


def list_retirements(*, connection: sqlite3.Connection, batch_id: int | None = None, holder: str | None = None,
                     limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    clauses, params = ["1 = 1"], []
    if batch_id is not None:
        clauses.append("batch_id = ?")
        params.append(batch_id)
    if holder:
        clauses.append("holder = ?")
        params.append(holder.lower())
    return _rows(connection.execute(
        f"SELECT * FROM retirement WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ? OFFSET ?", (*params, limit, offset)
    ))  # fmt: skip


def holdings(*, connection: sqlite3.Connection, account: str) -> list[dict[str, Any]]:
    """The account's balances by batch, each with what of it is pledged to banks and what is free to move."""
    rows = _rows(connection.execute(
        "SELECT b.batch_id, b.amount, bt.project_id, bt.status, bt.period_start, bt.period_end,"
        f" COALESCE(p.pledged, 0) AS pledged FROM balance b JOIN batch bt ON bt.id = b.batch_id"
        f" LEFT JOIN ({_PLEDGED}) p ON p.batch_id = b.batch_id AND p.holder = b.account"
        " WHERE b.account = ? ORDER BY b.batch_id",
        (account.lower(),),
    ))  # fmt: skip
    for row in rows:
        row["free"] = row["amount"] - row["pledged"]
    return rows


# What each holder has pledged of each batch: liens not yet released or enforced.
_PLEDGED = (
    "SELECT batch_id, holder, SUM(amount) AS pledged FROM pledge WHERE state IN ('active', 'defaulted')"
    " GROUP BY batch_id, holder"
)


def pledged(*, connection: sqlite3.Connection, account: str, batch_id: int) -> int:
    row = connection.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM pledge WHERE holder = ? AND batch_id = ? AND state IN"
        " ('active', 'defaulted')",
        (account.lower(), batch_id),
    ).fetchone()
    return int(row[0])


def get_pledge(*, connection: sqlite3.Connection, pledge_id: int) -> dict[str, Any] | None:
    rows = _rows(connection.execute("SELECT * FROM pledge WHERE id = ?", (pledge_id,)))
    return rows[0] if rows else None


def list_pledges(*, connection: sqlite3.Connection, holder: str | None = None, bank: str | None = None,
                 batch_id: int | None = None, state: str | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:  # fmt: skip
    clauses, params = ["1 = 1"], []
    for column, value in (("holder", holder and holder.lower()), ("bank", bank and bank.lower()),
                          ("batch_id", batch_id), ("state", state)):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return _rows(connection.execute(
        f"SELECT * FROM pledge WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?", (*params, limit)))  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Regulator summaries


def _vintage_sql(connection: Any) -> str:
    return VINTAGE_SQL_POSTGRES if isinstance(connection, PgConnection) else VINTAGE_SQL


def _day_start(day: str) -> int:
    """00:00 UTC of a YYYY-MM-DD day, as a Unix time (what SQLite's strftime('%s', day) gives)."""
    return calendar.timegm(date.fromisoformat(day).timetuple())


def summary(*, connection: sqlite3.Connection, group_by: str, since_day: str | None = None,
            until_day: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Totals over a time range grouped by project (from the daily aggregates), vintage or issuer
    (aggregates joined with the project's batches), or holder (current balances and retirements)."""
    if group_by == "project":
        clauses, params = ["1 = 1"], []
        if since_day:
            clauses.append("day >= ?")
            params.append(since_day)
        if until_day:
            clauses.append("day < ?")
            params.append(until_day)
        return _rows(connection.execute(
            "SELECT project_id AS key, SUM(issued) AS issued, SUM(issuances) AS issuances, SUM(transferred) AS"
            " transferred, SUM(transfers) AS transfers, SUM(retired) AS retired, SUM(retirements) AS retirements,"
            " SUM(reversed) AS reversed, SUM(reversals) AS reversals FROM daily_project_stats"
            f" WHERE {' AND '.join(clauses)} GROUP BY project_id ORDER BY project_id",
            params,
        ))  # fmt: skip
    if group_by in ("vintage", "issuer"):
        key = _vintage_sql(connection) if group_by == "vintage" else "issuer"
        clauses, params = ["1 = 1"], []
        if since_day:
            clauses.append("issued_time >= ?")
            params.append(_day_start(since_day))
        if until_day:
            clauses.append("issued_time < ?")
            params.append(_day_start(until_day))
        return _rows(connection.execute(
            f"SELECT {key} AS key, COUNT(*) AS batches, SUM(quantity) AS issued, SUM(retired) AS retired,"
            f" SUM(reversed) AS reversed, SUM(quantity - retired - reversed) AS outstanding FROM batch"
            f" WHERE {' AND '.join(clauses)} GROUP BY key ORDER BY key",
            params,
        ))  # fmt: skip
    if group_by == "holder":
        return _rows(connection.execute(
            "SELECT account AS key, COUNT(*) AS batches, SUM(amount) AS held FROM balance GROUP BY account"
            " ORDER BY held DESC"
        ))  # fmt: skip
    raise ValueError(f"unknown grouping {group_by!r}")


def registry_totals(*, connection: sqlite3.Connection) -> dict[str, int]:
    """The registry at a glance: grams issued, retired and circulating (outstanding in batches that are not
    revoked), and how many projects, batches and participants there are."""
    issued, retired, circulating, batches = connection.execute(
        "SELECT COALESCE(SUM(quantity), 0), COALESCE(SUM(retired), 0),"
        " COALESCE(SUM(CASE WHEN status != 2 THEN quantity - retired - reversed ELSE 0 END), 0), COUNT(*) FROM batch"
    ).fetchone()
    projects = connection.execute("SELECT COUNT(*) FROM project").fetchone()[0]
    participants = connection.execute("SELECT COUNT(*) FROM participant").fetchone()[0]
    return {"issued": issued, "retired": retired, "circulating": circulating, "batches": batches,
            "projects": projects, "participants": participants}  # fmt: skip


def latest_retirements(*, connection: sqlite3.Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The newest retirements first, with their batch's serial prefix."""
    rows = _rows(connection.execute(
        "SELECT r.id, r.batch_id, r.amount, r.beneficiary, r.block_time, b.project_id, b.period_index"
        " FROM retirement r JOIN batch b ON b.id = r.batch_id ORDER BY r.id DESC LIMIT ?", (limit,)
    ))  # fmt: skip
    for row in rows:
        row["serial_prefix"] = serial_prefix(row)
    return rows


def batch_by_serial(*, connection: sqlite3.Connection, project_id: int, period_index: int) -> int | None:
    row = connection.execute(
        "SELECT id FROM batch WHERE project_id = ? AND period_index = ?", (project_id, period_index)
    ).fetchone()
    return row[0] if row else None


def event_of_transaction(*, connection: sqlite3.Connection, chain_id: int, tx_hash: str) -> dict[str, Any] | None:
    """The first indexed event of a transaction: its name, batch and, for a retirement, the retirement's id."""
    found = _one(connection.execute(
        "SELECT name, batch_id FROM chain_event WHERE chain_id = ? AND tx_hash = ? ORDER BY log_index LIMIT 1",
        (chain_id, tx_hash.lower()),
    ))  # fmt: skip
    if found is not None and found["name"] == "CertificateRetired":
        row = connection.execute("SELECT id FROM retirement WHERE tx_hash = ? LIMIT 1", (tx_hash.lower(),)).fetchone()
        found["retirement_id"] = row[0] if row else None
    return found


def organisations_of(*, connection: sqlite3.Connection, addresses: list[str]) -> dict[str, int]:
    """address → organisation, for the addresses registered on the ledger."""
    wanted = sorted({address.lower() for address in addresses if address})
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = connection.execute(f"SELECT address, organisation FROM participant WHERE address IN ({marks})", wanted)
    return {address: organisation for address, organisation in rows}
