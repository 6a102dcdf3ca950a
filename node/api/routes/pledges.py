"""Pledges over HTTP: a holder signs its consent, a bank registers, releases, declares default and enforces;
anyone reads the liens (they are on the ledger) (node.market.pledges)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as ApiPath

from node.api.deps import BankDep, CallerDep, ReaderDep, ServicesDep
from node.api.responses import PledgeRecord, SignedConsent
from node.api.routes.participants import _write
from node.api.routes.regulator import WRITE_RESPONSES
from node.api.schemas import ConsentRequest, DefaultRequest, PledgeRequest
from node.index.queries import list_pledges
from node.market.pledges import bank_pledge, checked_pledge, consent, pledge_view, reason_hash, register

router = APIRouter(prefix="/v1", tags=["pledges"])
PledgePath = Annotated[int, ApiPath(ge=1, le=2**63 - 1)]


@router.post("/pledges/consent", response_model=SignedConsent,
             summary="The holder's signed consent to a bank's lien on some of its free units")  # fmt: skip
def sign(body: ConsentRequest, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    return consent(services, reader, caller, body.model_dump())


@router.post("/pledges", responses=WRITE_RESPONSES, status_code=201,
             summary="A bank registers a pledge with the holder's consent: the units stop being free")  # fmt: skip
def new_pledge(body: PledgeRequest, caller: BankDep, services: ServicesDep, reader: ReaderDep) -> Any:
    terms, signature = checked_pledge(services, reader, caller, body.model_dump())
    sender = services.sender_for(caller.owner)
    return _write(services, caller, "pledge", body.model_dump(), lambda: register(services, sender, terms, signature),
                  201)  # fmt: skip


@router.post("/pledges/{pledge_id}/release", responses=WRITE_RESPONSES, summary="The bank frees the pledged units")
def release(pledge_id: PledgePath, caller: BankDep, services: ServicesDep, reader: ReaderDep) -> Any:
    bank_pledge(reader, caller, pledge_id, ("active", "defaulted"))
    sender = services.sender_for(caller.owner)
    return _write(services, caller, "pledge_release", {"pledge_id": pledge_id},
                  lambda: services.registry.send(sender, "releasePledge", pledge_id), 200)  # fmt: skip


@router.post("/pledges/{pledge_id}/default", responses=WRITE_RESPONSES,
             summary="The bank declares the holder in default, with a reason, its hash on chain")  # fmt: skip
def default(pledge_id: PledgePath, body: DefaultRequest, caller: BankDep, services: ServicesDep,
            reader: ReaderDep) -> Any:  # fmt: skip
    bank_pledge(reader, caller, pledge_id, ("active",))
    sender = services.sender_for(caller.owner)
    request = {"pledge_id": pledge_id, "reason": body.reason}
    reason = reason_hash(body.reason)
    return _write(services, caller, "pledge_default", request,
                  lambda: services.registry.send(sender, "declareDefault", pledge_id, reason), 200)  # fmt: skip


@router.post("/pledges/{pledge_id}/enforce", responses=WRITE_RESPONSES,
             summary="After a default, the bank takes the pledged units (a transfer)")  # fmt: skip
def enforce(pledge_id: PledgePath, caller: BankDep, services: ServicesDep, reader: ReaderDep) -> Any:
    bank_pledge(reader, caller, pledge_id, ("defaulted",))
    sender = services.sender_for(caller.owner)
    return _write(services, caller, "pledge_enforce", {"pledge_id": pledge_id},
                  lambda: services.registry.send(sender, "enforcePledge", pledge_id), 200)  # fmt: skip


@router.get(
    "/pledges", response_model=list[PledgeRecord], summary="Liens on certificates, by holder, bank, batch or state"
)
def pledges(
    reader: ReaderDep,
    holder: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    bank: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    batch_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    state: Annotated[str | None, Query(pattern=r"^(active|defaulted|released|enforced)$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    return list_pledges(connection=reader, holder=holder, bank=bank, batch_id=batch_id, state=state, limit=limit)


@router.get(
    "/pledges/{pledge_id}", response_model=PledgeRecord, summary="A pledge, with the bank's reason for a default"
)
def pledge(pledge_id: PledgePath, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    return pledge_view(services, reader, pledge_id)
