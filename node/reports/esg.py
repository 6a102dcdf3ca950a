"""ESG retirement statements: what an organisation retired for a reporting period, signed by the node.

A statement covers every retirement made by any account of one organisation (the index's participants)
whose consumption period overlaps the requested days (Asia/Shanghai calendar: a period from its first day's
00:00 to the end of its last day). Each line names the batch and its serials' prefix, the project, its kind,
region and accounting method, the vintage, the quantity, beneficiary and reason, the consumption period and
the chain references (transaction and block). A retirement made for checkout offsets or a campaign carries
its Merkle root, and the statement the leaves under it, so an auditor can rebuild the root offline. Totals are
given by project kind and by region.

The statement is kept as canonical JSON (keys sorted, no spaces, UTF-8); its SHA-256 is the statement's
identity, signed by the node's statement key (EIP-191 over the 32 bytes). The PDF and CSV issued from it are
stored with it, and their own SHA-256 let anyone check that a copy is the one issued (node.api.routes.statements).
"""

import csv
import hashlib
import io
import json
import time
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from node.actors import Caller
from node.chain.registry import ROLE_REGULATOR
from node.errors import Forbidden, InvalidRequest, not_found
from node.index.queries import serial_prefix
from node.private import key_made_once
from node.services import Services
from node.settings import Settings
from node.store.dialect import in_list
from registry.accounting import PERIOD_ZONE
from registry.units import vintage_of

KEY_FILE = "statement-signing.key"
LEAF_RULE = (
    "leaf hash = SHA-256(0x00 || id as UTF-8 || 0x00 || grams as 8 bytes big-endian); node hash = SHA-256(0x01 ||"
    " left || right); neighbours are paired level by level, an odd last node is promoted unpaired (RFC 6962)"
)
KIND = "sinkledger-esg-retirement-statement"
MAX_DAYS = 3_700  # a statement covers at most about ten years
CSV_COLUMNS = (
    "retirement_id", "serial", "batch_id", "project_id", "project", "kind", "region", "method", "vintage",
    "quantity_g", "beneficiary", "reason", "consumption_from", "consumption_to", "tx_hash", "block_number",
    "merkle_root", "certificate",
)  # fmt: skip


def statement_signer(settings: Settings) -> LocalAccount:
    """The node's statement key: made once in <home>/keys (0600) and kept; its address is on every statement."""
    return Account.from_key(bytes.fromhex(key_made_once(settings.keys_dir / KEY_FILE).strip()))


def canonical(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def statement_hash(body: bytes) -> str:
    return "0x" + hashlib.sha256(body).hexdigest()


def recover_statement_signer(hash_hex: str, signature: str) -> str:
    return str(Account.recover_message(encode_defunct(hexstr=hash_hex), signature=signature)).lower()


def _day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=PERIOD_ZONE).timestamp())


def _day_of(ts: int) -> str:
    return datetime.fromtimestamp(ts, PERIOD_ZONE).date().isoformat()


def parse_period(first: str, last: str) -> tuple[date, date]:
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as error:
        raise InvalidRequest("validation_error", f"period: {error}") from None
    if end < start:
        raise InvalidRequest("validation_error", "period: the last day is before the first")
    if (end - start).days >= MAX_DAYS:
        raise InvalidRequest("validation_error", f"period: at most {MAX_DAYS} days")
    return start, end


def may_request(caller: Caller, organisation: int) -> None:
    """An organisation's own accounts and regulators; no one else reads what an organisation retired as a whole."""
    if caller.organisation != organisation and not caller.has(ROLE_REGULATOR):
        raise Forbidden("not_your_organisation", f"a statement for organisation {organisation} is requested by one"
                        " of its own accounts or by a regulator")  # fmt: skip


def _trees(services: Services, accounts: list[str], retirement_ids: list[int]) -> tuple[dict[int, str], dict]:
    """Which retirements were made for checkout offsets or campaigns: retirement → Merkle root, and each root's
    kind and leaves (id, grams), in leaf order."""
    root_of: dict[int, str] = {}
    trees: dict[str, dict[str, Any]] = {}
    wanted = set(retirement_ids)
    offsets = services.state.rows(
        f"SELECT id, root, retirements FROM offset_batch WHERE state = 'done' AND {in_list('account', len(accounts))}",
        tuple(accounts),
    )
    for offset in offsets:
        ids = [int(r["retirement_id"]) for r in orjson.loads(offset["retirements"])]
        if wanted.intersection(ids):
            root = offset["root"].lower()
            root_of.update({i: root for i in ids if i in wanted})
            leaves = services.state.rows(
                "SELECT order_id, grams FROM offset_order WHERE offset_id = ? ORDER BY leaf_index", (offset["id"],)
            )
            trees[root] = {"kind": "offset", "leaves": [[r["order_id"], r["grams"]] for r in leaves]}
    if retirement_ids:
        campaigns = services.state.rows(
            f"SELECT id, root, retirement_id FROM campaign WHERE {in_list('retirement_id', len(retirement_ids))}",
            tuple(retirement_ids),
        )
        for campaign in campaigns:
            root = str(campaign["root"]).lower()
            root_of[int(campaign["retirement_id"])] = root
            leaves = services.state.rows(
                "SELECT subscriber, grams FROM subscription WHERE campaign_id = ? AND leaf_index IS NOT NULL"
                " ORDER BY leaf_index",
                (campaign["id"],),
            )
            trees[root] = {"kind": "campaign", "leaves": [[r["subscriber"], r["grams"]] for r in leaves]}
    return root_of, trees


def build_statement(services: Services, reader: Any, organisation: int, first: date, last: date,
                    now: int) -> dict[str, Any]:  # fmt: skip
    """The statement's content (not yet signed) from the index and the node's records."""
    accounts = [r[0] for r in reader.execute(
        "SELECT address FROM participant WHERE organisation = ? ORDER BY address", (organisation,))]  # fmt: skip
    if not accounts:
        raise not_found(f"organisation {organisation}")
    start, end = _day_start(first), _day_start(last + timedelta(days=1))
    columns = ("id", "batch_id", "holder", "amount", "beneficiary", "reason", "consumption_start", "consumption_end",
               "region", "block_number", "block_time", "tx_hash")  # fmt: skip
    retirements = [dict(zip(columns, row, strict=True)) for row in reader.execute(
        f"SELECT {', '.join(columns)} FROM retirement WHERE {in_list('holder', len(accounts))}"
        " AND consumption_start < ? AND consumption_end > ? ORDER BY id", (*accounts, end, start))]  # fmt: skip
    batch_ids = sorted({r["batch_id"] for r in retirements})
    batch_columns = ("id", "project_id", "period_index", "period_end", "evidence_root", "methodology_id")
    batch_sql = f"SELECT {', '.join(batch_columns)} FROM batch WHERE {in_list('id', len(batch_ids))}"
    batches = {row[0]: dict(zip(batch_columns, row, strict=True)) for row in reader.execute(batch_sql, batch_ids)}
    project_ids = sorted({b["project_id"] for b in batches.values()})
    profiles = {r["project_id"]: r for r in services.state.rows(
        f"SELECT project_id, name, region, kind FROM project_profile WHERE {in_list('project_id', len(project_ids))}",
        tuple(project_ids))}  # fmt: skip
    root_of, trees = _trees(services, accounts, [r["id"] for r in retirements])
    base = services.settings.base_url
    lines = []
    for r in retirements:
        batch = batches[r["batch_id"]]
        profile = profiles.get(batch["project_id"], {})
        accounting = services.state.accounting(batch["evidence_root"])
        method = accounting["result"]["method_version"] if accounting else batch["methodology_id"]
        lines.append({
            "retirement_id": r["id"], "serial": serial_prefix(batch), "batch_id": r["batch_id"],
            "project_id": batch["project_id"], "project": profile.get("name", ""),
            "kind": profile.get("kind") or "unstated", "region": profile.get("region") or r["region"] or "unstated",
            "method": method, "vintage": vintage_of(batch["period_end"]), "quantity_g": r["amount"],
            "holder": r["holder"], "beneficiary": r["beneficiary"], "reason": r["reason"],
            "consumption_from": _day_of(r["consumption_start"]), "consumption_to": _day_of(r["consumption_end"]),
            "tx_hash": r["tx_hash"], "block_number": r["block_number"], "block_time": r["block_time"],
            "merkle_root": root_of.get(r["id"]), "certificate": f"{base}/retirements/{r['id']}",
        })  # fmt: skip
    by_kind: dict[str, int] = {}
    by_region: dict[str, int] = {}
    for line in lines:
        by_kind[line["kind"]] = by_kind.get(line["kind"], 0) + line["quantity_g"]
        by_region[line["region"]] = by_region.get(line["region"], 0) + line["quantity_g"]
    checkpoint = reader.execute("SELECT chain_id, contract, last_block, last_block_hash FROM checkpoint").fetchone()
    return {
        "kind": KIND,
        "version": 1,
        "organisation": organisation,
        "accounts": accounts,
        "period": {"first_day": first.isoformat(), "last_day": last.isoformat(), "zone": "Asia/Shanghai"},
        "issued_at": now,
        "chain": {
            "chain_id": checkpoint[0],
            "registry": checkpoint[1],
            "indexed_block": checkpoint[2],
            "indexed_block_hash": checkpoint[3],
        },
        "lines": lines,
        "totals": {
            "retirements": len(lines),
            "quantity_g": sum(line["quantity_g"] for line in lines),
            "by_kind": by_kind,
            "by_region": by_region,
        },
        "merkle_trees": trees,
        "leaf_rule": LEAF_RULE,
    }


def statement_csv(statement: dict[str, Any], hash_hex: str) -> bytes:
    """The lines as CSV (UTF-8 with a byte-order mark, as spreadsheets expect), the statement's hash in the last
    column of every row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*CSV_COLUMNS, "statement"])
    for line in statement["lines"]:
        writer.writerow([*("" if line[c] is None else line[c] for c in CSV_COLUMNS), hash_hex])
    return ("\ufeff" + out.getvalue()).encode()


def issue_statement(services: Services, reader: Any, caller: Caller, organisation: int, first: date,
                    last: date) -> dict[str, Any]:  # fmt: skip
    """Builds, signs, renders and stores a statement; returns its record."""
    from node.reports.statement_pdf import statement_pdf  # fpdf2 is loaded only by who issues statements

    may_request(caller, organisation)
    statement = build_statement(services, reader, organisation, first, last, int(time.time()))
    body = canonical(statement)
    hash_hex = statement_hash(body)
    signer = statement_signer(services.settings)
    signature = "0x" + signer.sign_message(encode_defunct(hexstr=hash_hex)).signature.hex().removeprefix("0x")
    pdf = statement_pdf(statement, hash_hex, str(signer.address).lower(), signature, services.settings.base_url)
    sheet = statement_csv(statement, hash_hex)
    services.state.execute(
        "INSERT INTO esg_statement (hash, organisation, first_day, last_day, body, signer, signature, pdf, csv,"
        " pdf_sha256, csv_sha256, requested_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (hash) DO NOTHING",
        (hash_hex, organisation, first.isoformat(), last.isoformat(), body.decode(), str(signer.address).lower(),
         signature, pdf, sheet, hashlib.sha256(pdf).hexdigest(), hashlib.sha256(sheet).hexdigest(), caller.account,
         statement["issued_at"]),
    )  # fmt: skip
    return stored_statement(services, hash_hex)


def stored_statement(services: Services, hash_hex: str) -> dict[str, Any]:
    rows = services.state.rows(
        "SELECT hash, organisation, first_day, last_day, body, signer, signature, pdf_sha256, csv_sha256,"
        " requested_by, created_at FROM esg_statement WHERE hash = ?",
        (hash_hex.lower(),),
    )
    if not rows:
        raise not_found(f"statement {hash_hex}")
    row = rows[0]
    statement = json.loads(row["body"])
    base = services.settings.base_url
    return {
        "hash": row["hash"],
        "organisation": row["organisation"],
        "first_day": row["first_day"],
        "last_day": row["last_day"],
        "issued_at": row["created_at"],
        "signer": row["signer"],
        "signature": row["signature"],
        "signature_valid": statement_hash(row["body"].encode()) == row["hash"]
        and recover_statement_signer(row["hash"], row["signature"]) == row["signer"],
        "pdf_sha256": row["pdf_sha256"],
        "csv_sha256": row["csv_sha256"],
        "totals": statement["totals"],
        "lines": [{k: v for k, v in line.items() if k != "holder"} for line in statement["lines"]],
        "verification": f"{base}/statements/{row['hash']}",
        "pdf": f"{base}/v1/statements/{row['hash']}.pdf",
        "csv": f"{base}/v1/statements/{row['hash']}.csv",
        "json": f"{base}/v1/statements/{row['hash']}.json",
        "statement": statement,
    }


def statement_file(services: Services, caller: Caller, hash_hex: str, kind: str) -> bytes:
    """The issued PDF, CSV or canonical JSON, for the organisation's accounts and regulators."""
    rows = services.state.rows(
        f"SELECT organisation, {'body' if kind == 'json' else kind} AS content FROM esg_statement WHERE hash = ?",
        (hash_hex.lower(),),
    )
    if not rows:
        raise not_found(f"statement {hash_hex}")
    may_request(caller, int(rows[0]["organisation"]))
    content = rows[0]["content"]
    return content.encode() if isinstance(content, str) else bytes(content)


def verify_copy(services: Services, digest: str) -> dict[str, Any]:
    """Whether the file with this SHA-256 is a PDF or CSV this node issued, unaltered."""
    rows = services.state.rows(
        "SELECT hash, organisation, first_day, last_day, created_at, pdf_sha256 FROM esg_statement"
        " WHERE pdf_sha256 = ? OR csv_sha256 = ?",
        (digest, digest),
    )
    if not rows:
        return {"genuine": False, "sha256": digest}
    row = rows[0]
    return {
        "genuine": True,
        "sha256": digest,
        "statement": row["hash"],
        "issued_as": "pdf" if row["pdf_sha256"] == digest else "csv",
        "organisation": row["organisation"],
        "first_day": row["first_day"],
        "last_day": row["last_day"],
        "issued_at": row["created_at"],
        "verification": f"{services.settings.base_url}/statements/{row['hash']}",
    }
