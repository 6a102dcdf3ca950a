"""Needs-based discovery over the node's open listings (the rule itself: registry.discovery).

The open listings, with what deals and campaigns already hold taken off each, are held in memory as columns
(node.market.listing_columns): a need masks them (registry.discovery.fits), each order sorts what fits, and the
fill (registry.discovery.combine) reads each order only as far as the need takes it. The
answer names the listings and every combination's parts, totals and provenance, and says that the platform
ranks, prices and matches nothing.
"""

import sqlite3
import time
from decimal import Decimal
from typing import Any

from node.market.listing_columns import listing_columns
from node.services import Services
from registry.discovery import Combination, Need, Offer, combine

NOTICE = {
    "zh": "以下结果只按您选择的条件排列；平台不评价、不推荐、不定价、不撮合，也不代收资金。"
    "组合是按您选择的顺序依次取量的结果，每笔交易仍需与各卖方自行协商。",
    "en": "Results are ordered only by the criteria you chose; the platform does not rate, recommend, price or match, "
    "and holds no money. A combination is what filling your need in your chosen order gives; each deal is still "
    "negotiated with its seller.",
}


def _cny(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def offer_of(row: Any) -> Offer:
    """A listing row, with its `available` grams, as registry.discovery sees it."""
    return Offer(
        listing_id=row["id"],
        available=row["available"],
        min_lot=row["min_lot"],
        price_fen=row["price_fen_per_tonne"],
        vintage=row["vintage"],
        region=row["region"],
        kind=row["kind"],
        project_id=row["project_id"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
    )


def listing_summary(row: dict[str, Any], base: str) -> dict[str, Any]:
    """A fitting listing as discovery shows it: the listing's own facts, with links to its full disclosure."""
    return {
        "id": row["id"],
        "seller": row["seller"],
        "title": row["title"],
        "quantity": row["quantity"],
        "available": row["available"],
        "min_lot": row["min_lot"],
        "price_cny_per_tonne": _cny(row["price_fen_per_tonne"]),
        "vintage": row["vintage"],
        "region": row["region"],
        "kind": row["kind"],
        "project_id": row["project_id"],
        "batch_id": row["batch_id"],
        "verifier": row["verifier"],
        "bundle": bool(row["bundle"]),
        "valid_from": row["valid_from"],
        "valid_until": row["valid_until"],
        "listing": f"{base}/listings/{row['id']}",
        "provenance": f"{base}/batches/{row['batch_id']}",
    }


def _combination(combination: Combination) -> dict[str, Any]:
    average = combination.average_price_fen
    return {
        "order": [{"by": by, "descending": descending} for by, descending in combination.order],
        "parts": [
            {"listing_id": part.listing_id, "quantity": part.grams, "cost_cny": _cny(part.cost_fen)}
            for part in combination.parts
        ],
        "quantity": combination.grams,
        "cost_cny": _cny(combination.cost_fen),
        "average_price_cny_per_tonne": None if average is None else _cny(average),
        "covers": combination.covers,
        "within_budget": combination.within_budget,
        "surplus": combination.surplus_grams,
        "regions": list(combination.regions),
        "vintages": list(combination.vintages),
        "projects": list(combination.projects),
    }


def discover_listings(services: Services, reader: sqlite3.Connection, need: Need,
                      orders: list[list[tuple[str, bool]]], *, limit: int = 50) -> dict[str, Any]:  # fmt: skip
    """The fitting listings (the first `limit` of them, in the first order asked for, as buyers see listings)
    and one combination per order, over the listings held in memory (node.market.listing_columns)."""
    now = int(time.time())
    columns = listing_columns(services.state, listing_review=services.settings.listing_review)
    inactive = [int(r[0]) for r in reader.execute("SELECT id FROM batch WHERE status != 0")]
    frozen = [r[0] for r in reader.execute("SELECT address FROM participant WHERE frozen = 1")]
    fitting = columns.fitting(need, now, inactive, frozen)
    combinations = []
    first: list[dict[str, Any]] = []
    for number, order in enumerate(orders):
        ordered = columns.in_order(fitting, order)
        if number == 0:
            first = [columns.row(position) for position in ordered[:limit]]
        read = columns.filled(ordered, need.grams)
        combinations.append(combine(need, (offer_of(columns.row(position)) for position in read), order))
    base = services.settings.base_url
    return {
        "fitting": len(fitting),
        "fitting_quantity": columns.total(fitting),
        "listings": [listing_summary(row, base) for row in first],
        "combinations": [_combination(c) for c in combinations],
        "notice": NOTICE,
    }
