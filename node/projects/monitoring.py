"""Monitoring reports: the accounting method run on a project's data, kept as attested evidence, and the
rule that a verification statement claims exactly what the method computes."""

import json
import sqlite3
import time
from typing import Any

from node.errors import InvalidRequest
from node.evidence.bundle import create_bundle, save_bundle
from node.index.queries import buffer_share_of
from node.projects.plausibility import check_upload
from node.services import Services
from node.supervision.ecoloss import judge_report
from registry.accounting import AccountingInputError, compute_net_sink, parse_monitoring


def buffer_share_in_force(services: Services, reader: sqlite3.Connection, project_id: int) -> int:
    """The buffer share (basis points) the ledger will hold back from the project's next batch: the index's
    copy of the project's own share or the registry's, else the contract's bufferShareOf. The report splits
    at exactly this share, so report, statement, page and ledger agree to the gram."""
    share = buffer_share_of(connection=reader, project_id=project_id)
    return services.registry.buffer_share_of(project_id) if share is None else share


def submit_monitoring(
    services: Services, reader: sqlite3.Connection, *, project_id: int, key_name: str, owner: str, report: Any
) -> dict[str, Any]:
    """Validates and computes a report, checks its plausibility against what the project had issued (a refusal
    stores nothing), stores it with its computation and its flags as one attested evidence bundle, and judges
    it for an ecological loss against the project's previous period."""
    try:
        monitoring = parse_monitoring(report)
        result = compute_net_sink(monitoring, buffer_share_bps=buffer_share_in_force(services, reader, project_id))
    except AccountingInputError as refused:
        raise InvalidRequest("invalid_monitoring", str(refused)) from None
    # The flags are part of the attested computation: the bundle's root covers them.
    accounting = {**result.as_dict(), "plausibility": check_upload(services, reader, project_id=project_id,
                                                                    monitoring=monitoring)}  # fmt: skip
    document = json.dumps({"project_id": project_id, "report": report}, sort_keys=True, ensure_ascii=False).encode()
    computation = json.dumps(accounting, sort_keys=True, ensure_ascii=False).encode()
    bundle = create_bundle(
        services.evidence,
        [("monitoring.json", document), ("accounting.json", computation)],
        project_id=project_id,
        kind="monitoring-report",
        attestor=services.account(key_name),
        chain_id=services.manifest.chain_id,
        registry=services.manifest.registry.address,
        attested_at=int(time.time()),
    )
    save_bundle(services.evidence, bundle)
    services.state.save_accounting(
        evidence_root=bundle.root_hex,
        project_id=project_id,
        creditable_grams=result.creditable_grams,
        input_hash=result.input_hash,
        result=accounting,
        period_end=monitoring.period_end.isoformat(),
    )
    alert = judge_report(
        services, reader, project_id=project_id, owner=owner, evidence_root=bundle.root_hex,
        period_end=monitoring.period_end.isoformat(), result=accounting,
    )  # fmt: skip
    return {"evidence_root": bundle.root_hex, "accounting": accounting, "bundle": bundle.as_dict(),
            "alert": alert}  # fmt: skip


def check_statement_quantity(services: Services, *, project_id: int, evidence_root: str, quantity: int) -> None:
    """A verifier signs only what the monitoring data behind the evidence root computes, to the gram."""
    record = services.state.accounting(evidence_root)
    if record is None:
        raise InvalidRequest(
            "no_monitoring_data",
            f"evidence {evidence_root} has no monitoring report computed by this "
            f"node: upload it with POST /v1/projects/{project_id}/monitoring",
        )
    if record["project_id"] != project_id:
        raise InvalidRequest("project_mismatch", f"that monitoring report is for project {record['project_id']}")
    if record["creditable_grams"] <= 0:
        raise InvalidRequest("nothing_issuable", "the monitoring data computes no positive net sink for the period")
    if quantity != record["creditable_grams"]:
        raise InvalidRequest(
            "quantity_mismatch",
            f"the statement claims {quantity} g; the monitoring data computes "
            f"{record['creditable_grams']} g (method {record['result']['method_version']})",
        )
    check_buffer_share(services, project_id=project_id, evidence_root=evidence_root, result=record["result"])


def check_buffer_share(services: Services, *, project_id: int, evidence_root: str, result: dict[str, Any]) -> None:
    """The report's buffer split is the ledger's: if an admin changed the project's share (or the registry's)
    since the report was computed, the report is computed again before a statement is signed or issued."""
    computed = result.get("buffer_share_bps")
    if computed is None:
        return  # a report computed before the ledger's share was passed in: nothing to compare
    reader = services.reader()
    try:
        in_force = buffer_share_in_force(services, reader, project_id)
    finally:
        reader.close()
    if computed != in_force:
        raise InvalidRequest(
            "buffer_share_changed",
            f"the report behind {evidence_root} holds back {computed} bps for the buffer; the ledger now holds "
            f"back {in_force} bps for project {project_id}: upload the monitoring data again "
            f"(POST /v1/projects/{project_id}/monitoring) so report and ledger agree to the gram",
        )
