"""Needs-based discovery over HTTP: a buyer states what it needs and reads the fitting listings and how they add
up, in the orders it chose (GET: nothing is stored); needs a buyer saves, and the new listings noticed for them."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse

from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.errors import ApiError
from node.api.labels import LABELS
from node.api.responses import Discovery, SavedNeed
from node.api.schemas import PROJECT_KINDS, NeedBody
from node.api.site import Lang, page, people_of, zone_of
from node.market.discovery import discover_listings
from node.market.listings import price_fen
from node.market.saved_needs import drop_need, save_need, saved_need, saved_needs
from registry.discovery import ORDERS, Need
from registry.units import tonnes_to_grams

router = APIRouter(tags=["listings"])
_REGION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,6}){0,2}")
_MONEY = r"^\d{1,12}(\.\d{1,2})?$"
_ORDER_HELP = "one combination per value: criteria joined by commas, '-' for descending, e.g. price or -vintage,price"


@router.get(
    "/v1/discovery",
    response_model=Discovery,
    response_model_exclude_unset=True,
    summary="Listings that fit a stated need, and combinations that fill it, in the buyer's own orders only",
)
def discovery(
    services: ServicesDep,
    reader: ReaderDep,
    quantity: Annotated[int, Query(ge=1, le=2**53, description="grams needed")],
    budget: Annotated[str | None, Query(pattern=_MONEY, description="CNY for the whole quantity")] = None,
    max_price: Annotated[str | None, Query(pattern=r"^\d{1,9}(\.\d{1,2})?$", description="CNY per tonne")] = None,
    region: Annotated[list[str] | None, Query(max_length=20)] = None,
    kind: Annotated[list[str] | None, Query(max_length=len(PROJECT_KINDS))] = None,
    vintage_from: Annotated[int | None, Query(ge=1970, le=9999)] = None,
    vintage_to: Annotated[int | None, Query(ge=1970, le=9999)] = None,
    retire_by: Annotated[int | None, Query(ge=0, le=2**40, description="unix time the buyer must retire by")] = None,
    order: Annotated[list[str] | None, Query(max_length=4, description=_ORDER_HELP)] = None,
    limit: Annotated[int, Query(ge=0, le=200)] = 50,
) -> dict[str, Any]:
    need = need_of(quantity, budget, max_price, region, kind, vintage_from, vintage_to, retire_by)
    return discover_listings(services, reader, need, [order_of(text) for text in order or ["price"]], limit=limit)


def need_of(quantity: int, budget: str | None, max_price: str | None, regions: list[str] | None,
            kinds: list[str] | None, vintage_from: int | None, vintage_to: int | None,
            retire_by: int | None) -> Need:  # fmt: skip
    """A need from what a buyer typed (its fields already within their patterns and bounds), or a 422 naming
    the field that is wrong."""
    for value in regions or ():
        if not _REGION.fullmatch(value):
            raise ApiError(422, "validation_error", f"region: {value!r} is not a region code such as CN-GD-SZ")
    for value in kinds or ():
        if value not in PROJECT_KINDS:
            raise ApiError(422, "validation_error", f"kind: {value!r} is not one of {', '.join(PROJECT_KINDS)}")
    if vintage_from is not None and vintage_to is not None and vintage_from > vintage_to:
        raise ApiError(422, "validation_error", "vintage_from: after vintage_to")
    return Need(
        grams=quantity,
        budget_fen=_fen(budget),
        regions=tuple(dict.fromkeys(regions or ())),
        vintage_from=vintage_from,
        vintage_to=vintage_to,
        kinds=tuple(dict.fromkeys(kinds or ())),
        retire_by=retire_by,
        max_price_fen=price_fen(max_price) if max_price is not None else None,
    )


@router.post(
    "/v1/needs",
    response_model=SavedNeed,
    status_code=201,
    summary="Save a need: the node notices each listing listed from now on that fits it",
)
def save(body: NeedBody, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    need = need_of(body.quantity, body.budget, body.max_price, body.regions, body.kinds, body.vintage_from,
                   body.vintage_to, body.retire_by)  # fmt: skip
    return save_need(services, caller, body.label, need)


@router.get("/v1/needs", response_model=list[SavedNeed], summary="The caller's saved needs, with new listings noticed")
def mine(caller: CallerDep, services: ServicesDep) -> list[dict[str, Any]]:
    return saved_needs(services, caller)


@router.get("/v1/needs/{need_id}", response_model=SavedNeed, summary="One of the caller's saved needs")
def one(need_id: Annotated[int, ApiPath(ge=1, le=2**53)], caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    return saved_need(services, caller, need_id)


@router.delete("/v1/needs/{need_id}", status_code=204, summary="Drop a saved need: nothing more is noticed for it")
def drop(need_id: Annotated[int, ApiPath(ge=1, le=2**53)], caller: CallerDep, services: ServicesDep) -> Response:
    drop_need(services, caller, need_id)
    return Response(status_code=204)


def _fen(cny: str | None) -> int | None:
    return None if cny is None else int(Decimal(cny) * 100)  # the pattern allows at most two decimals


def order_of(text: str) -> list[tuple[str, bool]]:
    criteria: list[tuple[str, bool]] = []
    for item in text.split(","):
        name = item.removeprefix("-")
        if name not in ORDERS or any(name == c for c, _ in criteria):
            criteria_help = f"criteria are {', '.join(ORDERS)}, each once, '-' for descending"
            raise ApiError(422, "validation_error", f"order: {text!r}: {criteria_help}")
        criteria.append((name, item.startswith("-")))
    return criteria


DISCOVERY_ORDERS = ("price", "-vintage,price", "vintage,price", "region,price", "-quantity,price")
PARTS_SHOWN = 100  # a combination's parts on the page (the JSON answer has them all)


def _retire_by(day: str, zone: ZoneInfo) -> int:
    """The end of `day` (YYYY-MM-DD) in the page's time zone: a listing must open before it."""
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=zone)
    except ValueError as error:
        raise ApiError(422, "validation_error", f"retire_by: {day!r} is not a date") from error
    return int((start + timedelta(days=1)).timestamp())


@router.get("/discover", response_class=HTMLResponse, include_in_schema=False)
def discover_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    tonnes: Annotated[str, Query(pattern=r"^(|\d{1,12}(\.\d{1,6})?)$")] = "",
    budget: Annotated[str, Query(pattern=r"^(|\d{1,12}(\.\d{1,2})?)$")] = "",
    max_price: Annotated[str, Query(pattern=r"^(|\d{1,9}(\.\d{1,2})?)$")] = "",
    region: Annotated[str, Query(max_length=200)] = "",
    kind: Annotated[list[str] | None, Query(max_length=len(PROJECT_KINDS))] = None,
    vintage_from: Annotated[str, Query(pattern=r"^(|\d{4})$")] = "",
    vintage_to: Annotated[str, Query(pattern=r"^(|\d{4})$")] = "",
    retire_by: Annotated[str, Query(pattern=r"^(|\d{4}-\d{2}-\d{2})$")] = "",
    order: Annotated[str, Query(pattern="^(" + "|".join(DISCOVERY_ORDERS) + ")$")] = "price",
    order2: Annotated[str, Query(pattern="^(|" + "|".join(DISCOVERY_ORDERS) + ")$")] = "",
    lang: Lang = "zh",
) -> HTMLResponse:
    """The buyer's need as a form (a blank field is no condition), and discovery's answer under it: the
    combinations in the orders chosen and the fitting listings, with the notice that nothing is ranked."""
    form = {"tonnes": tonnes, "budget": budget, "max_price": max_price, "region": region, "kind": kind or [],
            "vintage_from": vintage_from, "vintage_to": vintage_to, "retire_by": retire_by, "order": order,
            "order2": order2}  # fmt: skip
    found = None
    grams = tonnes_to_grams(tonnes) if tonnes else 0
    if grams > 0:
        need = need_of(
            grams,
            budget or None,
            max_price or None,
            region.upper().replace(",", " ").split(),
            kind,
            int(vintage_from) if vintage_from else None,
            int(vintage_to) if vintage_to else None,
            _retire_by(retire_by, zone_of(request)) if retire_by else None,
        )
        orders = [order_of(text) for text in dict.fromkeys(o for o in (order, order2) if o)]
        found = discover_listings(services, reader, need, orders, limit=50)
        for combination, text in zip(found["combinations"], dict.fromkeys(o for o in (order, order2) if o),
                                     strict=True):  # fmt: skip
            combination["label"] = text
    return page(
        request,
        "discover.html",
        title=LABELS[lang]["discover_title"],
        f=form,
        kinds=PROJECT_KINDS,
        orders=DISCOVERY_ORDERS,
        found=found,
        parts_shown=PARTS_SHOWN,
        people=people_of(services, reader, [row["seller"] for row in found["listings"]] if found else []),
    )
