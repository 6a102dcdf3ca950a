"""A batch's provenance: the index's record, optionally re-checked against the chain right now."""

import sqlite3
from typing import Any

from node.errors import EvidenceError, not_found
from node.evidence.bundle import load_bundle
from node.index.queries import BATCH_STATUS, batch_events, get_batch, get_project
from node.services import Services


def chain_check(services: Services, batch: dict[str, Any]) -> dict[str, Any]:
    """Reads the batch's status and the owner's balance from the chain and compares them with the index."""
    block = services.rpc.block_number()
    status = BATCH_STATUS[int(services.registry.batch_status(batch["id"]))]
    exists = bool(services.registry.value("batchExists", batch["id"]))
    return {
        "block": block,
        "status_on_chain": status,
        "exists_on_chain": exists,
        "matches_index": exists and status == batch["status"],
    }


def provenance(
    services: Services,
    reader: sqlite3.Connection,
    batch_id: int,
    *,
    after: tuple[int, int] | None,
    limit: int,
    check_chain: bool,
) -> dict[str, Any]:
    batch = get_batch(connection=reader, batch_id=batch_id)
    if batch is None:
        raise not_found(f"batch {batch_id}")
    events, next_cursor = batch_events(connection=reader, batch_id=batch_id, after=after, limit=limit)
    try:
        evidence: dict[str, Any] | None = load_bundle(services.evidence, batch["evidence_root"]).as_dict()
    except EvidenceError:
        evidence = None  # evidence held by another node: the root is still on chain
    return {
        "batch": batch,
        "project": get_project(connection=reader, project_id=batch["project_id"]),
        "verification": {
            "verifier": batch["verifier"],
            "digest": batch["verification_digest"],
            "methodology_id": batch["methodology_id"],
            "evidence_root": batch["evidence_root"],
            "period": [batch["period_start"], batch["period_end"]],
        },
        "issuance": {
            "issuer": batch["issuer"],
            "tx_hash": batch["issued_tx"],
            "block": batch["issued_block"],
            "time": batch["issued_time"],
        },
        "evidence": evidence,
        "accounting": services.state.accounting(batch["evidence_root"]),
        "events": events,
        "next_cursor": next_cursor,
        "chain_check": chain_check(services, batch) if check_chain else None,
    }
