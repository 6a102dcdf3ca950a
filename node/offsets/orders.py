"""Checkout offsets: footprints of many orders retired in as few transactions as the holdings allow
(one per batch drawn on: one when a single batch holds enough), with a Merkle root of the orders as the
retirement's beneficiary, and a certificate per order proving its inclusion."""

import sqlite3
import time
from typing import Any

import orjson

from node.chain.registry import RetirementRequest
from node.chain.sender import Receipt
from node.errors import Conflict, InvalidRequest, not_found
from node.offsets.points import GRAMS_PER_POINT
from node.offsets.recent import RecentTrees
from node.services import Services
from node.store.dialect import IntegrityError
from node.text import refused_in_single_line
from node.writes.runner import kind
from registry.footprint import FootprintInputError, order_footprint, parse_order
from registry.offsets import OffsetTree

MAX_ORDERS = 200_000
_TREES: RecentTrees[OffsetTree] = RecentTrees()


def _holdings(reader: sqlite3.Connection, account: str) -> list[tuple[int, int]]:
    """The caller's balances in active batches, largest first."""
    return reader.execute(
        "SELECT b.batch_id, b.amount FROM balance b JOIN batch t ON t.id = b.batch_id"
        " WHERE b.account = ? AND t.status = 0 ORDER BY b.amount DESC, b.batch_id",
        (account,),
    ).fetchall()


def plan_retirements(holdings: list[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """(batch, amount) to retire: the fewest batches, largest first."""
    for batch, amount in holdings:
        if amount >= total:
            return [(batch, total)]
    plan, left = [], total
    for batch, amount in holdings:
        take = min(amount, left)
        plan.append((batch, take))
        left -= take
        if left == 0:
            return plan
    raise Conflict("insufficient_holdings", f"the caller holds {total - left} g in active batches; {total} g needed")


def offset_orders(
    services: Services, reader: sqlite3.Connection, account: str, key_name: str, body: dict[str, Any]
) -> dict[str, Any]:
    orders = body.get("orders")
    if not isinstance(orders, list) or not 0 < len(orders) <= MAX_ORDERS:
        raise InvalidRequest("validation_error", f"orders: a list of 1 to {MAX_ORDERS} orders")
    region = body.get("region", "")
    if (
        not isinstance(region, str)
        or len(region) > 16
        or (region and not region.replace("-", "").isascii())
        or (region and not region.replace("-", "").isalnum())
    ):
        raise InvalidRequest("validation_error", "region: up to 16 letters, digits and '-'")
    shoppers: list[str | None] = []
    for i, order in enumerate(orders):
        shopper = order.pop("shopper", None) if isinstance(order, dict) else None
        if shopper is not None and (not isinstance(shopper, str) or not 0 < len(shopper) <= 64):
            raise InvalidRequest("invalid_order", f"orders[{i}].shopper: a text of 1 to 64 characters")
        if shopper is not None and (refused := refused_in_single_line(shopper)):
            raise InvalidRequest("invalid_order", f"orders[{i}].shopper: {refused}")
        shoppers.append(shopper)
    try:
        footprints = [order_footprint(parse_order(order, f"orders[{i}]")) for i, order in enumerate(orders)]
    except FootprintInputError as refused:
        raise InvalidRequest("invalid_order", str(refused)) from None
    ids = [f.order_id for f in footprints]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("duplicate_order", "an order id appears twice in the request")
    # Order ids are shown on certificate pages and in exports: the leaf format needs no NUL, a reader no controls.
    for i, order_id in enumerate(ids):
        if refused := refused_in_single_line(order_id):
            raise InvalidRequest("invalid_order", f"orders[{i}].order_id: {refused}")
    seen = services.state.known_orders(ids)
    if seen:
        raise Conflict("order_already_offset", f"order {seen[0]} was offset before ({len(seen)} in all)")
    tree = OffsetTree.build([(f.order_id, f.grams) for f in footprints])
    total = tree.total_grams
    if total == 0:
        raise InvalidRequest("nothing_to_offset", "the orders' footprints add up to zero")
    reserved = services.state.reserved_offset_grams(account)
    holdings = [(batch, amount - reserved.get(batch, 0)) for batch, amount in _holdings(reader, account)]
    plan = plan_retirements([(b, a) for b, a in holdings if a > 0], total)
    root = "0x" + tree.root.hex()
    awards: dict[str, int] = {}
    for shopper, footprint in zip(shoppers, footprints, strict=True):
        if shopper is not None:
            awards[shopper] = awards.get(shopper, 0) + footprint.grams
    stored = [(f.order_id, f.grams, orjson.dumps(f.as_dict()).decode()) for f in footprints]
    now = int(time.time())
    details = RetirementRequest(
        batch_id=plan[0][0],
        amount=plan[0][1],
        beneficiary_hash=tree.root,
        reason=f"zero-carbon delivery: {len(ids)} orders",
        consumption_start=now - 86_400,
        consumption_end=now,
        region=region.encode().ljust(16, b"\0"),
    )
    offset_ids: list[int] = []

    def reserve(db: sqlite3.Connection, intent_id: int) -> None:
        # The order ids are keys: of concurrent offsets of the same order, exactly one reserves it.
        try:
            offset_ids.append(
                services.state.reserve_offset(
                    root=root, account=account, orders=stored, total=total, intent_id=intent_id
                )
            )
        except IntegrityError:
            raise Conflict("order_already_offset", "an order of this request is being or was offset") from None

    writes = services.writes
    intent_id = writes.begin(
        kind="offset",
        actor=account,
        key_name=key_name,
        request={"plan": plan, "root": root, "orders": len(ids), "total": total, "awards": awards},
        ok_status=201,
        reserve=reserve,
    )
    _TREES.put(offset_ids[0], tree)
    sender = services.sender_for_key(key_name)
    if len(plan) == 1:
        _, answer = writes.run(intent_id, lambda: services.registry.retire(sender, details)[1])
    else:
        ordered = sorted(plan)  # the ledger takes a multi-batch retirement in ascending batch order
        batches, amounts = [b for b, _ in ordered], [a for _, a in ordered]
        _, answer = writes.run(
            intent_id, lambda: services.registry.retire_batches(sender, batches, amounts, details.details())[1]
        )
    return answer


def _offset_answer(services: Services, offset_id: int) -> dict[str, Any]:
    offset = services.state.offset(offset_id)
    assert offset is not None
    base = services.settings.base_url
    return {
        "offset_id": offset_id,
        "root": offset["root"],
        "orders": offset["orders"],
        "total_grams": offset["total_grams"],
        "retirements": offset["retirements"],
        "certificates": f"{base}/v1/offsets/{offset_id}/certificates",
        "certificate_page": f"{base}/offsets/orders/{{order_id}}",
    }


def _offset_of(db: sqlite3.Connection, intent_id: int) -> int:
    return int(db.execute("SELECT id FROM offset_batch WHERE intent_id = ?", (intent_id,)).fetchone()[0])


@kind("offset", release=lambda services, intent, db: services.state.release_offset(_offset_of(db, intent["id"])))
def _complete_offset(
    services: Services, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection
) -> dict[str, Any]:
    """The offset's retirements (one per batch drawn on, all in one transaction) are mined and indexed: the
    offset is shown, and shoppers get their points, in the transaction that settles the intent."""
    offset_id = _offset_of(db, intent["id"])
    retired = [e.args for e in services.registry.events(receipt) if e.name == "CertificateRetired"]
    retirements = [
        {
            "retirement_id": int(args["retirementId"]),
            "batch_id": int(args["batchId"]),
            "amount": int(args["amount"]),
            "tx_hash": receipt.tx_hash,
            "block_number": receipt.block_number,
        }
        for args in retired
    ]
    services.state.complete_offset(offset_id, retirements)
    awards: dict[str, int] = intent["request"]["awards"]
    if awards:
        ids = [r["retirement_id"] for r in retirements]
        services.state.award_points(
            [(h, g // GRAMS_PER_POINT, g, f"checkout offset {offset_id}", ids) for h, g in awards.items()]
        )
    return _offset_answer(services, offset_id)


def _tree(services: Services, offset_id: int) -> OffsetTree:
    return _TREES.get(
        offset_id,
        lambda: OffsetTree.build([(order_id, grams) for order_id, grams, _ in services.state.offset_orders(offset_id)]),
    )


def certificate(services: Services, order_id: str) -> dict[str, Any]:
    found = services.state.order(order_id)
    if found is None:
        raise not_found(f"offset of order {order_id!r}")
    offset_id, index, grams, breakdown = found
    offset = services.state.offset(offset_id)
    assert offset is not None
    proof = _tree(services, offset_id).proof(index)
    return {
        "order_id": order_id,
        "grams": grams,
        "footprint": orjson.loads(breakdown),
        "root": offset["root"],
        "proof": proof.as_dict(),
        "offset_id": offset_id,
        "retirements": offset["retirements"],
        "page": f"{services.settings.base_url}/offsets/orders/{order_id}",
    }


def offset_leaves(services: Services, offset_id: int) -> dict[str, Any]:
    """Every order of an offset with its grams, in leaf order: with them anyone rebuilds the tree, checks
    its root against the retirement on chain and derives any order's proof (registry.offsets)."""
    offset = services.state.offset(offset_id)
    if offset is None:
        raise not_found(f"offset {offset_id}")
    tree = _tree(services, offset_id)
    return {
        "offset_id": offset_id,
        "root": offset["root"],
        "retirements": offset["retirements"],
        "leaf": "utf8(order_id) || 0x00 || grams (8 bytes, big-endian); RFC 6962 tree",
        "orders": [[order_id, grams] for order_id, grams in zip(tree.order_ids, tree.grams, strict=True)],
    }
