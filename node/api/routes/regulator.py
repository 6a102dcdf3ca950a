"""The regulator's audit: summaries, event search with CSV, read-only SQL, reconciliation, measures.
Every call is written to the node's query log."""

from dataclasses import asdict
from typing import Annotated, Any

from eth_utils import keccak
from fastapi import APIRouter, Query, Response
from fastapi import Path as ApiPath

from node.api.deps import Caller, EventFiltersDep, ReaderDep, RegulatorDep, ServicesDep
from node.api.errors import ApiError
from node.api.responses import CSV, WRITE_RESPONSES, EventPage, QueryLogEntry, Reconciliation, SummaryRow
from node.api.routes.public import as_csv
from node.api.schemas import (
    BatchMeasureRequest,
    FreezeAccountRequest,
    SqlLimitsView,
    SqlRequest,
    SqlResult,
    SqlSchema,
    SqlTable,
    TxResult,
)
from node.errors import CodedError
from node.index.queries import get_batch, search_events, summary
from node.market.safeguards import open_compensation_cases
from node.services import Services
from node.supervision.oversight import chain_measure
from node.supervision.reconcile import reconcile
from node.supervision.sql import ALLOWED_FUNCTIONS
from node.supervision.sqlschema import index_schema
from node.text import Day as CalendarDay

router = APIRouter(prefix="/v1/regulator", tags=["regulator"])
Day = Annotated[CalendarDay | None, Query(description="YYYY-MM-DD, a real calendar date")]


def _reason(text: str) -> bytes:
    """On chain a measure carries the hash of its written reason; the text stays in the query log."""
    return keccak(text=text)


@router.get(
    "/summary",
    response_model=list[SummaryRow],
    response_model_exclude_unset=True,
    summary="Totals grouped by project, vintage, issuer or holder over a day range",
)
def regulator_summary(
    caller: RegulatorDep,
    services: ServicesDep,
    reader: ReaderDep,
    group_by: Annotated[str, Query(pattern=r"^(project|vintage|issuer|holder)$")] = "project",
    since: Day = None,
    until: Day = None,
) -> list[dict[str, Any]]:
    rows = summary(connection=reader, group_by=group_by, since_day=since, until_day=until)
    services.state.log_query(
        account=caller.account,
        endpoint="summary",
        params={"group_by": group_by, "since": since, "until": until},
        outcome=f"{len(rows)} rows",
    )
    return rows


@router.get(
    "/events",
    response_model=EventPage,
    response_model_exclude_unset=True,
    responses={200: {"content": CSV}},
    summary="Event search with filters and cursor pagination (JSON or CSV)",
)
def regulator_events(
    caller: RegulatorDep,
    services: ServicesDep,
    reader: ReaderDep,
    filters: EventFiltersDep,
    format: Annotated[str, Query(pattern=r"^(json|csv)$")] = "json",
) -> Any:
    events, next_cursor = search_events(connection=reader, **filters.search())
    params = {**asdict(filters), "format": format}
    params.pop("limit")
    services.state.log_query(account=caller.account, endpoint="events", outcome=f"{len(events)} events", params=params)
    if format == "csv":
        columns = ["block_number", "log_index", "block_time", "tx_hash", "name", "account", "counterparty", "amount",
                   "args"]  # fmt: skip
        return as_csv(events, "events", columns, services)
    return {"events": events, "next_cursor": next_cursor}


@router.post(
    "/sql",
    response_model=SqlResult,
    summary="Read-only SQL over the index (SELECT only; allowed functions, time, memory and size limits)",
)
def regulator_sql(body: SqlRequest, caller: RegulatorDep, services: ServicesDep) -> Response:
    def logged(outcome: str) -> None:
        services.state.log_query(account=caller.account, endpoint="sql", params={"query": body.query}, outcome=outcome)

    try:
        answer = services.sql_pool().run(body.query)
    except (ApiError, CodedError) as refused:
        logged(f"refused: {refused.code}")
        raise
    logged(f"{answer.rows} rows" + (f", truncated by {answer.truncated_by}" if answer.truncated_by else ""))
    # The worker made the JSON body (at most the byte budget); it is passed on, not parsed and encoded again.
    return Response(answer.body, media_type="application/json")


@router.get("/sql/schema", summary="The tables and columns the SQL console can read, its functions and limits")
def regulator_sql_schema(caller: RegulatorDep, services: ServicesDep, reader: ReaderDep) -> SqlSchema:
    s = services.settings
    limits = SqlLimitsView(
        time_limit_s=s.sql_time_limit_s,
        row_cap=s.sql_row_cap,
        max_value_bytes=s.sql_max_value_bytes,
        result_bytes=s.sql_result_bytes,
        memory_mb=s.sql_memory_mb,
        workers=s.sql_workers,
    )
    tables = index_schema(reader)
    services.state.log_query(account=caller.account, endpoint="sql_schema", params={}, outcome=f"{len(tables)} tables")
    return SqlSchema(tables=[SqlTable(**t) for t in tables], functions=sorted(ALLOWED_FUNCTIONS), limits=limits)


@router.get(
    "/reconciliation",
    response_model=Reconciliation,
    response_model_exclude_unset=True,
    summary="Re-read the chain and report every difference from the index",
)
def regulator_reconciliation(caller: RegulatorDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    report = reconcile(services, reader)
    services.state.log_query(
        account=caller.account,
        endpoint="reconciliation",
        params={},
        outcome=f"{len(report['differences'])} differences in {report['checks']} checks",
    )
    return report


@router.get(
    "/query-log",
    response_model=list[QueryLogEntry],
    response_model_exclude_unset=True,
    summary="The log of regulator queries, newest first",
)
def regulator_query_log(
    caller: RegulatorDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return services.state.query_log(limit=limit)


MEASURE_KINDS = {
    ("setAccountFrozen", True): "freeze_account",
    ("setAccountFrozen", False): "unfreeze_account",
    ("freezeBatch", None): "freeze_batch",
    ("unfreezeBatch", None): "unfreeze_batch",
    ("revokeBatch", None): "revoke_batch",
}


def measure(
    caller: Caller, services: Services, endpoint: str, method: str, params: dict[str, Any], *args: Any
) -> TxResult:
    """Sends a regulator's on-chain measure through the ledger, records it in the participant's history of
    measures with its reason, and answers once it is indexed."""
    kind = MEASURE_KINDS[(method, params.get("frozen") if method == "setAccountFrozen" else None)]
    participant = params.get("participant") or params.get("account")
    if participant is None:
        reader = services.reader()
        try:
            batch = get_batch(connection=reader, batch_id=params["batch_id"])
        finally:
            reader.close()
        participant = batch["owner"] if batch else ""
    details = {k: v for k, v in params.items() if k not in ("reason", "participant")}
    answer = chain_measure(
        services, caller, method=method, args=(*args, _reason(params["reason"])), participant=participant,
        kind=params.get("kind", kind), reason=params["reason"], details={**details, "via": endpoint},
    )  # fmt: skip
    return TxResult(**answer)


@router.post(
    "/accounts/{account}/freeze", responses=WRITE_RESPONSES, summary="Freeze or unfreeze an account, with a reason"
)
def freeze_account(
    account: Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{40}$")],
    body: FreezeAccountRequest,
    caller: RegulatorDep,
    services: ServicesDep,
) -> TxResult:
    params = {"account": account.lower(), "frozen": body.frozen, "reason": body.reason}
    return measure(caller, services, "freeze_account", "setAccountFrozen", params, account.lower(), body.frozen)


@router.post(
    "/batches/{batch_id}/status", responses=WRITE_RESPONSES, summary="Freeze, unfreeze or revoke a batch, with a reason"
)
def batch_measure(
    batch_id: Annotated[int, ApiPath(ge=1, le=2**63 - 1)],
    body: BatchMeasureRequest,
    caller: RegulatorDep,
    services: ServicesDep,
) -> TxResult:
    method = {"freeze": "freezeBatch", "unfreeze": "unfreezeBatch", "revoke": "revokeBatch"}[body.action]
    params = {"batch_id": batch_id, "action": body.action, "reason": body.reason}
    result = measure(caller, services, "batch_status", method, params, batch_id)
    if body.action == "revoke":
        reader = services.reader()
        try:
            open_compensation_cases(services, reader)
        finally:
            reader.close()
    return result
