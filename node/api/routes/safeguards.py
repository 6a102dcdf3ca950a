"""Deposits, the blacklist and compensation cases over HTTP."""

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse

from node.api.deps import CallerDep, ReaderDep, RegulatorDep, ServicesDep
from node.api.errors import ApiError
from node.api.labels import LABELS
from node.api.responses import WRITE_RESPONSES, Blacklisted, BlacklistEntry, BlacklistLifted, CompensationCase, Deposits
from node.api.routes.regulator import measure
from node.api.schemas import BlacklistBody, CaseResolution, DepositBody, ReasonBody
from node.api.site import Lang, page
from node.chain.registry import ROLE_REGULATOR
from node.index.queries import get_participant
from node.market.safeguards import (
    add_to_blacklist,
    compensation_cases,
    deposits_of,
    lift_blacklist,
    public_blacklist,
    record_deposit,
    resolve_case,
)
from node.supervision.oversight import record_measure

router = APIRouter(tags=["safeguards"])
Account = Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{40}$")]


@router.post(
    "/v1/deposits",
    response_model=Deposits,
    response_model_exclude_unset=True,
    status_code=201,
    summary="Record a seller's deposit from its custodian's signed receipt",
)
def new_deposit(body: DepositBody, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    return record_deposit(services, body.model_dump())


@router.get(
    "/v1/deposits/{seller}",
    response_model=Deposits,
    response_model_exclude_unset=True,
    summary="A seller's deposits and what remains (the seller and regulators)",
)
def seller_deposits(seller: Account, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    if caller.account != seller.lower() and not caller.has(ROLE_REGULATOR):
        raise ApiError(403, "forbidden", "deposits are shown to the seller and regulators only")
    return deposits_of(services, seller.lower())


@router.post(
    "/v1/regulator/blacklist",
    response_model=Blacklisted,
    response_model_exclude_unset=True,
    responses=WRITE_RESPONSES,
    status_code=201,
    summary="Blacklist a participant: frozen on chain",
)
def blacklist(body: BlacklistBody, caller: RegulatorDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    account = body.account.lower()
    participant = get_participant(connection=reader, address=account)
    if participant is None:
        raise ApiError(404, "not_found", f"participant {account} is not registered")
    tx = None
    if participant["frozen"]:  # already frozen on chain: the blacklisting is recorded on its own
        record_measure(services, caller, account, "blacklist", body.reason)
    else:
        params = {"account": account, "frozen": True, "reason": body.reason, "kind": "blacklist"}
        tx = measure(caller, services, "blacklist", "setAccountFrozen", params, account, True).tx_hash
    add_to_blacklist(services, caller, account, body.reason)
    return {"account": account, "reason": body.reason, "freeze_tx": tx}


@router.post(
    "/v1/regulator/blacklist/{account}/lift",
    response_model=BlacklistLifted,
    response_model_exclude_unset=True,
    responses=WRITE_RESPONSES,
    summary="Lift a blacklisting: unfrozen on chain",
)
def lift(account: Account, body: ReasonBody, caller: RegulatorDep, services: ServicesDep) -> dict[str, Any]:
    lift_blacklist(services, account.lower(), body.reason)
    params = {"account": account.lower(), "frozen": False, "reason": body.reason, "kind": "blacklist_lift"}
    tx = measure(caller, services, "blacklist_lift", "setAccountFrozen", params, account.lower(), False)
    return {"account": account.lower(), "lifted": True, "unfreeze_tx": tx.tx_hash}


@router.get(
    "/v1/blacklist",
    response_model=list[BlacklistEntry],
    response_model_exclude_unset=True,
    summary="Every blacklisted participant with the reason (public)",
)
def blacklist_json(services: ServicesDep) -> list[dict[str, Any]]:
    return public_blacklist(services)


@router.get("/blacklist", response_class=HTMLResponse, include_in_schema=False)
def blacklist_page(request: Request, services: ServicesDep, lang: Lang = "zh") -> HTMLResponse:
    return page(request, "blacklist.html", title=LABELS[lang]["blacklist_title"], entries=public_blacklist(services))


@router.get(
    "/v1/compensation",
    response_model=list[CompensationCase],
    response_model_exclude_unset=True,
    summary="Compensation cases (先行赔付): a regulator sees all, a party its own",
)
def cases(caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> list[dict[str, Any]]:
    return compensation_cases(services, reader, caller)


@router.post(
    "/v1/regulator/compensation/{case_id}",
    response_model=CompensationCase,
    response_model_exclude_unset=True,
    summary="Resolve a case: compensated from the deposit, or waived",
)
def resolve(
    case_id: Annotated[int, ApiPath(ge=1, le=2**62)], body: CaseResolution, caller: RegulatorDep, services: ServicesDep
) -> dict[str, Any]:
    case = resolve_case(services, caller, case_id, body.outcome, body.amount_fen, body.note)
    services.state.log_query(
        account=caller.account, endpoint="compensation", params=body.model_dump(), outcome=f"case {case_id}"
    )
    return case
