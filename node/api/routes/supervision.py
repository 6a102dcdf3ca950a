"""Supervision over HTTP: alerts and their handling, measures, pre-listing review, re-running the rules, and
the supervision report (JSON, CSV and an HTML page with server-drawn charts). Regulators only."""

from typing import Annotated, Any

from eth_utils import keccak
from fastapi import APIRouter, Query
from fastapi import Path as ApiPath

from node.api.deps import ReaderDep, RegulatorDep, ServicesDep
from node.api.errors import ApiError, not_found
from node.api.responses import CSV, WRITE_RESPONSES, Alert, Measure, Rerun, Review, SupervisionReport
from node.api.routes.public import as_csv
from node.api.routes.regulator import measure
from node.api.schemas import AlertAction, MeasureRequest, ReviewDecision, RiskRerun
from node.index.queries import get_batch, get_participant, get_project
from node.market.safeguards import add_to_blacklist
from node.risk.config import RULES
from node.supervision.oversight import (
    act_on_alert,
    alert_detail,
    chain_measure,
    list_alerts,
    measures_of,
    record_measure,
    review_project,
    supervision_report,
)
from node.text import Day as CalendarDay

router = APIRouter(prefix="/v1/regulator", tags=["supervision"])
Day = Annotated[CalendarDay, Query(description="YYYY-MM-DD (UTC), a real calendar date")]
Account = Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{40}$")]


@router.get(
    "/alerts",
    response_model=list[Alert],
    response_model_exclude_unset=True,
    summary="Risk alerts, newest first, filtered by rule, severity, status, participant, time",
)
def alerts(
    caller: RegulatorDep,
    services: ServicesDep,
    reader: ReaderDep,
    rule: Annotated[str | None, Query(pattern="^(" + "|".join(RULES) + ")$")] = None,
    severity: Annotated[str | None, Query(pattern=r"^(low|medium|high)$")] = None,
    status: Annotated[str | None, Query(pattern=r"^(open|acknowledged|escalated|closed|false_positive)$")] = None,
    participant: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    since: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    until: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    found = list_alerts(
        services, reader, rule=rule, severity=severity, status=status, participant=participant, since=since,
        until=until, limit=limit, offset=offset,
    )  # fmt: skip
    services.state.log_query(
        account=caller.account, endpoint="alerts",
        params={"rule": rule, "severity": severity, "status": status, "participant": participant},
        outcome=f"{len(found)} alerts",
    )  # fmt: skip
    return found


@router.get(
    "/alerts/{key}",
    response_model=Alert,
    response_model_exclude_unset=True,
    summary="An alert with its evidence as links to provenance and deals, and its handling",
)
def alert(
    key: Annotated[str, ApiPath(pattern=r"^[0-9a-f]{32}$")],
    caller: RegulatorDep,
    services: ServicesDep,
    reader: ReaderDep,
) -> dict[str, Any]:
    found = alert_detail(services, reader, key)
    services.state.log_query(account=caller.account, endpoint="alert", params={"key": key}, outcome=found["rule"])
    return found


@router.post(
    "/alerts/{key}/actions",
    response_model=Alert,
    response_model_exclude_unset=True,
    summary="Acknowledge, escalate, close, or close as a false positive, with a note",
)
def alert_action(
    key: Annotated[str, ApiPath(pattern=r"^[0-9a-f]{32}$")],
    body: AlertAction,
    caller: RegulatorDep,
    services: ServicesDep,
    reader: ReaderDep,
) -> dict[str, Any]:
    return act_on_alert(services, reader, caller, key, body.action, body.note)


@router.post(
    "/measures",
    response_model=Measure,
    response_model_exclude_unset=True,
    responses=WRITE_RESPONSES,
    status_code=201,
    summary="A measure on a participant; on-chain ones go through the ledger",
)
def new_measure(body: MeasureRequest, caller: RegulatorDep, services: ServicesDep, reader: ReaderDep) -> dict:
    participant = body.participant.lower()
    if get_participant(connection=reader, address=participant) is None:
        raise not_found(f"participant {participant}")
    kind, reason = body.kind, body.reason
    if kind in ("report_request", "interview", "written_warning"):
        return record_measure(services, caller, participant, kind, reason, details=body.details or {})
    if kind in ("freeze_account", "unfreeze_account"):
        frozen = kind == "freeze_account"
        params = {"account": participant, "frozen": frozen, "reason": reason}
        measure(caller, services, "measures", "setAccountFrozen", params, participant, frozen)
    elif kind == "blacklist":
        params = {"account": participant, "frozen": True, "reason": reason, "kind": "blacklist"}
        measure(caller, services, "measures", "setAccountFrozen", params, participant, True)
        add_to_blacklist(services, caller, participant, reason)
    elif kind in ("freeze_batch", "unfreeze_batch", "revoke_batch"):
        batch_id = _batch_of(reader, body.batch_id)
        method = {"freeze_batch": "freezeBatch", "unfreeze_batch": "unfreezeBatch", "revoke_batch": "revokeBatch"}
        params = {"batch_id": batch_id, "participant": participant, "reason": reason}
        measure(caller, services, "measures", method[kind], params, batch_id)
    else:  # buffer_reversal
        batch_id = _batch_of(reader, body.batch_id)
        if not body.amount or body.loss_project_id is None:
            raise ApiError(422, "validation_error", "a buffer reversal needs amount and loss_project_id")
        if get_project(connection=reader, project_id=body.loss_project_id) is None:
            raise not_found(f"project {body.loss_project_id}")
        evidence = keccak(text=reason)
        details = {"batch_id": batch_id, "amount": body.amount, "loss_project_id": body.loss_project_id}
        chain_measure(
            services, caller, method="recordReversal", args=(batch_id, body.amount, body.loss_project_id, evidence),
            participant=participant, kind=kind, reason=reason, details=details,
        )  # fmt: skip
    return measures_of(services, participant)[-1]


def _batch_of(reader: Any, batch_id: int | None) -> int:
    if batch_id is None:
        raise ApiError(422, "validation_error", "batch_id: this measure acts on a batch")
    if get_batch(connection=reader, batch_id=batch_id) is None:
        raise not_found(f"batch {batch_id}")
    return batch_id


@router.get(
    "/participants/{account}/measures",
    response_model=list[Measure],
    response_model_exclude_unset=True,
    summary="Every measure taken on a participant, oldest first",
)
def participant_measures(account: Account, caller: RegulatorDep, services: ServicesDep) -> list[dict[str, Any]]:
    return measures_of(services, account.lower())


@router.post(
    "/projects/{project_id}/review",
    response_model=Review,
    response_model_exclude_unset=True,
    summary="Pre-listing review: approve or reject a project's documents",
)
def review(
    project_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)],
    body: ReviewDecision,
    caller: RegulatorDep,
    services: ServicesDep,
    reader: ReaderDep,
) -> dict[str, Any]:
    if get_project(connection=reader, project_id=project_id) is None:
        raise not_found(f"project {project_id}")
    return review_project(services, caller, project_id, body.decision, body.reason)


@router.post(
    "/risk/rerun",
    response_model=Rerun,
    response_model_exclude_unset=True,
    summary="Re-run the rules (as configured now) over a block range, without storing",
)
def rerun(body: RiskRerun, caller: RegulatorDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    from node.supervision.rerun import rerun_rules

    result = rerun_rules(services, reader, body.from_block, body.to_block)
    services.state.log_query(
        account=caller.account, endpoint="risk_rerun", params=body.model_dump(),
        outcome=f"{len(result['alerts'])} alerts",
    )  # fmt: skip
    return result


@router.get(
    "/report",
    response_model=SupervisionReport,
    response_model_exclude_unset=True,
    responses={200: {"content": CSV}},
    summary="The supervision report for a date range (JSON or CSV)",
)
def report(
    caller: RegulatorDep,
    services: ServicesDep,
    reader: ReaderDep,
    since: Day,
    until: Day,
    format: Annotated[str, Query(pattern=r"^(json|csv)$")] = "json",
) -> Any:
    found = supervision_report(services, reader, since, until)
    services.state.log_query(
        account=caller.account, endpoint="report", params={"since": since, "until": until, "format": format},
        outcome=f"{len(found['alerts'])} rules alerted",
    )  # fmt: skip
    if format == "csv":
        rows = [{"section": "volume", **v} for v in found["volumes"]]
        rows += [{"section": "alerts", **a} for a in found["alerts"]]
        rows += [{"section": "measures", "kind": k, "count": n} for k, n in found["measures"].items()]
        rows += [{"section": "prices", **found["prices"]}, {"section": "reconciliation", **found["reconciliation"]}]
        rows += [{"section": "flagged_verifications", **f} for f in found["flagged_verifications"]]
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        return as_csv(rows, "supervision-report", columns, services)
    return found
