"""Listings (挂牌): a holder's disclosed offer to sell part of one batch at its own quoted price.

The platform only discloses: it checks that a listing is honest and backed (active batch with complete
provenance, unfrozen seller, no investment wording, never more than the seller's unencumbered balance),
shows everything a buyer needs to judge it, and suspends it the moment the index says the batch or the
seller is frozen or revoked. It never ranks, prices, matches or holds money.
"""

import re
import sqlite3
import time
from decimal import Decimal
from typing import Any

from node.api.errors import ApiError, not_found
from node.api.services import Services
from node.index.queries import get_batch, get_participant, get_project
from registry.wording import find_financial_wording

RISK_STATEMENT = {
    "zh": "本挂牌不是金融产品，不承诺任何收益；价格由买卖双方自行约定，平台不定价、不撮合、不代收资金；"
    "碳汇证书如经核查无效可被撤销。",
    "en": "This listing is not a financial product and promises no return. The price is set by the parties; the "
    "platform neither prices, matches nor holds money. Certificates may be revoked if found invalid.",
}
_PRICE = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
LIVE = ("open", "suspended", "scheduled")


def price_fen(text: str) -> int:
    if not isinstance(text, str) or not _PRICE.match(text):
        raise ApiError(422, "validation_error", 'price: a decimal such as "58.50" (CNY per tonne)')
    return int(Decimal(text) * 100)


def status_of(
    listing: dict[str, Any], batch: dict[str, Any] | None, seller: dict[str, Any] | None, now: int
) -> tuple[str, str]:
    if listing["withdrawn"]:
        return "withdrawn", "withdrawn by the seller"
    if now >= listing["valid_until"]:
        return "expired", "the validity window has passed"
    if batch is None or batch["status"] != "active":
        return "suspended", f"the batch is {batch['status'] if batch else 'unknown'} on chain"
    if seller is None or seller["frozen"]:
        return "suspended", "the seller's account is frozen on chain"
    if now < listing["valid_from"]:
        return "scheduled", "the validity window has not begun"
    return "open", ""


def encumbered(
    services: Services, reader: sqlite3.Connection, seller: str, batch_id: int, excluding: int | None = None
) -> int:
    now = int(time.time())
    batch = get_batch(connection=reader, batch_id=batch_id)
    participant = get_participant(connection=reader, address=seller)
    return sum(
        listing["quantity"]
        for listing in services.state.listings(seller=seller)
        if listing["batch_id"] == batch_id
        and listing["id"] != excluding
        and status_of(listing, batch, participant, now)[0] in LIVE
    )


def create_listing(services: Services, reader: sqlite3.Connection, seller: str, body: dict[str, Any]) -> dict[str, Any]:
    hit = find_financial_wording(body["title"], body["description"])
    if hit is not None:
        raise ApiError(422, "FinancialWording", f"investment wording is not allowed: {hit.phrase!r} ({hit.why})")
    batch = get_batch(connection=reader, batch_id=body["batch_id"])
    if batch is None:
        raise not_found(f"batch {body['batch_id']}")
    if batch["status"] != "active":
        raise ApiError(409, "batch_not_active", f"batch {batch['id']} is {batch['status']} on chain")
    if not (int(batch["evidence_root"], 16) and int(batch["verification_digest"], 16) and batch["issued_tx"]):
        raise ApiError(409, "incomplete_provenance", "the batch lacks verification, evidence or issuance records")
    participant = get_participant(connection=reader, address=seller)
    if participant is None or participant["frozen"]:
        raise ApiError(409, "seller_frozen", "the seller is not an active participant")
    if body["min_lot"] > body["quantity"]:
        raise ApiError(422, "validation_error", "min_lot: cannot exceed the quantity listed")
    if body["valid_until"] <= max(body["valid_from"], int(time.time())):
        raise ApiError(422, "validation_error", "valid_until: must come after valid_from and after now")
    row = reader.execute("SELECT amount FROM balance WHERE batch_id = ? AND account = ?", (batch["id"], seller))
    balance = (row.fetchone() or (0,))[0]
    free = balance - encumbered(services, reader, seller, batch["id"])
    if body["quantity"] > free:
        raise ApiError(
            409,
            "exceeds_unencumbered_balance",
            f"{body['quantity']} g listed, but only {free} g of batch {batch['id']} are not already listed",
        )
    fen = price_fen(body["price"])
    listing_id = services.state.create_listing({**body, "seller": seller, "price_fen_per_tonne": fen})
    return public_listing(services, reader, listing_id)


def public_listing(
    services: Services, reader: sqlite3.Connection, listing_id: int, row: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The listing as buyers see it; `row` spares the lookup when the caller already read it."""
    found = [row] if row is not None else services.state.listings(listing_id=listing_id)
    if not found:
        raise not_found(f"listing {listing_id}")
    listing = found[0]
    batch = get_batch(connection=reader, batch_id=listing["batch_id"])
    seller = get_participant(connection=reader, address=listing["seller"])
    status, reason = status_of(listing, batch, seller, int(time.time()))
    base = services.settings.base_url
    accounting = services.state.accounting(batch["evidence_root"]) if batch else None
    return {
        "id": listing["id"],
        "status": status,
        "status_reason": reason,
        "seller": listing["seller"],
        "title": listing["title"],
        "description": listing["description"],
        "quantity": listing["quantity"],
        "min_lot": listing["min_lot"],
        "price_cny_per_tonne": f"{Decimal(listing['price_fen_per_tonne']) / 100:.2f}",
        "price_note": "the seller's own quote; the platform sets no price",
        "valid_from": listing["valid_from"],
        "valid_until": listing["valid_until"],
        "batch": batch,
        "project": get_project(connection=reader, project_id=batch["project_id"]) if batch else None,
        "verification": {k: batch[k] for k in ("verifier", "evidence_root", "methodology_id", "verification_digest")}
        if batch
        else None,
        "accounting": {
            "creditable_grams": accounting["creditable_grams"],
            "method": accounting["result"]["method_version"],
            "input_hash": accounting["input_hash"],
        }
        if accounting
        else None,
        "provenance": f"{base}/batches/{listing['batch_id']}",
        "risk_statement": RISK_STATEMENT,
    }


def search_listings(
    services: Services,
    reader: sqlite3.Connection,
    *,
    status: str | None,
    project_id: int | None,
    vintage: int | None,
    verifier: str | None,
    min_quantity: int | None,
    min_price: str | None,
    max_price: str | None,
    sort: str,
    descending: bool,
) -> list[dict[str, Any]]:
    low = price_fen(min_price) if min_price else None
    high = price_fen(max_price) if max_price else None
    found = []
    for row in services.state.listings():
        listing = public_listing(services, reader, row["id"], row)
        batch = listing["batch"]
        if status and listing["status"] != status:
            continue
        if project_id is not None and batch["project_id"] != project_id:
            continue
        if vintage is not None and time.gmtime(batch["period_end"]).tm_year != vintage:
            continue
        if verifier and batch["verifier"] != verifier.lower():
            continue
        if min_quantity is not None and listing["quantity"] < min_quantity:
            continue
        price = row["price_fen_per_tonne"]
        if (low is not None and price < low) or (high is not None and price > high):
            continue
        found.append((row, listing))
    keys = {
        "price": lambda p: p[0]["price_fen_per_tonne"],
        "quantity": lambda p: p[0]["quantity"],
        "newest": lambda p: p[0]["created_at"],
        "vintage": lambda p: p[1]["batch"]["period_end"],
    }
    found.sort(key=keys[sort], reverse=descending)
    return [listing for _, listing in found]
