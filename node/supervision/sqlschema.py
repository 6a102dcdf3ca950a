"""What the regulator's console can query: the index's tables and columns as the database has them now
(sqlite_master, table_info), each with a one-line description written from node/index. A table or column
added later without a line here is still listed, with `documented: false`."""

import sqlite3
from typing import Any

from node.errors import Unavailable

_ADDRESS = "lowercase 0x-hex address"
_BLOCK = "block number"
_TIME = "block timestamp (Unix seconds)"
_TX = "transaction hash (0x-hex)"

# table: (what a row is, {column: what it holds})
DESCRIPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "chain_event": (
        "every registry event, in chain order; everything below is derived from these rows",
        {
            "id": "row number in indexing order",
            "chain_id": "EVM chain id",
            "block_number": _BLOCK,
            "block_hash": "block hash (0x-hex)",
            "block_time": _TIME,
            "tx_hash": _TX,
            "log_index": "position of the log in its block",
            "name": "event name, e.g. BatchIssued, CertificateTransferred, CertificateRetired",
            "batch_id": "batch the event is about (project id << 32 | period index), if any",
            "project_id": "project the event is about, if any",
            "account": "the sender, holder or subject of the event (" + _ADDRESS + ")",
            "counterparty": "the receiver, where the event has one (" + _ADDRESS + ")",
            "amount": "grams CO2e moved, retired or reversed, if any",
            "args": "JSON object of every decoded event argument",
            "digest": "running digest of the index up to and including this event",
        },
    ),
    "indexed_block": (
        "hashes of the blocks the index relied on, to detect reorganisations",
        {"number": _BLOCK, "hash": "block hash (0x-hex)"},
    ),
    "checkpoint": (
        "one row: how far the index has read the chain",
        {
            "id": "always 1",
            "chain_id": "EVM chain id",
            "contract": "registry contract address",
            "deploy_block": "block the registry was deployed in",
            "last_block": "last block fully indexed",
            "last_block_hash": "hash of last_block",
            "event_count": "events indexed so far",
            "digest": "running digest over all indexed events",
        },
    ),
    "ledger_settings": (
        "one row: registry-wide settings",
        {
            "id": "always 1",
            "paused": "1 while the registry is paused",
            "buffer_account": "account receiving each issuance's buffer share (" + _ADDRESS + ")",
            "buffer_share_bps": "buffer share of each issuance of a project without its own, in basis points",
        },
    ),
    "participant": (
        "registered accounts",
        {
            "address": _ADDRESS,
            "organisation": "organisation id",
            "roles": "role bits: 1 admin, 2 issuer, 4 verifier, 8 regulator",
            "frozen": "1 while a regulator has frozen the account",
            "registered_block": _BLOCK + " of registration",
            "registered_time": _TIME + " of registration",
        },
    ),
    "project": (
        "registered projects",
        {
            "id": "project id",
            "owner": "owner (" + _ADDRESS + ")",
            "metadata_hash": "hash of the project's profile JSON (0x-hex)",
            "status": "0 none, 1 active, 2 suspended, 3 closed",
            "issued_until": "end of the latest issued period (Unix seconds)",
            "batch_count": "period index of the latest batch",
            "registered_block": _BLOCK + " of registration",
            "registered_time": _TIME + " of registration",
            "buffer_share_bps": "the project's own buffer share in basis points; NULL: it inherits ledger_settings'",
        },
    ),
    "batch": (
        "issued batches and their supply: quantity = outstanding balances + retired + reversed",
        {
            "id": "batch id (project id << 32 | period index)",
            "project_id": "project id",
            "period_index": "the project's period number",
            "period_start": "start of the monitoring period (Unix seconds)",
            "period_end": "end of the monitoring period (Unix seconds)",
            "quantity": "grams CO2e issued, buffer included",
            "buffer_amount": "grams CO2e of the quantity held in the buffer account",
            "owner": "account the batch was issued to (" + _ADDRESS + ")",
            "buffer_account": "buffer account at issuance (" + _ADDRESS + ")",
            "verifier": "verifier who signed the statement (" + _ADDRESS + ")",
            "issuer": "issuer who sent the issuance (" + _ADDRESS + ")",
            "evidence_root": "Merkle root of the evidence files (0x-hex)",
            "methodology_id": "methodology identifier as its 32 on-chain bytes (0x-hex)",
            "verification_digest": "digest of the signed verification statement (0x-hex)",
            "status": "0 active, 1 frozen, 2 revoked",
            "retired": "grams CO2e retired so far",
            "reversed": "grams CO2e reversed from the buffer so far",
            "issued_block": _BLOCK + " of issuance",
            "issued_time": _TIME + " of issuance",
            "issued_tx": _TX + " of issuance",
            "buffer_share_bps": "buffer share in force for the project at issuance, in basis points",
        },
    ),
    "balance": (
        "current holdings per batch and account",
        {"batch_id": "batch id", "account": _ADDRESS, "amount": "grams CO2e held"},
    ),
    "retirement": (
        "retirements (offsets claimed)",
        {
            "id": "retirement id",
            "batch_id": "batch id",
            "holder": "account that retired (" + _ADDRESS + ")",
            "amount": "grams CO2e retired",
            "beneficiary": "beneficiary's name as written on chain",
            "beneficiary_hash": "hash of the beneficiary (0x-hex)",
            "reason": "stated reason",
            "consumption_start": "start of the consumption offset (Unix seconds)",
            "consumption_end": "end of the consumption offset (Unix seconds)",
            "region": "region code of the consumption as its 16 on-chain bytes (0x-hex)",
            "block_number": _BLOCK,
            "block_time": _TIME,
            "tx_hash": _TX,
        },
    ),
    "pledge": (
        "banks' liens on certificates (pledges), each with its state",
        {
            "id": "pledge id",
            "batch_id": "batch id",
            "holder": "account whose units are pledged (" + _ADDRESS + ")",
            "bank": "bank holding the lien (" + _ADDRESS + ")",
            "amount": "grams CO2e pledged",
            "state": "active, defaulted, released or enforced",
            "registered_block": _BLOCK + " of the pledge",
            "registered_time": _TIME + " of the pledge",
            "registered_tx": _TX + " of the pledge",
            "default_reason": "hash of the bank's written reason for a default (0x-hex)",
            "closed_block": _BLOCK + " of the release or enforcement",
            "closed_time": _TIME + " of the release or enforcement",
        },
    ),
    "freeze": (
        "what is frozen now (revoked batches are not here)",
        {
            "kind": "account or batch",
            "target": "the frozen account's address, or the batch id as text",
            "regulator": "regulator who froze it (" + _ADDRESS + ")",
            "reason": "hash of the regulator's written reason (0x-hex)",
            "since_block": _BLOCK + " of the freeze",
            "since_time": _TIME + " of the freeze",
        },
    ),
    "daily_project_stats": (
        "totals per calendar day (node time zone) and project",
        {
            "day": "YYYY-MM-DD",
            "project_id": "project id",
            "issued": "grams CO2e issued",
            "issuances": "number of issuances",
            "transferred": "grams CO2e transferred",
            "transfers": "number of transfers",
            "retired": "grams CO2e retired",
            "retirements": "number of retirements",
            "reversed": "grams CO2e reversed",
            "reversals": "number of reversals",
        },
    ),
    "alert": (
        "findings of the risk rules, raised as events were indexed",
        {
            "key": "hash of the rule and what makes the finding unique",
            "rule": "rule name (docs/supervision.md)",
            "severity": "low, medium or high",
            "block_number": _BLOCK + " of the event that raised it",
            "log_index": "log index of that event",
            "tx_hash": _TX + " of that event",
            "block_time": _TIME + " of that event",
            "participants": "JSON list of the accounts involved",
            "evidence": "JSON list of {block, log, tx, batch}",
            "deals": "JSON list of deal ids",
            "explanation_zh": "explanation in Chinese",
            "explanation_en": "explanation in English",
            "details": "JSON of the rule's figures",
        },
    ),
    "risk_note": (
        "what a rule could not judge (a deal with no reference price yet)",
        {
            "id": "row id",
            "rule": "rule name",
            "block_number": _BLOCK,
            "log_index": "log index of the event",
            "tx_hash": _TX,
            "deal_id": "deal id",
            "note": "what could not be judged and why",
        },
    ),
}


def console_unavailable() -> Unavailable:
    # The console's guards (a read-only authorizer, step and memory limits, the allowed functions) are SQLite's.
    return Unavailable("sql_console_unavailable",
                       "the SQL console reads a SQLite index; this node keeps its index in PostgreSQL")  # fmt: skip


def index_schema(connection: sqlite3.Connection) -> list[dict[str, Any]]:
    if not isinstance(connection, sqlite3.Connection):
        raise console_unavailable()
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name"
        )
    ]
    tables = []
    for name in names:
        about, columns = DESCRIPTIONS.get(name, (None, {}))
        tables.append(
            {
                "name": name,
                "description": about,
                "documented": about is not None,
                "columns": [
                    {
                        "name": column,
                        "type": declared.lower() or "any",
                        "nullable": not notnull and not primary,
                        "primary_key": bool(primary),
                        "description": columns.get(column),
                        "documented": column in columns,
                    }
                    for _, column, declared, notnull, _, primary in connection.execute(
                        "SELECT * FROM pragma_table_info(?)", (name,)
                    )
                ],
            }
        )
    return tables
