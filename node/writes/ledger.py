"""The plain ledger writes (register, a project's buffer share, issue, transfer, retire) as intent kinds: how
each is answered once its transaction is mined. Their answer is the transaction (hash, block, gas) and what it
created."""

import sqlite3
import time
from typing import Any

from node.chain.registry import INHERIT_BUFFER_SHARE
from node.chain.sender import Receipt
from node.writes.runner import kind

GRAMS_PER_POINT = 10


def tx_answer(receipt: Receipt, **result: Any) -> dict[str, Any]:
    return {
        "tx_hash": receipt.tx_hash,
        "block_number": receipt.block_number,
        "gas_used": receipt.gas_used,
        "result": result,
    }


def _event_arg(services: Any, receipt: Receipt, event: str, arg: str) -> Any:
    return services.registry.event(receipt, event).args[arg]


@kind("register_participant")
def _participant(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    account, name = intent["request"]["account"].lower(), intent["request"].get("display_name")
    if name is not None:
        db.execute(
            "INSERT INTO participant_profile (account, display_name, set_at) VALUES (?,?,?) ON CONFLICT (account)"
            " DO UPDATE SET display_name = excluded.display_name, set_at = excluded.set_at",
            (account, name, int(time.time())),
        )
    return tx_answer(receipt, account=account)


@kind("register_project")
def _project(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    project_id = int(_event_arg(services, receipt, "ProjectRegistered", "projectId"))
    profile = intent["request"].get("profile")
    if profile is not None:
        db.execute(
            "INSERT INTO project_profile (project_id, name, region, kind, metadata_hash) VALUES (?,?,?,?,?)"
            " ON CONFLICT (project_id) DO UPDATE SET name = excluded.name, region = excluded.region,"
            " kind = excluded.kind, metadata_hash = excluded.metadata_hash",
            (project_id, profile["name"], profile["region"], profile["kind"], intent["request"]["metadata_hash"]),
        )
    return tx_answer(receipt, project_id=project_id)


@kind("set_project_buffer")
def _project_buffer(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    args = services.registry.event(receipt, "ProjectBufferShareSet").args
    share = int(args["shareBps"])
    return tx_answer(
        receipt, project_id=int(args["projectId"]), share_bps=None if share == INHERIT_BUFFER_SHARE else share
    )


@kind("issue")
def _issue(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    return tx_answer(receipt, batch_id=int(_event_arg(services, receipt, "BatchIssued", "batchId")))


@kind("transfer")
def _transfer(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    return tx_answer(receipt)


@kind("retire")
def _retire(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    retirement_id = int(_event_arg(services, receipt, "CertificateRetired", "retirementId"))
    amount = int(intent["request"]["amount"])
    # Carbon points for the retiring holder, in the transaction that settles the intent: once, and only
    # for a mined retirement (settling waits until the index holds its block).
    db.execute(
        "INSERT INTO carbon_points (holder, points, grams, source, retirement_ids, at) VALUES (?,?,?,?,?,?)",
        (
            intent["actor"],
            amount // GRAMS_PER_POINT,
            amount,
            f"retirement {retirement_id}",
            f"[{retirement_id}]",
            int(time.time()),
        ),
    )
    return tx_answer(
        receipt,
        retirement_id=retirement_id,
        certificate=f"{services.settings.base_url}/retirements/{retirement_id}",
    )
