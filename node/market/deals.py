"""Offers and deals, negotiated between the parties and settled off-platform.

A buyer offers on a listing; the seller accepts, counters or rejects; the buyer accepts a counter.
Acceptance makes a deal that reserves its quantity of the listing, nothing more. A bank custodian (a
participant the admin has recorded) confirms payment with an EIP-712 receipt the node verifies: no
receipt, no delivery. The seller's transfer carries deal reference keccak(deal id ‖ receipt digest); the
index links that transfer to the deal, which then reads delivered. Every step is recorded with who and
when. Prices and custodian references are shown only to the two parties and regulators.
"""

import time
from typing import Any

import orjson
from eth_utils import keccak

from node.actors import Caller
from node.chain.registry import ROLE_REGULATOR
from node.chain.sender import Receipt
from node.errors import CodedError, Conflict, Forbidden, InvalidRequest, not_found
from node.market.custody import custody_typed, verify_custodian
from node.market.listings import price_fen, public_listing
from node.market.safeguards import deal_parts, refuse_blacklisted
from node.offsets.points import award_rebate
from node.services import Services
from node.store import TokenOwner
from node.writes.reconciler import step
from node.writes.runner import kind
from registry.allocation import allocate
from registry.units import deal_total_fen

RESERVING = ("accepted", "paid", "delivering", "delivered", "disputed")
DEFAULT_DELIVERY_S = 14 * 86_400  # a deal's delivery date when the offer named none
MAX_DELIVERY_S = 365 * 86_400


def _payment_message(deal_id: int, receipt: dict[str, Any]) -> dict[str, Any]:
    return {
        "dealId": deal_id,
        "amountFen": receipt["amount_fen"],
        "currency": receipt["currency"],
        "custodianRef": receipt["custodian_ref"],
        "paidAt": receipt["paid_at"],
    }


def receipt_typed(
    chain_id: int, registry: str, deal_id: int, receipt: dict[str, Any], kind: str = "CustodianReceipt"
) -> Any:
    """The custodian's EIP-712 payment receipt (or, with kind="CustodianRefund", its refund receipt); a
    custodian signs it with its own key (node.chain.eip712.sign_typed)."""
    return custody_typed(chain_id, registry, kind, _payment_message(deal_id, receipt))


def _step(
    services: Services, deal_id: int, state: str, actor: str, note: str = "", *, expected: tuple[str, ...]
) -> None:
    """Moves a deal to `state` only from one of the `expected` states (compare-and-set), with its step
    recorded in the same transaction; of two concurrent moves, the second is refused."""
    marks = ",".join("?" * len(expected))
    with services.state.transaction() as db:
        moved = db.execute(
            f"UPDATE deal SET state = ? WHERE id = ? AND state IN ({marks})", (state, deal_id, *expected)
        ).rowcount
        if moved != 1:
            current = db.execute("SELECT state FROM deal WHERE id = ?", (deal_id,)).fetchone()
            raise Conflict("deal_state_changed", f"deal {deal_id} is {current[0] if current else 'gone'} now")
        db.execute(
            "INSERT INTO deal_step (deal_id, state, actor, note, at) VALUES (?,?,?,?,?)",
            (deal_id, state, actor, note, int(time.time())),
        )


# What a campaign holds of its listing: its target while open or retiring, what it retired once retired.
CAMPAIGN_HOLDS = (
    "CASE WHEN c.state IN ('open', 'retiring') THEN c.target ELSE"
    " (SELECT COALESCE(SUM(grams), 0) FROM subscription s WHERE s.campaign_id = c.id AND s.leaf_index IS NOT NULL)"
    " END"
)
CAMPAIGN_HOLDING = "c.state IN ('open', 'retiring', 'retired')"


def reserved(services: Services, listing_id: int) -> int:
    """What deals and a campaign hold of a listing: a live deal its quantity, an open campaign its target,
    a retired one what it retired."""
    deals = services.state.rows(
        f"SELECT COALESCE(SUM(quantity), 0) AS q FROM deal WHERE listing_id = ? AND state IN {RESERVING}", (listing_id,)
    )
    campaign = services.state.rows(
        f"SELECT COALESCE(SUM({CAMPAIGN_HOLDS}), 0) AS q FROM campaign c WHERE c.listing_id = ? AND {CAMPAIGN_HOLDING}",
        (listing_id,),
    )
    return int(deals[0]["q"]) + int(campaign[0]["q"])


def make_offer(
    services: Services, reader: Any, caller: Caller, listing_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    if body["expires_at"] <= time.time():
        raise InvalidRequest("already_expired", f"expires_at: {body['expires_at']} is in the past")
    deliver_by = body.get("deliver_by")
    if deliver_by is not None and not time.time() < deliver_by <= time.time() + MAX_DELIVERY_S:
        raise InvalidRequest("validation_error", "deliver_by: a time to come, within a year")
    refuse_blacklisted(services, caller.account, "offer")
    listing = public_listing(services, reader, listing_id)
    if listing["status"] != "open":
        raise Conflict("listing_not_open", f"listing {listing_id} is {listing['status']}")
    if caller.account == listing["seller"]:
        raise InvalidRequest("own_listing", "a seller cannot offer on its own listing")
    if caller.frozen or caller.organisation is None:
        raise Conflict("buyer_not_active", "the buyer must be a registered, unfrozen participant")
    available = listing["quantity"] - reserved(services, listing_id)
    if not listing["min_lot"] <= body["quantity"] <= available:
        raise Conflict(
            "quantity_unavailable",
            f"offer {body['quantity']} g: between the minimum lot {listing['min_lot']} g and {available} g",
        )
    fen = price_fen(body["price"])
    offer_id = services.state.insert(
        "INSERT INTO offer (listing_id, buyer, quantity, price_fen_per_tonne, expires_at, state, created_at,"
        " deliver_by) VALUES (?,?,?,'',?, 'offered', ?, ?)",
        (listing_id, caller.account, body["quantity"], body["expires_at"], int(time.time()), deliver_by),
    )
    _seal_price(services, "offer", offer_id, fen)
    return offer_view(services, offer_id)


def _seal_price(services: Services, table: str, row_id: int, fen: int) -> None:
    sealed = services.sealer.seal(str(fen), f"{table}.price:{row_id}")
    services.state.execute(f"UPDATE {table} SET price_fen_per_tonne = ? WHERE id = ?", (sealed, row_id))


def _open_price(services: Services, table: str, row: dict[str, Any]) -> int:
    return int(services.sealer.open(row["price_fen_per_tonne"], f"{table}.price:{row['id']}"))


def offer_view(services: Services, offer_id: int) -> dict[str, Any]:
    rows = services.state.rows("SELECT * FROM offer WHERE id = ?", (offer_id,))
    if not rows:
        raise not_found(f"offer {offer_id}")
    offer = rows[0]
    offer["price_fen_per_tonne"] = _open_price(services, "offer", offer)
    offer["price_cny_per_tonne"] = f"{offer['price_fen_per_tonne'] / 100:.2f}"
    if offer["state"] in ("offered", "countered") and time.time() >= offer["expires_at"]:
        offer["state"] = "expired"  # read as expired; nothing is written by a read
    return offer


def answer_offer(
    services: Services, reader: Any, caller: Caller, offer_id: int, action: str, counter: dict[str, Any] | None
) -> dict[str, Any]:
    offer = offer_view(services, offer_id)
    listing = public_listing(services, reader, offer["listing_id"])
    seller, buyer = listing["seller"], offer["buyer"]
    # Who may answer: the seller answers an offer; the buyer answers the seller's counter.
    turn = seller if offer["state"] == "offered" else buyer if offer["state"] == "countered" else None
    if turn is None:
        raise Conflict("offer_closed", f"offer {offer_id} is {offer['state']}")
    if caller.account != turn:
        raise Forbidden("forbidden", "it is the other party's turn to answer")
    if action == "reject":
        _move_offer(services, offer_id, offer["state"], "rejected")
        return offer_view(services, offer_id)
    if action == "counter":
        if caller.account != seller or counter is None:
            raise InvalidRequest("validation_error", "only the seller counters, with a price")
        fen = price_fen(counter["price"])
        with services.state.transaction():
            _move_offer(services, offer_id, "offered", "countered")
            _seal_price(services, "offer", offer_id, fen)
        return offer_view(services, offer_id)
    if listing["status"] != "open":
        raise Conflict("listing_not_open", f"listing {listing['id']} is {listing['status']}")
    refuse_blacklisted(services, buyer, "receive")
    # The check of what is free and the deal that reserves it are one transaction: of concurrent accepts,
    # each sees the deals the others made, so a listing is never reserved beyond its quantity.
    with services.state.transaction():
        _move_offer(services, offer_id, offer["state"], "accepted")
        if offer["quantity"] > listing["quantity"] - reserved(services, listing["id"]):
            raise Conflict("quantity_unavailable", "the listing no longer has that quantity free")
        allocation = _bundle_allocation(services, listing, offer["quantity"]) if listing["bundle"] else None
        deal_id = services.state.insert(
            "INSERT INTO deal (listing_id, offer_id, seller, buyer, batch_id, quantity, price_fen_per_tonne, state,"
            " created_at, allocation, deliver_by) VALUES (?,?,?,?,?,?,?, 'accepted', ?, ?, ?)",
            (
                listing["id"],
                offer_id,
                seller,
                buyer,
                listing["batch"]["id"],
                offer["quantity"],
                "",
                int(time.time()),
                orjson.dumps(allocation).decode() if allocation else None,
                offer["deliver_by"] or int(time.time()) + DEFAULT_DELIVERY_S,
            ),
        )
        _seal_price(services, "deal", deal_id, offer["price_fen_per_tonne"])
        services.state.execute("UPDATE offer SET deal_id = ? WHERE id = ?", (deal_id, offer_id))
        services.state.execute(
            "INSERT INTO deal_step (deal_id, state, actor, note, at) VALUES (?, 'accepted', ?, ?, ?)",
            (deal_id, caller.account, f"offer {offer_id}", int(time.time())),
        )
    return deal_view(services, reader, caller, deal_id)


def _move_offer(services: Services, offer_id: int, expected: str, state: str) -> None:
    """Compare-and-set on an offer's state; an offer that expired meanwhile cannot be answered."""
    moved = services.state.changed(
        "UPDATE offer SET state = ? WHERE id = ? AND state = ? AND expires_at > ?",
        (state, offer_id, expected, int(time.time())),
    )
    if moved != 1:
        raise Conflict("offer_closed", f"offer {offer_id} was answered, withdrawn or expired meanwhile")


def _bundle_allocation(services: Services, listing: dict[str, Any], quantity: int) -> list[tuple[int, int]]:
    """Splits a bundle purchase over what each constituent has left (registry.allocation's rule)."""
    left = {c["batch_id"]: c["quantity"] for c in listing["constituents"]}
    marks = ",".join("?" * len(RESERVING))
    for deal in services.state.rows(
        f"SELECT batch_id, quantity, allocation FROM deal WHERE listing_id = ? AND state IN ({marks})",
        (listing["id"], *RESERVING),
    ):
        for batch_id, grams in deal_parts(deal):
            left[batch_id] -= grams
    return allocate(quantity, list(left.items()))


def _deal(services: Services, deal_id: int) -> dict[str, Any]:
    rows = services.state.rows("SELECT * FROM deal WHERE id = ?", (deal_id,))
    if not rows:
        raise not_found(f"deal {deal_id}")
    return rows[0]


def deal_view(services: Services, reader: Any, caller: Caller, deal_id: int) -> dict[str, Any]:
    deal = _deal(services, deal_id)
    if caller.account not in (deal["seller"], deal["buyer"]) and not caller.has(ROLE_REGULATOR):
        raise Forbidden("forbidden", "a deal is visible to its two parties and regulators only")
    deal["constituents"] = [
        {"batch_id": b, "quantity": g, "provenance": f"{services.settings.base_url}/batches/{b}"}
        for b, g in deal_parts(deal)
    ]
    deal["allocation"] = None if deal["allocation"] is None else orjson.loads(deal["allocation"])
    receipt = services.sealer.open(deal["receipt"], f"deal.receipt:{deal_id}") if deal["receipt"] else None
    deal["receipt"] = orjson.loads(receipt) if receipt else None
    deal["price_cny_per_tonne"] = f"{_open_price(services, 'deal', deal) / 100:.2f}"
    del deal["price_fen_per_tonne"]
    deal["steps"] = services.state.rows(
        "SELECT state, actor, note, at FROM deal_step WHERE deal_id = ? ORDER BY id", (deal_id,)
    )
    return deal


def deals_of(services: Services, reader: Any, caller: Caller, limit: int = 500) -> list[dict[str, Any]]:
    """The caller's deals as a party (a regulator: every deal), newest first."""
    if caller.has(ROLE_REGULATOR):
        rows = services.state.rows("SELECT id FROM deal ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = services.state.rows(
            "SELECT id FROM deal WHERE seller = ? OR buyer = ? ORDER BY id DESC LIMIT ?",
            (caller.account, caller.account, limit),
        )
    return [deal_view(services, reader, caller, row["id"]) for row in rows]


def _delivery(reader: Any, deal: dict[str, Any]) -> dict[str, Any] | None:
    """The indexed transfer of this deal: seller to buyer, each batch (every constituent of a bundle) with
    its quantity, all carrying the deal reference."""
    found = None
    for batch_id, grams in deal_parts(deal):
        rows = reader.execute(
            "SELECT account, amount, tx_hash, args FROM chain_event WHERE name = 'CertificateTransferred'"
            " AND batch_id = ? AND account = ? AND counterparty = ?",
            (batch_id, deal["seller"], deal["buyer"]),
        ).fetchall()
        match = [
            {"account": account, "tx_hash": tx_hash}
            for account, amount, tx_hash, args in rows
            if amount == grams and orjson.loads(args)["dealRef"] == deal["deal_ref"]
        ]
        if not match:
            return None
        found = found or match[0]
    return found


def record_receipt(
    services: Services, reader: Any, caller: Caller, deal_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    """Marks a deal paid from its custodian's receipt. Who may post it (a party, the custodian that signed
    it, a regulator), the signature and the amount are all checked before anything is written."""
    deal = _deal(services, deal_id)
    signer, digest = _custodian_signer(services, deal_id, body, "CustodianReceipt")
    if caller.account not in (deal["seller"], deal["buyer"], signer) and not caller.has(ROLE_REGULATOR):
        raise Forbidden("forbidden", "a deal's receipt is posted by a party, its custodian or a regulator")
    if deal["state"] != "accepted":
        raise Conflict("deal_not_awaiting_payment", f"deal {deal_id} is {deal['state']}")
    due = deal_total_fen(_open_price(services, "deal", deal), deal["quantity"])
    if body["amount_fen"] != due:
        raise InvalidRequest(
            "receipt_amount_mismatch",
            f"the receipt is for {body['amount_fen']} fen; the deal's agreed total is {due} fen",
        )
    deal_ref = "0x" + keccak(deal_id.to_bytes(32, "big") + bytes.fromhex(digest[2:])).hex()
    receipt = {
        **{k: body[k] for k in ("amount_fen", "currency", "custodian_ref", "paid_at")},
        "custodian": signer,
        "digest": digest,
    }
    with services.state.transaction():
        _step(services, deal_id, "paid", signer, "custodian receipt verified", expected=("accepted",))
        services.state.execute(
            "UPDATE deal SET receipt = ?, deal_ref = ? WHERE id = ?",
            (services.sealer.seal(orjson.dumps(receipt).decode(), f"deal.receipt:{deal_id}"), deal_ref, deal_id),
        )
    return deal_view(services, reader, caller, deal_id)


def deliver(services: Services, reader: Any, caller: Caller, deal_id: int) -> dict[str, Any]:
    """The seller's transfer under the deal reference, as an intent that moves the deal paid → delivering
    (compare-and-set): of concurrent deliveries exactly one sends a transfer. The index then marks it
    delivered (apply_deliveries)."""
    deal = _deal(services, deal_id)
    if caller.account != deal["seller"]:
        raise Forbidden("forbidden", "only the seller delivers")
    if deal["state"] != "paid":
        raise Conflict("deal_not_paid", f"deal {deal_id} is {deal['state']}: no receipt, no delivery")
    refuse_blacklisted(services, deal["buyer"], "receive")

    def reserve(db: Any, intent_id: int) -> None:
        _step(services, deal_id, "delivering", caller.account, f"intent {intent_id}", expected=("paid",))
        db.execute("UPDATE deal SET intent_id = ? WHERE id = ?", (intent_id, deal_id))

    intent_id = services.writes.begin(
        kind="deliver",
        actor=caller.account,
        key_name=caller.owner.key_name,
        request={"deal_id": deal_id},
        subject=f"deal:{deal_id}",
        reserve=reserve,
        busy=("deal_state_changed", f"deal {deal_id} is being delivered by another request"),
    )
    deal_ref = bytes.fromhex(deal["deal_ref"][2:])
    sender = services.sender_for(caller.owner)
    parts = deal_parts(deal)
    if deal["allocation"]:
        send = lambda: services.registry.transfer_batches(  # noqa: E731
            sender, [b for b, _ in parts], [g for _, g in parts], deal["buyer"], deal_ref
        )
    else:
        send = lambda: services.registry.transfer(  # noqa: E731
            sender, deal["batch_id"], deal["buyer"], deal["quantity"], deal_ref
        )
    services.writes.run(intent_id, send)
    return deal_view(services, reader, caller, deal_id)


def _release_delivery(services: Services, intent: dict[str, Any], db: Any) -> None:
    deal_id = intent["request"]["deal_id"]
    moved = db.execute(
        "UPDATE deal SET state = 'paid' WHERE id = ? AND state = 'delivering' AND intent_id = ?",
        (deal_id, intent["id"]),
    ).rowcount
    if moved:
        db.execute(
            "INSERT INTO deal_step (deal_id, state, actor, note, at) VALUES (?, 'paid', ?, ?, ?)",
            (deal_id, intent["actor"], f"delivery failed (intent {intent['id']})", int(time.time())),
        )


@kind("deliver", release=_release_delivery)
def _delivered(services: Services, intent: dict[str, Any], receipt: Receipt, db: Any) -> dict[str, Any]:
    """The answer is the deal as its seller (the intent's actor) sees it, as the deliver route answers."""
    deal_id = intent["request"]["deal_id"]
    apply_deliveries(services, [deal_id])
    seller = Caller(TokenOwner(intent["key_name"], intent["actor"], ""), 0, None, False)
    reader = services.reader()
    try:
        return deal_view(services, reader, seller, deal_id)
    finally:
        reader.close()


@step("deliveries")
def apply_deliveries(services: Services, deal_ids: list[int] | None = None) -> None:
    """Marks delivered every paid or delivering deal whose transfer the index holds, with the seller's
    rebate, in one compare-and-set transaction each: whoever applies it first (the reconciler, or the
    delivering request), it happens once. Deliveries sent outside this node count as well."""
    where = "state IN ('paid', 'delivering') AND deal_ref IS NOT NULL"
    params: tuple[Any, ...] = ()
    if deal_ids is not None:
        if not deal_ids:
            return
        where += f" AND id IN ({','.join('?' * len(deal_ids))})"
        params = tuple(deal_ids)
    deals = services.state.rows(f"SELECT * FROM deal WHERE {where}", params)
    if not deals:
        return
    reader = services.reader()
    try:
        for deal in deals:
            delivery = _delivery(reader, deal)
            if delivery is None:
                continue
            with services.state.transaction():
                try:
                    _step(services, deal["id"], "delivered", delivery["account"], f"tx {delivery['tx_hash']}",
                          expected=("paid", "delivering"))  # fmt: skip
                except CodedError:
                    continue  # applied meanwhile
                award_rebate(services, reader, deal["seller"], deal["quantity"], f"deal {deal['id']}")
    finally:
        reader.close()


def _custodian_signer(services: Services, deal_id: int, body: dict[str, Any], kind: str) -> tuple[str, str]:
    return verify_custodian(services, kind, _payment_message(deal_id, body), body["signature"])


def open_dispute(services: Services, reader: Any, caller: Caller, deal_id: int, reason: str) -> dict[str, Any]:
    deal = deal_view(services, reader, caller, deal_id)
    if caller.account not in (deal["seller"], deal["buyer"]):
        raise Forbidden("forbidden", "only a party to the deal opens a dispute")
    if deal["state"] not in ("accepted", "paid", "delivered"):
        raise Conflict("deal_closed", f"deal {deal_id} is {deal['state']}")
    _step(services, deal_id, "disputed", caller.account, reason, expected=(deal["state"],))
    return deal_view(services, reader, caller, deal_id)


def cancel_deal(services: Services, reader: Any, caller: Caller, deal_id: int, note: str) -> dict[str, Any]:
    """Either party before payment; after payment only a mediator, with the custodian's refund receipt."""
    deal = deal_view(services, reader, caller, deal_id)
    if caller.account not in (deal["seller"], deal["buyer"]) or deal["state"] != "accepted":
        raise Conflict("cancel_not_allowed", "a party cancels only before payment; after it, a mediator decides")
    _step(services, deal_id, "cancelled", caller.account, note, expected=("accepted",))
    return deal_view(services, reader, caller, deal_id)


def resolve_dispute(
    services: Services,
    reader: Any,
    caller: Caller,
    deal_id: int,
    outcome: str,
    note: str,
    refund: dict[str, Any] | None,
    against: str = "neither",
) -> dict[str, Any]:
    """A mediator (regulator) records the outcome: the deal goes on, or is cancelled (refund proven if paid);
    the decision says which party it went against, if either (it counts against that party's credit)."""
    deal = deal_view(services, reader, caller, deal_id)
    if deal["state"] != "disputed":
        raise Conflict("not_disputed", f"deal {deal_id} is {deal['state']}")
    with services.state.transaction():
        _decide(services, caller, deal, outcome, against)
        return _resolve(services, reader, caller, deal, outcome, note, refund)


def _decide(services: Services, caller: Caller, deal: dict[str, Any], outcome: str, against: str) -> None:
    party = {"seller": deal["seller"], "buyer": deal["buyer"]}.get(against, "")
    services.state.execute(
        "INSERT INTO dispute_decision (deal_id, outcome, against, decided_by, at) VALUES (?,?,?,?,?)",
        (deal["id"], outcome, party, caller.account, int(time.time())),
    )


def _resolve(services: Services, reader: Any, caller: Caller, deal: dict[str, Any], outcome: str, note: str,
             refund: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    deal_id = deal["id"]
    delivered = deal["deal_ref"] is not None and _delivery(reader, _deal(services, deal_id)) is not None
    if outcome == "continue":
        state = "delivered" if delivered else "paid" if deal["receipt"] else "accepted"
        _step(services, deal_id, state, caller.account, f"dispute resolved: {note}", expected=("disputed",))
        return deal_view(services, reader, caller, deal_id)
    if delivered:
        raise Conflict("already_delivered", "the units were delivered on chain: a cancellation cannot undo that")
    if deal["receipt"]:
        if refund is None:
            raise Conflict(
                "refund_receipt_required", "the deal was paid: cancelling needs the custodian's refund receipt"
            )
        signer, _ = _custodian_signer(services, deal_id, refund, "CustodianRefund")
        note = f"{note} (refund confirmed by {signer}, ref {refund['custodian_ref']})"
    _step(services, deal_id, "cancelled", caller.account, f"dispute resolved: {note}", expected=("disputed",))
    return deal_view(services, reader, caller, deal_id)
