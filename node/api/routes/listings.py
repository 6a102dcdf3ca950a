"""Listings over HTTP: a holder lists part of a batch; anyone searches and reads them (JSON and page)."""

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse

from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.errors import ApiError
from node.api.listings import create_listing, public_listing, search_listings
from node.api.prices import price_statistics
from node.api.routes.pages import _qr_svg
from node.api.schemas import PROJECT_KINDS, ListingCreate
from registry.units import format_tonnes

router = APIRouter(tags=["listings"])
ListingPath = Annotated[int, ApiPath(ge=1, le=2**62)]
Price = Annotated[str | None, Query(pattern=r"^\d{1,9}(\.\d{1,2})?$")]


@router.post("/v1/listings", status_code=201, summary="List part of a batch at the seller's own quoted price")
def new_listing(body: ListingCreate, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    return create_listing(services, reader, caller.account, body.model_dump())


@router.get("/v1/listings", summary="Search listings by what a buyer needs; sorted only by the buyer's choice")
def find_listings(
    services: ServicesDep,
    reader: ReaderDep,
    status: Annotated[str | None, Query(pattern=r"^(open|suspended|scheduled|expired|withdrawn)$")] = "open",
    project_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    vintage: Annotated[int | None, Query(ge=1970, le=9999)] = None,
    verifier: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    region: Annotated[str | None, Query(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,6}){0,2}$")] = None,
    kind: Annotated[str | None, Query(pattern="^(" + "|".join(PROJECT_KINDS) + ")$")] = None,
    min_quantity: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    min_price: Price = None,
    max_price: Price = None,
    sort: Annotated[str, Query(pattern=r"^(price|quantity|newest|vintage)$")] = "newest",
    descending: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    return search_listings(
        services,
        reader,
        status=status,
        project_id=project_id,
        vintage=vintage,
        verifier=verifier,
        region=region,
        kind=kind,
        min_quantity=min_quantity,
        min_price=min_price,
        max_price=max_price,
        sort=sort,
        descending=descending,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/v1/market/prices",
    summary="Price statistics of delivered deals per closed month, vintage and kind (groups of 5 or more)",
)
def market_prices(services: ServicesDep) -> list[dict[str, Any]]:
    return price_statistics(services)


@router.get("/v1/listings/{listing_id}", summary="A listing with everything a buyer needs to judge it")
def listing(listing_id: ListingPath, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    return public_listing(services, reader, listing_id)


@router.delete("/v1/listings/{listing_id}", summary="The seller withdraws its listing")
def withdraw(listing_id: ListingPath, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    record = public_listing(services, reader, listing_id)
    if record["seller"] != caller.account:
        raise ApiError(403, "forbidden", "only the seller withdraws its listing")
    services.state.withdraw_listing(listing_id)
    return public_listing(services, reader, listing_id)


@router.get("/listings/{listing_id}", response_class=HTMLResponse, include_in_schema=False)
def listing_page(listing_id: ListingPath, services: ServicesDep, reader: ReaderDep, lang: str = "zh") -> HTMLResponse:
    record = public_listing(services, reader, listing_id)
    zh = lang != "en"
    labels = (
        ("挂牌", "状态", "数量", "卖方报价（元/吨）", "最小成交量", "核查机构", "证据根哈希", "溯源", "风险提示")
        if zh
        else (
            "Listing",
            "Status",
            "Quantity",
            "Seller's quote (CNY/t)",
            "Minimum lot",
            "Verifier",
            "Evidence root",
            "Provenance",
            "Risk statement",
        )
    )
    batch = record["batch"]
    rows = [
        (labels[1], f"{record['status']} {record['status_reason']}"),
        (labels[2], f"{format_tonnes(record['quantity'])} tCO2e"),
        (labels[3], record["price_cny_per_tonne"]),
        (labels[4], f"{format_tonnes(record['min_lot'])} tCO2e"),
        (labels[5], batch["verifier"]),
        (labels[6], batch["evidence_root"]),
    ]
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows)
    page = (
        f"<!doctype html><html lang='{'zh-CN' if zh else 'en'}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>listing</title></head><body>"
        f"<h1 id='title'>{labels[0]} #{record['id']}: {escape(record['title'])}</h1>"
        f"<p>{escape(record['description'])}</p><dl>{body}</dl>"
        f"<p><a href='{escape(record['provenance'])}'>{labels[7]}</a></p>"
        f"<p id='risk'><strong>{labels[8]}</strong>: {escape(record['risk_statement']['zh' if zh else 'en'])}</p>"
        f"<div class='qr'>{_qr_svg(services.settings.base_url + f'/listings/{listing_id}')}</div></body></html>"
    )
    return HTMLResponse(page)
