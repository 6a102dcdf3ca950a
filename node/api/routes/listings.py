"""Listings over HTTP: a holder lists part of a batch; anyone searches and reads them (JSON and page)."""

import time
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse, Response

from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.errors import ApiError
from node.api.responses import IMAGES, LISTING_LINKS, Listing, PriceStatistics
from node.api.routes.pages import _qr_svg
from node.api.routes.public import _qr as qr_image
from node.api.schemas import PROJECT_KINDS, ListingCreate
from node.market.listings import create_listing, public_listing, search_listings
from node.market.prices import price_statistics
from node.projects.profiles import project_profile
from registry.units import format_tonnes

router = APIRouter(tags=["listings"])
ListingPath = Annotated[int, ApiPath(ge=1, le=2**62)]
Price = Annotated[str | None, Query(pattern=r"^\d{1,9}(\.\d{1,2})?$")]


@router.post(
    "/v1/listings",
    response_model=Listing,
    responses=LISTING_LINKS,
    response_model_exclude_unset=True,
    status_code=201,
    summary="List part of a batch at the seller's own quoted price",
)
def new_listing(body: ListingCreate, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    return create_listing(services, reader, caller.account, body.model_dump())


@router.get(
    "/v1/listings",
    response_model=list[Listing],
    response_model_exclude_unset=True,
    summary="Search listings by what a buyer needs; sorted only by the buyer's choice",
)
def find_listings(
    services: ServicesDep,
    reader: ReaderDep,
    status: Annotated[
        str | None, Query(pattern=r"^(open|suspended|scheduled|under_review|expired|withdrawn)$")
    ] = "open",
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
    response_model=list[PriceStatistics],
    response_model_exclude_unset=True,
    summary="Price statistics of delivered deals per closed month, vintage and kind (groups of 5 or more)",
)
def market_prices(services: ServicesDep) -> list[dict[str, Any]]:
    return price_statistics(services)


@router.get(
    "/v1/listings/{listing_id}",
    response_model=Listing,
    response_model_exclude_unset=True,
    summary="A listing with everything a buyer needs to judge it",
)
def listing(listing_id: ListingPath, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    return public_listing(services, reader, listing_id)


@router.delete(
    "/v1/listings/{listing_id}",
    response_model=Listing,
    response_model_exclude_unset=True,
    summary="The seller withdraws its listing",
)
def withdraw(listing_id: ListingPath, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    record = public_listing(services, reader, listing_id)
    if record["seller"] != caller.account:
        raise ApiError(403, "forbidden", "only the seller withdraws its listing")
    services.state.withdraw_listing(listing_id)
    return public_listing(services, reader, listing_id)


@router.get(
    "/v1/qr/listings/{listing_id}.{image}",
    response_class=Response,
    responses={200: {"content": IMAGES}},
    summary="QR code (SVG or PNG) of a listing's page",
)
def listing_qr(
    listing_id: ListingPath,
    image: Annotated[str, ApiPath(pattern=r"^(svg|png)$")],
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    public_listing(services, reader, listing_id)
    return qr_image(f"{services.settings.base_url}/listings/{listing_id}", image)


_LABELS = {
    "zh": {
        "listing": "挂牌", "status": "状态", "quantity": "数量", "price": "卖方报价（元/吨）",
        "min_lot": "最小成交量", "seller": "卖方", "project": "项目", "method": "核算方法",
        "computed": "核算碳汇量", "verifier": "核查机构", "evidence": "证据根哈希", "attestation": "证据签名证明",
        "provenance": "完整溯源", "risk": "风险提示", "constituents": "打包组成", "validity": "有效期",
    },
    "en": {
        "listing": "Listing", "status": "Status", "quantity": "Quantity", "price": "Seller's quote (CNY/t)",
        "min_lot": "Minimum lot", "seller": "Seller", "project": "Project", "method": "Accounting method",
        "computed": "Computed sink", "verifier": "Verifier", "evidence": "Evidence root",
        "attestation": "Evidence attestation", "provenance": "Full provenance", "risk": "Risk statement",
        "constituents": "Bundle constituents", "validity": "Valid",
    },
}  # fmt: skip


@router.get("/listings/{listing_id}", response_class=HTMLResponse, include_in_schema=False)
def listing_page(listing_id: ListingPath, services: ServicesDep, reader: ReaderDep, lang: str = "zh") -> HTMLResponse:
    record = public_listing(services, reader, listing_id)
    zh = lang != "en"
    label = _LABELS["zh" if zh else "en"]
    batch = record["batch"]
    profile = project_profile(services, batch["project_id"]) if batch else None
    project = f"#{batch['project_id']}" + (
        f" {profile['name']} ({profile['region']}, {profile['kind']})" if profile else ""
    )
    accounting = record["accounting"] or {}
    base = services.settings.base_url
    rows = [
        ("status", f"{record['status']} {record['status_reason']}".strip()),
        ("quantity", f"{format_tonnes(record['quantity'])} tCO2e"),
        ("price", record["price_cny_per_tonne"]),
        ("min_lot", f"{format_tonnes(record['min_lot'])} tCO2e"),
        ("validity", f"{_day(record['valid_from'])} – {_day(record['valid_until'])}"),
        ("seller", record["seller"]),
        ("project", project),
        ("method", accounting.get("method", "")),
        ("computed", f"{format_tonnes(accounting['creditable_grams'])} tCO2e" if accounting else ""),
        ("verifier", batch["verifier"]),
        ("evidence", batch["evidence_root"]),
    ]
    body = "".join(f"<dt>{escape(label[k])}</dt><dd id='{k}'>{escape(str(v))}</dd>" for k, v in rows)
    links = (
        f"<p><a id='provenance' href='{escape(record['provenance'])}'>{label['provenance']}</a> · "
        f"<a id='attestation' href='{base}/v1/evidence/{batch['evidence_root']}'>{label['attestation']}</a></p>"
    )
    parts = ""
    if record["bundle"]:
        items = "".join(
            f"<li><a href='{escape(c['provenance'])}'>#{c['batch_id']}</a> {format_tonnes(c['quantity'])} tCO2e</li>"
            for c in record["constituents"]
        )
        parts = f"<h2>{label['constituents']}</h2><ul id='constituents'>{items}</ul>"
    other = f"?lang={'en' if zh else 'zh'}"
    page = (
        f"<!doctype html><html lang='{'zh-CN' if zh else 'en'}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>listing</title></head><body>"
        f"<p><a href='{other}'>{'English' if zh else '中文'}</a></p>"
        f"<h1 id='title'>{label['listing']} #{record['id']}: {escape(record['title'])}</h1>"
        f"<p>{escape(record['description'])}</p><dl>{body}</dl>{links}{parts}"
        f"<p id='risk'><strong>{label['risk']}</strong>: {escape(record['risk_statement']['zh' if zh else 'en'])}</p>"
        f"<div class='qr'>{_qr_svg(base + f'/listings/{listing_id}')}</div></body></html>"
    )
    return HTMLResponse(page)


def _day(at: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))
