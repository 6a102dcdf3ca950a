"""Subscription campaigns over HTTP: opened by a seller, subscribed in bulk by channels, paid through a
custodian's settlement receipts, retired once, with a certificate and proof per subscriber."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi import Path as ApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.labels import LABELS
from node.api.responses import (
    CAMPAIGN_LINKS,
    IMAGES,
    WRITE_RESPONSES,
    Campaign,
    CertificatePage,
    SubscriptionCertificate,
    SubscriptionsAdded,
)
from node.api.routes.pages import proof_certificate_page
from node.api.routes.public import _qr as qr_image
from node.api.schemas import CampaignCreate, SettlementReceipt, SubscriptionIn, SubscriptionsBody
from node.api.site import Lang
from node.index.queries import get_retirement
from node.market.campaigns import (
    campaign_view,
    certificate,
    certificates,
    close_campaign,
    open_campaign,
    record_payments,
    subscribe,
)
from registry.campaigns import verify_subscriber
from registry.merkle import InclusionProof
from registry.units import format_co2e

router = APIRouter(tags=["campaigns"])
Id = Annotated[int, ApiPath(ge=1, le=2**62)]


@router.post(
    "/v1/listings/{listing_id}/campaign",
    response_model=Campaign,
    responses=CAMPAIGN_LINKS,
    response_model_exclude_unset=True,
    status_code=201,
    summary="The seller opens a subscription campaign",
)
def new_campaign(
    listing_id: Id, body: CampaignCreate, caller: CallerDep, services: ServicesDep, reader: ReaderDep
) -> dict[str, Any]:
    return open_campaign(services, reader, caller, listing_id, body.target, body.deadline)


@router.get(
    "/v1/campaigns/{campaign_id}",
    response_model=Campaign,
    response_model_exclude_unset=True,
    summary="A campaign: target, deadline, state and totals (public)",
)
def campaign(campaign_id: Id, services: ServicesDep) -> dict[str, Any]:
    return campaign_view(services, campaign_id)


_SUBSCRIPTIONS_SCHEMA = {
    "type": "object",
    "properties": {
        "subscriptions": {
            "type": "array",
            "items": SubscriptionIn.model_json_schema(),
            "minItems": 1,
            "maxItems": 20_000,
        }
    },
    "required": ["subscriptions"],
    "additionalProperties": False,
}


@router.post(
    "/v1/campaigns/{campaign_id}/subscriptions",
    response_model=SubscriptionsAdded,
    response_model_exclude_unset=True,
    status_code=201,
    summary="Subscriptions in bulk (up to 20,000 a request), all or nothing, never past the target",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _SUBSCRIPTIONS_SCHEMA}}}
    },
)
async def new_subscriptions(
    campaign_id: Id, request: Request, caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    # Bulk bodies are validated straight from the bytes (pydantic's JSON parser), not through the
    # standard-library decoder and per-field Python validation FastAPI would use: 20,000 entries a request.
    try:
        body = SubscriptionsBody.model_validate_json(await request.body())
    except ValidationError as invalid:
        raise RequestValidationError(invalid.errors(include_url=False)) from None
    return await run_in_threadpool(subscribe, services, caller, campaign_id, body.subscriptions)


@router.post(
    "/v1/campaigns/{campaign_id}/receipts",
    response_model=Campaign,
    response_model_exclude_unset=True,
    responses=WRITE_RESPONSES,
    summary="A custodian's settlement receipt covering many subscriptions (Merkle root of (id, amount))",
)
async def settlement(
    campaign_id: Id, body: SettlementReceipt, caller: CallerDep, services: ServicesDep, reader: ReaderDep
) -> dict[str, Any]:
    return await run_in_threadpool(record_payments, services, reader, campaign_id, body.model_dump())


@router.post(
    "/v1/campaigns/{campaign_id}/close",
    response_model=Campaign,
    response_model_exclude_unset=True,
    responses=WRITE_RESPONSES,
    summary="The seller closes early: what is paid is retired",
)
def close(campaign_id: Id, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    return close_campaign(services, reader, caller, campaign_id)


@router.get(
    "/v1/campaigns/{campaign_id}/certificates",
    response_class=Response,
    responses={200: {"model": CertificatePage}},
    summary="Every subscriber's certificate, a page at a time",
)
def campaign_certificates(
    campaign_id: Id,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 1000,
) -> Response:
    # Pages of thousands of certificates: serialised directly, without FastAPI's per-field encoder.
    return Response(orjson.dumps(certificates(services, campaign_id, after, limit)), media_type="application/json")


@router.get(
    "/v1/campaigns/{campaign_id}/subscriptions/{subscription_id}",
    response_model=SubscriptionCertificate,
    response_model_exclude_unset=True,
    summary="A subscriber's certificate",
)
def subscription_certificate(campaign_id: Id, subscription_id: Id, services: ServicesDep) -> dict[str, Any]:
    return certificate(services, campaign_id, subscription_id)


@router.get(
    "/v1/qr/campaigns/{campaign_id}/subscriptions/{subscription_id}.{image}",
    response_class=Response,
    responses={200: {"content": IMAGES}},
    summary="QR code (SVG or PNG) of a subscriber's certificate page",
)
def certificate_qr(
    campaign_id: Id, subscription_id: Id, image: Annotated[str, ApiPath(pattern=r"^(svg|png)$")], services: ServicesDep
) -> Response:
    certificate(services, campaign_id, subscription_id)
    return qr_image(f"{services.settings.base_url}/campaigns/{campaign_id}/subscriptions/{subscription_id}", image)


@router.get(
    "/campaigns/{campaign_id}/subscriptions/{subscription_id}", response_class=HTMLResponse, include_in_schema=False
)
def certificate_page(
    request: Request,
    campaign_id: Id,
    subscription_id: Id,
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
) -> HTMLResponse:
    record = certificate(services, campaign_id, subscription_id)
    t = LABELS[lang]
    retired = record["state"] == "retired"
    verified = None
    if retired:
        proof = InclusionProof.from_dict(record["proof"])
        verified = verify_subscriber(record["subscriber"], record["grams"], proof, bytes.fromhex(record["root"][2:]))
    state = t["subscription_states"].get(record["state"].replace(" ", "_"), record["state"])
    rows = [
        (t["subscriber"], record["subscriber"], "subscriber"),
        (t["subscribed"], format_co2e(record["grams"]), "grams"),
        (t["status"], state, "state"),
    ]
    if retired:
        rows += [(t["points"], f"{record['points']:,}", "points"), (t["merkle_root"], record["root"], "root")]
    return proof_certificate_page(
        request,
        reader,
        heading=t["subscription_certificate"],
        verified=verified,
        verified_text=t["subscription_verified"],
        rows=rows,
        retirements=[{"retirement_id": record["retirement_id"], "batch_id": record["batch_id"],
                      "amount": _retired_amount(reader, record["retirement_id"]), "tx_hash": record["tx_hash"]}]
        if retired else [],
        proof=record["proof"] if retired else None,
        download=f"/v1/campaigns/{campaign_id}/subscriptions/{subscription_id}",
        download_name=f"subscription-{campaign_id}-{subscription_id}.json",
        url=f"{services.settings.base_url}/campaigns/{campaign_id}/subscriptions/{subscription_id}",
    )  # fmt: skip


def _retired_amount(reader: Any, retirement_id: int) -> int | None:
    found = get_retirement(connection=reader, retirement_id=retirement_id)
    return found["amount"] if found is not None else None
