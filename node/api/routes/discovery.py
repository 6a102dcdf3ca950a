"""Needs-based discovery over HTTP: a buyer states what it needs and reads the fitting listings and how they add
up, in the orders it chose (GET: nothing is stored)."""

import re
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query

from node.api.deps import ReaderDep, ServicesDep
from node.api.errors import ApiError
from node.api.responses import Discovery
from node.api.schemas import PROJECT_KINDS
from node.market.discovery import discover_listings
from node.market.listings import price_fen
from registry.discovery import ORDERS, Need

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
    regions = tuple(region or ())
    kinds = tuple(kind or ())
    for value in regions:
        if not _REGION.fullmatch(value):
            raise ApiError(422, "validation_error", f"region: {value!r} is not a region code such as CN-GD-SZ")
    for value in kinds:
        if value not in PROJECT_KINDS:
            raise ApiError(422, "validation_error", f"kind: {value!r} is not one of {', '.join(PROJECT_KINDS)}")
    if vintage_from is not None and vintage_to is not None and vintage_from > vintage_to:
        raise ApiError(422, "validation_error", "vintage_from: after vintage_to")
    need = Need(
        grams=quantity,
        budget_fen=_fen(budget),
        regions=regions,
        vintage_from=vintage_from,
        vintage_to=vintage_to,
        kinds=kinds,
        retire_by=retire_by,
        max_price_fen=price_fen(max_price) if max_price is not None else None,
    )
    return discover_listings(services, reader, need, [_order(text) for text in order or ["price"]], limit=limit)


def _fen(cny: str | None) -> int | None:
    return None if cny is None else int(Decimal(cny) * 100)  # the pattern allows at most two decimals


def _order(text: str) -> list[tuple[str, bool]]:
    criteria: list[tuple[str, bool]] = []
    for item in text.split(","):
        name = item.removeprefix("-")
        if name not in ORDERS or any(name == c for c, _ in criteria):
            criteria_help = f"criteria are {', '.join(ORDERS)}, each once, '-' for descending"
            raise ApiError(422, "validation_error", f"order: {text!r}: {criteria_help}")
        criteria.append((name, item.startswith("-")))
    return criteria
