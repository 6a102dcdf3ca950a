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

from node.errors import Conflict, InvalidRequest, not_found
from node.index.queries import get_batch, get_participant, get_project, pledged
from node.market.safeguards import (
    blacklisted,
    deal_parts,
    refuse_blacklisted,
    require_deposit,
    require_deposit_cover,
)
from node.projects.profiles import project_profile
from node.public_text import check_public_text
from node.services import Services
from node.store.dialect import in_list
from node.supervision.oversight import APPROVED_PROJECTS, project_review
from registry.units import deal_total_fen, vintage_of

RISK_STATEMENT = {
    "zh": "本挂牌不是金融产品，不承诺任何收益；价格由买卖双方自行约定，平台不定价、不撮合、不代收资金；"
    "碳汇证书如经核查无效可被撤销。",
    "en": "This listing is not a financial product and promises no return. The price is set by the parties; the "
    "platform neither prices, matches nor holds money. Certificates may be revoked if found invalid.",
}
_PRICE = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
LIVE = ("open", "suspended", "scheduled", "under_review")


def price_fen(text: str) -> int:
    if not isinstance(text, str) or not _PRICE.match(text):
        raise InvalidRequest("validation_error", 'price: a decimal such as "58.50" (CNY per tonne)')
    return int(Decimal(text) * 100)


def status_of(
    listing: dict[str, Any],
    batches: list[dict[str, Any] | None],
    seller: dict[str, Any] | None,
    now: int,
    blacklisted: bool = False,
    review: str = "approved",
) -> tuple[str, str]:
    """A listing's status from the index: `batches` are its batch, or every constituent of a bundle."""
    if listing["withdrawn"]:
        return "withdrawn", "withdrawn by the seller"
    if now >= listing["valid_until"]:
        return "expired", "the validity window has passed"
    for batch in batches:
        if batch is None or batch["status"] != "active":
            return "suspended", f"the batch is {batch['status'] if batch else 'unknown'} on chain"
    if blacklisted:
        return "suspended", "the seller is on the blacklist"
    if seller is None or seller["frozen"]:
        return "suspended", "the seller's account is frozen on chain"
    if review != "approved":
        return "under_review", f"the project's pre-listing review is {review}"
    if now < listing["valid_from"]:
        return "scheduled", "the validity window has not begun"
    return "open", ""


def parts_of(services: Services, listing: dict[str, Any]) -> list[tuple[int, int]]:
    """(batch, grams listed) of a listing: its one batch, or each constituent of a bundle in batch order."""
    if not listing["bundle"]:
        return [(listing["batch_id"], listing["quantity"])]
    rows = services.state.rows(
        "SELECT batch_id, quantity FROM bundle_part WHERE listing_id = ? ORDER BY batch_id", (listing["id"],)
    )
    return [(r["batch_id"], r["quantity"]) for r in rows]


def delivered_parts(services: Services, listing_id: int) -> dict[int, int]:
    """Grams of each batch already delivered out of a listing (they left the seller's balance)."""
    found: dict[int, int] = {}
    for deal in services.state.rows(
        "SELECT batch_id, quantity, allocation FROM deal WHERE listing_id = ? AND state = 'delivered'", (listing_id,)
    ):
        for batch_id, grams in deal_parts(deal):
            found[batch_id] = found.get(batch_id, 0) + grams
    for campaign in services.state.rows(
        "SELECT c.batch_id, SUM(s.grams) AS grams FROM campaign c JOIN subscription s ON s.campaign_id = c.id"
        " WHERE c.listing_id = ? AND c.state = 'retired' AND s.leaf_index IS NOT NULL GROUP BY c.id",
        (listing_id,),
    ):
        found[campaign["batch_id"]] = found.get(campaign["batch_id"], 0) + campaign["grams"]
    return found


def encumbered(services: Services, reader: sqlite3.Connection, seller: str, batch_id: int) -> int:
    """What the seller's live listings still offer of this batch: listed minus already delivered."""
    now = int(time.time())
    participant = get_participant(connection=reader, address=seller)
    barred = seller in blacklisted(services)
    total = 0
    for listing in services.state.listings(seller=seller):
        parts = dict(parts_of(services, listing))
        if batch_id not in parts:
            continue
        batches = [get_batch(connection=reader, batch_id=b) for b in parts]
        if status_of(listing, batches, participant, now, barred)[0] in LIVE:
            total += parts[batch_id] - delivered_parts(services, listing["id"]).get(batch_id, 0)
    return total


def _listable_batch(services: Services, reader: sqlite3.Connection, seller: str, batch_id: int, grams: int) -> dict:
    batch = get_batch(connection=reader, batch_id=batch_id)
    if batch is None:
        raise not_found(f"batch {batch_id}")
    if batch["status"] != "active":
        raise Conflict("batch_not_active", f"batch {batch['id']} is {batch['status']} on chain")
    if not (int(batch["evidence_root"], 16) and int(batch["verification_digest"], 16) and batch["issued_tx"]):
        raise Conflict("incomplete_provenance", "the batch lacks verification, evidence or issuance records")
    row = reader.execute("SELECT amount FROM balance WHERE batch_id = ? AND account = ?", (batch_id, seller))
    balance = (row.fetchone() or (0,))[0]
    # Units pledged to a bank cannot be sold: a listing offers free units only.
    free = balance - pledged(connection=reader, account=seller, batch_id=batch_id)
    free -= encumbered(services, reader, seller, batch_id)
    if grams > free:
        raise Conflict(
            "exceeds_unencumbered_balance",
            f"{grams} g of batch {batch_id} listed, but only {free} g of it are held, not pledged and not already"
            " listed",
        )
    return batch


def create_listing(services: Services, reader: sqlite3.Connection, seller: str, body: dict[str, Any]) -> dict[str, Any]:
    check_public_text({"title": body["title"], "description": body["description"]})
    refuse_blacklisted(services, seller, "list")
    participant = get_participant(connection=reader, address=seller)
    if participant is None or participant["frozen"]:
        raise Conflict("seller_frozen", "the seller is not an active participant")
    require_deposit(services, seller)
    parts = _requested_parts(body)
    quantity = sum(grams for _, grams in parts)
    if body["min_lot"] > quantity:
        raise InvalidRequest("validation_error", "min_lot: cannot exceed the quantity listed")
    if body["valid_until"] <= time.time():
        raise InvalidRequest("already_expired", f"valid_until: {body['valid_until']} is in the past")
    if body["valid_until"] <= body["valid_from"]:
        raise InvalidRequest("validation_error", "valid_until: must come after valid_from")
    first = get_batch(connection=reader, batch_id=parts[0][0])
    if first is None:
        raise not_found(f"batch {parts[0][0]}")
    profile = project_profile(services, first["project_id"]) or {"region": "", "kind": ""}
    # The balance and deposit checks and the listing they allow, in one transaction: listings created
    # meanwhile count.
    with services.state.transaction():
        batches = [_listable_batch(services, reader, seller, batch_id, grams) for batch_id, grams in parts]
        value = deal_total_fen(price_fen(body["price"]), quantity) + _live_value(services, seller)
        require_deposit_cover(services, seller, value)
        listing_id = _insert_listing(services, body, seller, quantity, parts, batches[0], profile)
    return public_listing(services, reader, listing_id)


def _live_value(services: Services, seller: str) -> int:
    """Fen that the seller's unwithdrawn, unexpired listings still offer: quantity less what was delivered."""
    value = 0
    for listing in services.state.rows(
        "SELECT id, quantity, price_fen_per_tonne FROM listing WHERE seller = ? AND withdrawn = 0 AND valid_until > ?",
        (seller, int(time.time())),
    ):
        left = listing["quantity"] - sum(delivered_parts(services, listing["id"]).values())
        value += deal_total_fen(int(listing["price_fen_per_tonne"]), max(left, 0))
    return value


def _insert_listing(
    services: Services,
    body: dict[str, Any],
    seller: str,
    quantity: int,
    parts: list[tuple[int, int]],
    first: dict[str, Any],
    profile: dict[str, Any],
) -> int:
    row = {
        **body,
        "batch_id": first["id"],
        "quantity": quantity,
        "seller": seller,
        "price_fen_per_tonne": price_fen(body["price"]),
        "project_id": first["project_id"],
        "vintage": vintage_of(first["period_end"]),
        "verifier": first["verifier"],
        "region": profile["region"],
        "kind": profile["kind"],
        "bundle": int(len(parts) > 1 or bool(body.get("parts"))),
    }
    return services.state.create_listing(row, parts if row["bundle"] else [])


def _requested_parts(body: dict[str, Any]) -> list[tuple[int, int]]:
    """One batch (batch_id, quantity) or a bundle (parts), never both; a bundle's batches are distinct."""
    parts = body.get("parts")
    if parts:
        if body.get("batch_id") is not None or body.get("quantity") is not None:
            raise InvalidRequest("validation_error", "a bundle gives parts, not batch_id and quantity")
        ids = [p["batch_id"] for p in parts]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("validation_error", "parts: each batch appears once")
        return sorted((p["batch_id"], p["quantity"]) for p in parts)
    if body.get("batch_id") is None or body.get("quantity") is None:
        raise InvalidRequest("validation_error", "give batch_id and quantity, or parts for a bundle")
    return [(body["batch_id"], body["quantity"])]


def public_listing(
    services: Services,
    reader: sqlite3.Connection,
    listing_id: int,
    row: dict[str, Any] | None = None,
    seen: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The listing as buyers see it. `row` spares the lookup when the caller already read it; `seen` lets a
    page of listings read the blacklist once and each project's review once."""
    seen = seen if seen is not None else {}
    found = [row] if row is not None else services.state.listings(listing_id=listing_id)
    if not found:
        raise not_found(f"listing {listing_id}")
    listing = found[0]
    parts = parts_of(services, listing)
    batches = [get_batch(connection=reader, batch_id=b) for b, _ in parts]
    seller = get_participant(connection=reader, address=listing["seller"])
    if "barred" not in seen:
        seen["barred"] = blacklisted(services)
    barred = listing["seller"] in seen["barred"]
    known: dict[int, str] = seen.setdefault("reviews", {})
    for b in batches:
        if b is not None and b["project_id"] not in known:
            known[b["project_id"]] = project_review(services, b["project_id"])["state"]
    reviews = {known[b["project_id"]] for b in batches if b is not None}
    review = "approved" if reviews <= {"approved"} else "rejected" if "rejected" in reviews else "pending"
    status, reason = status_of(listing, batches, seller, int(time.time()), barred, review)
    base = services.settings.base_url
    batch = batches[0]
    record = {
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
        "region": listing["region"],
        "kind": listing["kind"],
        "vintage": listing["vintage"],
        "bundle": bool(listing["bundle"]),
        "batch": batch,
        "project": get_project(connection=reader, project_id=batch["project_id"]) if batch else None,
        "verification": _verification(batch),
        "accounting": _accounting(services, batch),
        "provenance": f"{base}/batches/{listing['batch_id']}",
        "risk_statement": RISK_STATEMENT,
    }
    if listing["bundle"]:
        record["constituents"] = [
            {
                "batch_id": batch_id,
                "quantity": grams,
                "share": f"{grams / listing['quantity']:.6f}",
                "batch": part,
                "verification": _verification(part),
                "accounting": _accounting(services, part),
                "provenance": f"{base}/batches/{batch_id}",
            }
            for (batch_id, grams), part in zip(parts, batches, strict=True)
        ]
    return record


def _verification(batch: dict[str, Any] | None) -> dict[str, Any] | None:
    if batch is None:
        return None
    return {k: batch[k] for k in ("verifier", "evidence_root", "methodology_id", "verification_digest")}


def _accounting(services: Services, batch: dict[str, Any] | None) -> dict[str, Any] | None:
    accounting = services.state.accounting(batch["evidence_root"]) if batch else None
    if accounting is None:
        return None
    return {
        "creditable_grams": accounting["creditable_grams"],
        "method": accounting["result"]["method_version"],
        "input_hash": accounting["input_hash"],
    }


SORT_COLUMNS = {"price": "price_fen_per_tonne", "quantity": "quantity", "newest": "id", "vintage": "vintage"}


def search_listings(
    services: Services,
    reader: sqlite3.Connection,
    *,
    status: str | None,
    project_id: int | None = None,
    vintage: int | None = None,
    verifier: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    min_quantity: int | None = None,
    min_price: str | None = None,
    max_price: str | None = None,
    sort: str = "newest",
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Filters in SQL over the node's listings; the chain-driven status (suspended when a batch or the
    seller is frozen, revoked or blacklisted) is matched against the index's small sets of those."""
    now = int(time.time())
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("project_id", project_id), ("vintage", vintage), ("region", region), ("kind", kind)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if verifier:
        clauses.append("verifier = ?")
        params.append(verifier.lower())
    if min_quantity is not None:
        clauses.append("quantity >= ?")
        params.append(min_quantity)
    if min_price:
        clauses.append("price_fen_per_tonne >= ?")
        params.append(price_fen(min_price))
    if max_price:
        clauses.append("price_fen_per_tonne <= ?")
        params.append(price_fen(max_price))
    if status is not None:
        clauses.append(status_clause(services, reader, status, now, params))
    where = " AND ".join(clauses) or "1 = 1"
    order = f"{SORT_COLUMNS[sort]} {'DESC' if descending else 'ASC'}, id {'DESC' if descending else 'ASC'}"
    rows = services.state.rows(
        f"SELECT * FROM listing WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", (*params, limit, offset)
    )
    seen: dict[str, Any] = {}
    return [public_listing(services, reader, row["id"], row, seen) for row in rows]


def status_clause(services: Services, reader: sqlite3.Connection, status: str, now: int, params: list[Any]) -> str:
    if status == "withdrawn":
        return "withdrawn = 1"
    if status == "expired":
        params.append(now)
        return "withdrawn = 0 AND valid_until <= ?"
    inactive = [r[0] for r in reader.execute("SELECT id FROM batch WHERE status != 0")]
    frozen = [r[0] for r in reader.execute("SELECT address FROM participant WHERE frozen = 1")]
    barred = sorted(set(frozen) | blacklisted(services))
    suspended_bundles = (
        [
            r["listing_id"]
            for r in services.state.rows(
                f"SELECT DISTINCT listing_id FROM bundle_part WHERE batch_id IN ({','.join('?' * len(inactive))})",
                tuple(inactive),
            )
        ]
        if inactive
        else []
    )
    suspended = (
        f"({in_list('batch_id', len(inactive))} OR {in_list('seller', len(barred))}"
        f" OR {in_list('id', len(suspended_bundles))})"
    )
    live = "withdrawn = 0 AND valid_until > ?"
    if status == "suspended":
        params.extend([now, *inactive, *barred, *suspended_bundles])
        return f"{live} AND {suspended}"
    # A bundle is filed under its first constituent's project; its status checks every constituent.
    # "+project_id": a membership test per row, so the planner keeps walking the sort order and stops early.
    unindexed = services.state.dialect.unindexed
    approved = f"{unindexed}project_id IN ({APPROVED_PROJECTS})" if services.settings.listing_review else "1 = 1"
    if status == "under_review":
        params.extend([now, *inactive, *barred, *suspended_bundles])
        return f"{live} AND NOT {suspended} AND NOT {approved}"
    params.extend([now, *inactive, *barred, *suspended_bundles, now])
    window = "valid_from <= ?" if status == "open" else "valid_from > ?"
    return f"{live} AND NOT {suspended} AND {approved} AND {window}"
