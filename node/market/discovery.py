"""Needs-based discovery over the node's open listings (the rule itself: registry.discovery).

SQL keeps the open listings that meet the need's conditions (registry.discovery.fits, in SQL), with what deals
and campaigns already hold taken off each, counts them and orders them as the buyer asked; the fill
(registry.discovery.combine) reads each order only as far as the need takes it. The
answer names the listings and every combination's parts, totals and provenance, and says that the platform
ranks, prices and matches nothing.
"""

import sqlite3
import time
from decimal import Decimal
from typing import Any

from node.market.deals import CAMPAIGN_HOLDING, CAMPAIGN_HOLDS, RESERVING
from node.market.listings import status_clause
from node.services import Services
from node.store.dialect import in_list
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


def _held_sql() -> str:
    """Grams that deals and campaigns hold, per listing (the rule of node.market.deals.reserved)."""
    return (
        f"SELECT listing_id, SUM(q) AS q FROM (SELECT listing_id, quantity AS q FROM deal WHERE state IN {RESERVING}"
        f" UNION ALL SELECT c.listing_id, {CAMPAIGN_HOLDS} AS q FROM campaign c WHERE {CAMPAIGN_HOLDING}) held"
        " GROUP BY listing_id"
    )


def _fitting_sql(services: Services, reader: sqlite3.Connection, need: Need, now: int) -> tuple[str, list[Any]]:
    """A query of the listings that fit the need, with what is still available of each (registry.discovery.fits
    in SQL)."""
    params: list[Any] = []
    clauses = [status_clause(services, reader, "open", now, params)]
    for clause, value in (
        ("vintage >= ?", need.vintage_from),
        ("vintage <= ?", need.vintage_to),
        ("price_fen_per_tonne <= ?", need.max_price_fen),
        ("valid_from < ?", need.retire_by),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if need.kinds:
        clauses.append(in_list("kind", len(need.kinds)))
        params.extend(need.kinds)
    if need.regions:  # a code, or a prefix ending at a segment: CN-GD fits CN-GD-SZ (codes hold no % or _)
        clauses.append("(" + " OR ".join("region = ? OR region LIKE ?" for _ in need.regions) + ")")
        for region in need.regions:
            params.extend((region, region + "-%"))
    sql = (
        "SELECT id, seller, title, batch_id, quantity, available, min_lot, price_fen_per_tonne, vintage, region,"
        " kind, project_id, verifier, bundle, valid_from, valid_until"
        " FROM (SELECT listing.*, quantity - COALESCE(h.q, 0) AS available FROM listing"
        f" LEFT JOIN ({_held_sql()}) h ON h.listing_id = listing.id WHERE {' AND '.join(clauses)}) fitting"
        " WHERE available > 0 AND available >= min_lot"
    )
    return sql, params


def _order_sql(order: list[tuple[str, bool]], binary: str) -> str:
    columns = {"price": "price_fen_per_tonne", "vintage": "vintage", "region": f"region{binary}",
               "quantity": "available"}  # fmt: skip
    return ", ".join(f"{columns[by]} {'DESC' if descending else 'ASC'}" for by, descending in order) + ", id ASC"


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


def _fill_rows(services: Services, sql: str, params: list[Any], order_by: str, grams: int) -> list[dict[str, Any]]:
    """The listings a fill in this order reads: those with less than the need before them in the order (one sort,
    the running total a window)."""
    return services.state.rows(
        f"SELECT * FROM (SELECT f.*, COALESCE(SUM(available) OVER (ORDER BY {order_by} ROWS BETWEEN UNBOUNDED"
        f" PRECEDING AND 1 PRECEDING), 0) AS before FROM ({sql}) f) w WHERE before < ? ORDER BY {order_by}",
        (*params, grams),
    )


_HEAD = 64  # listings read in each order before a fill needs the running total


def _summary(row: dict[str, Any], base: str) -> dict[str, Any]:
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
    and one combination per order. SQL counts, orders and pages; only what a fill reads leaves the database."""
    now = int(time.time())
    sql, params = _fitting_sql(services, reader, need, now)
    binary = "" if services.state.dialect.name == "sqlite" else ' COLLATE "C"'  # code point order, as Python's
    totals = services.state.rows(f"SELECT COUNT(*) AS n, COALESCE(SUM(available), 0) AS grams FROM ({sql}) f",
                                 tuple(params))[0]  # fmt: skip
    combinations = []
    first: list[dict[str, Any]] = []
    for number, order in enumerate(orders):
        order_by = _order_sql(order, binary)
        # Most needs are filled by the first few listings: a top-N sort. Only a need they leave short reads
        # the running total over every fitting listing.
        head = services.state.rows(f"{sql} ORDER BY {order_by} LIMIT ?", (*params, max(limit, _HEAD)))
        if number == 0:
            first = head[:limit]
        short = sum(row["available"] for row in head) < need.grams and len(head) == max(limit, _HEAD)
        rows = _fill_rows(services, sql, params, order_by, need.grams) if short else head
        combinations.append(combine(need, map(offer_of, rows), order))
    base = services.settings.base_url
    return {
        "fitting": int(totals["n"]),
        "fitting_quantity": int(totals["grams"]),
        "listings": [_summary(row, base) for row in first],
        "combinations": [_combination(c) for c in combinations],
        "notice": NOTICE,
    }
