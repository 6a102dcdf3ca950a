"""Checkout offsets over HTTP: offset a list of orders, and each order's certificate (JSON, page, QR)."""

from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request, Response
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.errors import ApiError
from node.api.labels import LABELS
from node.api.responses import IMAGES, WRITE_RESPONSES, Offset, OffsetLeaves, OrderCertificate
from node.api.routes.pages import proof_certificate_page
from node.api.routes.public import _qr
from node.api.site import Lang
from node.offsets.orders import certificate, offset_leaves, offset_orders
from registry.merkle import InclusionProof
from registry.offsets import verify_order
from registry.units import format_co2e

router = APIRouter(tags=["offsets"])
OrderId = Annotated[str, ApiPath(min_length=1, max_length=128)]

_ORDERS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["orders"],
                    "additionalProperties": False,
                    "properties": {
                        "region": {"type": "string", "maxLength": 16, "pattern": "^[A-Za-z0-9-]*$"},
                        "orders": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 200000,
                            "items": {
                                "type": "object",
                                "required": ["order_id", "legs"],
                                "additionalProperties": False,
                                "properties": {
                                    "order_id": {"type": "string", "minLength": 1, "maxLength": 128},
                                    "legs": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {
                                            "type": "object",
                                            "required": ["mode", "distance_km", "weight_kg"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "mode": {
                                                    "type": "string",
                                                    "enum": ["road", "van", "rail", "ship", "inland_waterway"],
                                                },
                                                "distance_km": {"type": "number", "exclusiveMinimum": 0},
                                                "weight_kg": {"type": "number", "exclusiveMinimum": 0},
                                                "dims_cm": {
                                                    "type": "array",
                                                    "minItems": 3,
                                                    "maxItems": 3,
                                                    "items": {"type": "number", "exclusiveMinimum": 0},
                                                },
                                            },
                                        },
                                    },
                                    "packaging": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["material", "mass_kg"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "material": {
                                                    "type": "string",
                                                    "enum": ["corrugated_board", "ldpe_film"],
                                                },
                                                "mass_kg": {"type": "number", "minimum": 0},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/v1/offsets/logistics",
    response_model=Offset,
    response_model_exclude_unset=True,
    responses=WRITE_RESPONSES,
    status_code=201,
    openapi_extra=_ORDERS_BODY,
    summary="Offset orders' delivery footprints: one retirement under a Merkle root of the orders",
)
async def offset_logistics(
    request: Request, caller: CallerDep, services: ServicesDep, reader: ReaderDep
) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError(422, "validation_error", "body: not JSON") from None
    if not isinstance(body, dict) or set(body) - {"orders", "region"}:
        raise ApiError(422, "validation_error", "body: an object with orders (and region)")
    return await run_in_threadpool(offset_orders, services, reader, caller.account, caller.owner.key_name, body)


@router.get(
    "/v1/offsets/{offset_id}/orders",
    response_class=Response,
    responses={200: {"model": OffsetLeaves}},
    summary="Every order of an offset with its grams (rebuild the tree)",
)
def offset_orders_list(offset_id: Annotated[int, ApiPath(ge=1, le=2**62)], services: ServicesDep) -> Response:
    return Response(orjson.dumps(offset_leaves(services, offset_id)), media_type="application/json")


@router.get(
    "/v1/offsets/orders/{order_id}",
    response_model=OrderCertificate,
    response_model_exclude_unset=True,
    summary="An order's zero-carbon delivery certificate, with its proof",
)
def order_certificate(order_id: OrderId, services: ServicesDep) -> dict[str, Any]:
    return certificate(services, order_id)


@router.get(
    "/v1/qr/offsets/{order_id}.{image}",
    response_class=Response,
    responses={200: {"content": IMAGES}},
    summary="QR code of an order's certificate page",
)
def order_qr(
    order_id: OrderId, image: Annotated[str, ApiPath(pattern=r"^(svg|png)$")], services: ServicesDep
) -> Response:
    record = certificate(services, order_id)
    return _qr(record["page"], image)


@router.get("/offsets/orders/{order_id}", response_class=HTMLResponse, include_in_schema=False)
def order_page(
    request: Request,
    order_id: OrderId,
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
) -> HTMLResponse:
    record = certificate(services, order_id)
    ok = verify_order(
        order_id, record["grams"], InclusionProof.from_dict(record["proof"]), bytes.fromhex(record["root"][2:])
    )
    t = LABELS[lang]
    return proof_certificate_page(
        request,
        reader,
        heading=t["order_certificate"],
        verified=ok,
        verified_text=t["order_verified"],
        rows=[
            (t["order_id"], order_id, "order"),
            (t["order_offset"], format_co2e(record["grams"]), "grams"),
            (t["merkle_root"], record["root"], "root"),
        ],
        retirements=record["retirements"],
        proof=record["proof"],
        download=f"/v1/offsets/orders/{quote(order_id, safe='')}",
        download_name=f"order-{order_id}.json",
        url=record["page"],
    )
