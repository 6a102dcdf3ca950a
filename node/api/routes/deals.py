"""Offers, deals, custodian receipts and delivery over HTTP (parties and regulators only)."""

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as ApiPath

from node.api.deps import AdminDep, CallerDep, ReaderDep, RegulatorDep, ServicesDep
from node.api.errors import ApiError
from node.api.responses import OFFER_LINKS, WRITE_RESPONSES, Custodian, Deal, Offer
from node.api.schemas import CustodianCreate, DisputeBody, OfferAnswer, OfferCreate, ReceiptBody, ResolveBody
from node.chain.registry import ROLE_REGULATOR
from node.market.custody import record_custodian
from node.market.deals import (
    answer_offer,
    cancel_deal,
    deal_view,
    deals_of,
    deliver,
    make_offer,
    offer_view,
    open_dispute,
    record_receipt,
    resolve_dispute,
)
from node.market.listings import public_listing

router = APIRouter(prefix="/v1", tags=["deals"])
Id = Annotated[int, ApiPath(ge=1, le=2**62)]


@router.post(
    "/admin/custodians",
    response_model=Custodian,
    response_model_exclude_unset=True,
    status_code=201,
    summary="Record a bank custodian whose receipts the node accepts",
)
def add_custodian(body: CustodianCreate, caller: AdminDep, services: ServicesDep) -> dict[str, Any]:
    return record_custodian(services, caller, body.address, body.name)


@router.post(
    "/listings/{listing_id}/offers",
    response_model=Offer,
    responses=OFFER_LINKS,
    response_model_exclude_unset=True,
    status_code=201,
    summary="A buyer's offer on a listing",
)
def offer(listing_id: Id, body: OfferCreate, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    return make_offer(services, reader, caller, listing_id, body.model_dump())


@router.get(
    "/offers/{offer_id}",
    response_model=Offer,
    response_model_exclude_unset=True,
    summary="An offer (its buyer, the listing's seller, regulators)",
)
def get_offer(offer_id: Id, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    found = offer_view(services, offer_id)
    seller = public_listing(services, reader, found["listing_id"])["seller"]
    if caller.account not in (found["buyer"], seller) and not caller.has(ROLE_REGULATOR):
        raise ApiError(403, "forbidden", "an offer is visible to its two parties and regulators only")
    return found


@router.post(
    "/offers/{offer_id}/answer",
    response_model=Offer | Deal,
    response_model_exclude_unset=True,
    summary="Accept, reject or counter (the seller), or accept a counter (the buyer)",
)
def answer(offer_id: Id, body: OfferAnswer, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    counter = {"price": body.price} if body.price else None
    return answer_offer(services, reader, caller, offer_id, body.action, counter)


@router.get(
    "/me/deals",
    response_model=list[Deal],
    response_model_exclude_unset=True,
    summary="The caller's deals as a party (a regulator: every deal), newest first",
)
def my_deals(caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> list[dict]:
    return deals_of(services, reader, caller)


@router.get(
    "/deals/{deal_id}",
    response_model=Deal,
    response_model_exclude_unset=True,
    summary="A deal: parties, terms, receipt, delivery and every step",
)
def get_deal(deal_id: Id, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    return deal_view(services, reader, caller, deal_id)


@router.post(
    "/deals/{deal_id}/receipt",
    response_model=Deal,
    response_model_exclude_unset=True,
    summary="The custodian's signed payment receipt (EIP-712)",
)
def receipt(deal_id: Id, body: ReceiptBody, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    return record_receipt(services, reader, caller, deal_id, body.model_dump())


@router.post(
    "/deals/{deal_id}/deliver",
    response_model=Deal,
    response_model_exclude_unset=True,
    responses=WRITE_RESPONSES,
    summary="The seller's transfer, carrying the deal reference",
)
def deliver_deal(deal_id: Id, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    return deliver(services, reader, caller, deal_id)


@router.post(
    "/deals/{deal_id}/cancel",
    response_model=Deal,
    response_model_exclude_unset=True,
    summary="A party cancels a deal before payment",
)
def cancel(deal_id: Id, body: DisputeBody, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    return cancel_deal(services, reader, caller, deal_id, body.reason)


@router.post(
    "/deals/{deal_id}/dispute",
    response_model=Deal,
    response_model_exclude_unset=True,
    summary="A party opens a dispute (交易纠纷) with a reason",
)
def dispute(deal_id: Id, body: DisputeBody, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    return open_dispute(services, reader, caller, deal_id, body.reason)


@router.post(
    "/deals/{deal_id}/resolve",
    response_model=Deal,
    response_model_exclude_unset=True,
    summary="A mediator records a dispute's outcome",
)
def resolve(deal_id: Id, body: ResolveBody, caller: RegulatorDep, services: ServicesDep, reader: ReaderDep) -> dict:
    refund = body.refund.model_dump() if body.refund else None
    return resolve_dispute(services, reader, caller, deal_id, body.outcome, body.note, refund, body.against)
