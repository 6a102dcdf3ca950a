"""What a statement must say to be signed or sent by this node: the period of its monitoring data, to the
second, and the quantity that data computes (node.projects.monitoring.check_statement_quantity, the one
place that rule lives). The verifier's signature (POST /v1/verifications) and the issuance (POST
/v1/batches) are both held to it, so that nothing this node sends to the chain claims more, less or
another period than the data it computed.

A report covers whole days: from its start date to its end date, both included, on the Asia/Shanghai
calendar. The statement's `periodStart` is 00:00 Asia/Shanghai of the start date, its `periodEnd` 00:00
Asia/Shanghai of the day after the end date (the contract reads a period as [start, end)).
"""

import json
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

from node.errors import EvidenceError, InvalidRequest
from node.evidence.bundle import load_bundle
from node.projects.monitoring import check_statement_quantity
from node.services import Services

PERIOD_ZONE = ZoneInfo("Asia/Shanghai")
REPORT_FILE = "monitoring.json"  # as node.projects.monitoring.submit_monitoring names it in the bundle


def statement_period(start: date, end: date) -> tuple[int, int]:
    """(periodStart, periodEnd) in Unix seconds for monitoring data from `start` to `end`, both included."""
    first = datetime.combine(start, clock.min, PERIOD_ZONE)
    after = datetime.combine(end + timedelta(days=1), clock.min, PERIOD_ZONE)
    return int(first.timestamp()), int(after.timestamp())


def report_dates(report: dict[str, Any]) -> tuple[date, date]:
    """The first and last day of a monitoring report (as POSTed to /v1/projects/{id}/monitoring)."""
    period = report["period"]
    return date.fromisoformat(period["start"]), date.fromisoformat(period["end"])


def report_statement_period(report: dict[str, Any]) -> tuple[int, int]:
    """The statement period a monitoring report (JSON as uploaded) must be signed and issued with."""
    return statement_period(*report_dates(report))


def stored_report_dates(services: Services, evidence_root: str) -> tuple[date, date] | None:
    """The days covered by the monitoring report this node computed for `evidence_root`, read back from its
    attested bundle; None if the node has no such report."""
    if services.state.accounting(evidence_root) is None:
        return None
    try:
        bundle = load_bundle(services.evidence, evidence_root)
    except EvidenceError:
        return None
    for item in bundle.files:
        if item.name == REPORT_FILE:
            document = json.loads(services.evidence.get(item.digest))
            return report_dates(document["report"])
    return None


def check_statement_period(services: Services, *, evidence_root: str, period_start: int, period_end: int) -> None:
    """The statement's period is exactly that of the monitoring data behind the evidence root."""
    dates = stored_report_dates(services, evidence_root)
    if dates is None:
        raise InvalidRequest("report_missing", f"evidence {evidence_root} has no monitoring report on this node")
    start, end = dates
    expected = statement_period(start, end)
    if (period_start, period_end) != expected:
        raise InvalidRequest(
            "period_mismatch",
            f"the monitoring data covers {start} to {end} (Asia/Shanghai): the statement must have "
            f"period_start {expected[0]} (00:00 of {start}) and period_end {expected[1]} (00:00 of "
            f"{end + timedelta(days=1)}), not {period_start} and {period_end}",
        )


def check_statement(
    services: Services,
    *,
    project_id: int,
    evidence_root: str,
    quantity: int,
    period_start: int,
    period_end: int,
    issuing: bool = False,
) -> None:
    """Refuses (422) a statement that does not say what this node's monitoring data for its evidence root
    computes: the report itself (`no_monitoring_data` when signing, `report_missing` when issuing), its
    project, a positive quantity to the gram (`quantity_mismatch`), and its period (`period_mismatch`)."""
    root = evidence_root.lower()
    if issuing and services.state.accounting(root) is None:
        raise InvalidRequest(
            "report_missing",
            f"evidence {root} has no monitoring report computed by this node: this node issues only what "
            f"it computed (POST /v1/projects/{project_id}/monitoring)",
        )
    check_statement_quantity(services, project_id=project_id, evidence_root=root, quantity=quantity)
    check_statement_period(services, evidence_root=root, period_start=period_start, period_end=period_end)


def backing(services: Services, batch: dict[str, Any]) -> dict[str, Any]:
    """What this node's monitoring data says of an issued batch: its computed figure beside the issued one,
    and `matches`, `differs` (another figure, or a report of another project) or `no_report`."""
    record = services.state.accounting(batch["evidence_root"])
    issued = int(batch["quantity"])
    if record is None:
        return {"computed_grams": None, "issued_grams": issued, "state": "no_report"}
    computed = int(record["creditable_grams"])
    same = computed == issued and int(record["project_id"]) == int(batch["project_id"])
    return {"computed_grams": computed, "issued_grams": issued, "state": "matches" if same else "differs"}
