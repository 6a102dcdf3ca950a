"""Listings over HTTP: a holder lists part of a batch; anyone searches and reads them (JSON and page)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse, Response

from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.errors import ApiError
from node.api.labels import LABELS
from node.api.responses import IMAGES, LISTING_LINKS, Listing, PriceStatistics
from node.api.routes.pages import _qr_svg
from node.api.routes.public import _qr as qr_image
from node.api.schemas import PROJECT_KINDS, ListingCreate
from node.api.site import Lang, page, people_of
from node.market.listings import create_listing, delivered_parts, public_listing, search_listings
from node.market.prices import MIN_DEALS, price_statistics
from node.projects.profiles import project_profile
from registry.units import tonnes_to_grams

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


@router.get("/prices", response_class=HTMLResponse, include_in_schema=False)
def prices_page(request: Request, services: ServicesDep, lang: Lang = "zh") -> HTMLResponse:
    return page(request, "prices.html", title=LABELS[lang]["prices_title"], rows=price_statistics(services),
                min_deals=MIN_DEALS)  # fmt: skip


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


MARKET_PAGE = 50


@router.get("/market", response_class=HTMLResponse, include_in_schema=False)
def market_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    project_id: Annotated[str, Query(pattern=r"^(|\d{1,10})$")] = "",
    region: Annotated[str, Query(pattern=r"^(|[A-Za-z]{2}(-[A-Za-z0-9]{1,6}){0,2})$")] = "",
    kind: Annotated[str, Query(pattern="^(|" + "|".join(PROJECT_KINDS) + ")$")] = "",
    vintage: Annotated[str, Query(pattern=r"^(|\d{4})$")] = "",
    verifier: Annotated[str, Query(pattern=r"^(|0x[0-9a-fA-F]{40})$")] = "",
    min_tonnes: Annotated[str, Query(pattern=r"^(|\d{1,12}(\.\d{1,6})?)$")] = "",
    min_price: Annotated[str, Query(pattern=r"^(|\d{1,9}(\.\d{1,2})?)$")] = "",
    max_price: Annotated[str, Query(pattern=r"^(|\d{1,9}(\.\d{1,2})?)$")] = "",
    sort: Annotated[str, Query(pattern=r"^(price|quantity|newest|vintage)$")] = "newest",
    descending: bool = False,
    page_number: Annotated[int, Query(alias="page", ge=1, le=200_000)] = 1,
    lang: Lang = "zh",
) -> HTMLResponse:
    """Open listings for a buyer, by the same search as GET /v1/listings, a page of 50 at a time; a blank
    field of the form is no filter."""
    rows = search_listings(
        services,
        reader,
        status="open",
        project_id=int(project_id) if project_id else None,
        vintage=int(vintage) if vintage else None,
        verifier=verifier or None,
        region=region.upper() or None,
        kind=kind or None,
        min_quantity=tonnes_to_grams(min_tonnes) if min_tonnes and tonnes_to_grams(min_tonnes) > 0 else None,
        min_price=min_price or None,
        max_price=max_price or None,
        sort=sort,
        descending=descending,
        limit=MARKET_PAGE + 1,
        offset=(page_number - 1) * MARKET_PAGE,
    )
    filters = {"project_id": project_id, "region": region, "kind": kind, "vintage": vintage, "verifier": verifier,
               "min_tonnes": min_tonnes, "min_price": min_price, "max_price": max_price, "sort": sort,
               "descending": descending}  # fmt: skip
    return page(
        request,
        "market.html",
        title=LABELS[lang]["market_title"],
        f=filters,
        kinds=PROJECT_KINDS,
        sorts=("newest", "price", "quantity", "vintage"),
        rows=rows[:MARKET_PAGE],
        more=len(rows) > MARKET_PAGE,
        people=people_of(services, reader, [row["seller"] for row in rows]),
        page_number=page_number,
    )


@router.get("/listings/{listing_id}", response_class=HTMLResponse, include_in_schema=False)
def listing_page(
    request: Request,
    listing_id: ListingPath,
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
) -> HTMLResponse:
    record = public_listing(services, reader, listing_id)
    batch = record["batch"]
    return page(
        request,
        "listing.html",
        title=f"{LABELS[lang]['listing']} #{listing_id}",
        l=record,
        batch=batch,
        profile=project_profile(services, batch["project_id"]) if batch else None,
        delivered=sum(delivered_parts(services, listing_id).values()),
        people=people_of(services, reader, [record["seller"], batch["verifier"] if batch else ""]),
        qr_svg=_qr_svg(f"{services.settings.base_url}/listings/{listing_id}"),
    )
