"""Small subscription campaigns (碳汇众筹) on a listing.

A seller opens a campaign on one of its single-batch listings with a target quantity and a deadline.
Individuals subscribe small amounts (down to 1 g) through a channel holding an API token, in bulk; the
total subscribed never exceeds the target. They pay at the bank custodian, never the platform; one signed
custodian receipt confirms many subscriptions at once (registry.campaigns' payment root), and a
subscription counts only once a receipt covers it. When paid subscriptions reach the target (or the
seller closes the campaign early) the node retires what was paid in one on-chain retirement whose
beneficiary hash is the Merkle root of (subscriber, grams), and each subscriber gets a certificate with an
inclusion proof and carbon points. A campaign whose deadline passes short of its target ends with nothing
retired and every paid subscription marked for refund by the custodian.
"""

import sqlite3
import time
from typing import Any

from node.actors import Caller
from node.chain.registry import RetirementRequest
from node.chain.sender import Receipt
from node.errors import CodedError, Conflict, Forbidden, InvalidRequest, not_found
from node.market.custody import verify_custodian
from node.market.deals import reserved
from node.market.listings import public_listing
from node.offsets.points import GRAMS_PER_POINT, award_rebate, require_indexed
from node.offsets.recent import RecentTrees
from node.services import Services
from node.writes.reconciler import step
from node.writes.runner import kind
from registry.campaigns import payment_root, subscriber_tree
from registry.merkle import MerkleTree

MAX_PER_REQUEST = 20_000
LEAF = "utf8(subscriber) || 0x00 || grams (8 bytes, big-endian); RFC 6962 tree"
_TREES: "RecentTrees[HexTree]" = RecentTrees()


class HexTree:
    """A campaign's subscriber tree with every node's hex kept, so serving many certificates at once costs
    list lookups rather than a hex conversion per path element."""

    def __init__(self, tree: MerkleTree) -> None:
        self.size = tree.size
        self.root = "0x" + tree.root.hex()
        self.levels = [["0x" + h.hex() for h in level] for level in tree.levels]

    def proofs(self, indices: list[int]) -> list[dict[str, Any]]:
        """The proofs of many leaves, a level at a time (the same paths as proof(), in bulk)."""
        paths: list[list[str]] = [[] for _ in indices]
        positions = list(indices)
        for level in self.levels[:-1]:
            width = len(level)
            for path, position in zip(paths, positions, strict=True):
                sibling = position ^ 1
                if sibling < width:
                    path.append(level[sibling])
            positions = [p >> 1 for p in positions]
        size = self.size
        return [{"index": i, "tree_size": size, "path": path} for i, path in zip(indices, paths, strict=True)]

    def proof(self, index: int) -> dict[str, Any]:
        path, position = [], index
        for level in self.levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            position //= 2
        return {"index": index, "tree_size": self.size, "path": path}


def open_campaign(
    services: Services, reader: sqlite3.Connection, caller: Caller, listing_id: int, target: int, deadline: int
) -> dict[str, Any]:
    listing = public_listing(services, reader, listing_id)
    if listing["seller"] != caller.account:
        raise Forbidden("forbidden", "only the seller opens a campaign on its listing")
    if listing["status"] != "open":
        raise Conflict("listing_not_open", f"listing {listing_id} is {listing['status']}")
    if listing["bundle"]:
        raise InvalidRequest("bundle_campaign", "a campaign retires one batch: open it on a single-batch listing")
    if not time.time() < deadline <= listing["valid_until"]:
        raise InvalidRequest("validation_error", "deadline: in the future and within the listing's validity")
    if _key_of(services, caller.account) is None:
        raise Conflict("seller_key_unavailable", "this node does not hold the seller's key to retire for it")
    # What is free, and the campaign that reserves it, in one transaction (a deal accepted meanwhile, or
    # another campaign, is seen here).
    with services.state.transaction() as db:
        if db.execute("SELECT id FROM campaign WHERE listing_id = ?", (listing_id,)).fetchone():
            raise Conflict("campaign_exists", f"listing {listing_id} already has a campaign")
        free = listing["quantity"] - reserved(services, listing_id)
        if target > free:
            raise Conflict("quantity_unavailable", f"target {target} g: the listing has {free} g free")
        campaign_id = services.state.insert(
            "INSERT INTO campaign (listing_id, seller, batch_id, target, deadline, state, created_at)"
            " VALUES (?,?,?,?,?, 'open', ?)",
            (listing_id, caller.account, listing["batch"]["id"], target, deadline, int(time.time())),
        )
    return campaign_view(services, campaign_id)


def _key_of(services: Services, account: str) -> str | None:
    rows = services.state.rows(
        "SELECT key_name FROM api_token WHERE account = ? AND revoked = 0 ORDER BY created_at LIMIT 1", (account,)
    )
    return rows[0]["key_name"] if rows else None


def _campaign(services: Services, campaign_id: int) -> dict[str, Any]:
    rows = services.state.rows("SELECT * FROM campaign WHERE id = ?", (campaign_id,))
    if not rows:
        raise not_found(f"campaign {campaign_id}")
    campaign = rows[0]
    if campaign["state"] == "open" and time.time() >= campaign["deadline"]:
        # Past its deadline it reads as failed at once; the reconciler records it (a read writes nothing).
        campaign["state"] = "failed"
    return campaign


@step("campaign deadlines")
def fail_expired_campaigns(services: Services) -> None:
    """Campaigns whose deadline passed short of the target: nothing is retired, every payment is marked
    for refund; state and refunds change in one compare-and-set transaction."""
    now = int(time.time())
    for row in services.state.rows("SELECT id FROM campaign WHERE state = 'open' AND deadline <= ?", (now,)):
        with services.state.transaction() as db:
            failed = db.execute(
                "UPDATE campaign SET state = 'failed', closed_at = ? WHERE id = ? AND state = 'open'", (now, row["id"])
            ).rowcount
            if failed:
                db.execute(
                    "UPDATE subscription SET refund_due = 1 WHERE campaign_id = ? AND receipt_id IS NOT NULL",
                    (row["id"],),
                )


def _totals(services: Services, campaign_id: int) -> dict[str, int]:
    row = services.state.rows(
        "SELECT COUNT(*) AS n, COALESCE(SUM(grams), 0) AS subscribed,"
        " COALESCE(SUM(CASE WHEN receipt_id IS NOT NULL THEN grams END), 0) AS paid,"
        " COALESCE(SUM(CASE WHEN receipt_id IS NOT NULL THEN 1 END), 0) AS paid_count,"
        " COALESCE(SUM(refund_due), 0) AS refunds FROM subscription WHERE campaign_id = ?",
        (campaign_id,),
    )[0]
    return {
        "subscriptions": row["n"],
        "subscribed_grams": row["subscribed"],
        "paid_subscriptions": row["paid_count"],
        "paid_grams": row["paid"],
        "refunds_due": row["refunds"],
    }


def campaign_view(services: Services, campaign_id: int) -> dict[str, Any]:
    campaign = _campaign(services, campaign_id)
    base = services.settings.base_url
    return {
        **campaign,
        **_totals(services, campaign_id),
        "certificates": f"{base}/v1/campaigns/{campaign_id}/certificates",
        "certificate_page": f"{base}/campaigns/{campaign_id}/subscriptions/{{subscription_id}}",
    }


def subscribe(services: Services, caller: Caller, campaign_id: int, entries: list[Any]) -> dict[str, Any]:
    """Records subscriptions in bulk (SubscriptionIn models), all or nothing; never past the target."""
    if not 0 < len(entries) <= MAX_PER_REQUEST:
        raise InvalidRequest("validation_error", f"subscriptions: 1 to {MAX_PER_REQUEST} per request")
    if any("\x00" in e.subscriber for e in entries):
        raise InvalidRequest("validation_error", "subscriber: cannot contain NUL (it ends the id in the leaf)")
    now = int(time.time())
    with services.state.transaction() as db:
        campaign = _campaign(services, campaign_id)
        if campaign["state"] != "open":
            raise Conflict("campaign_closed", f"campaign {campaign_id} is {campaign['state']}")
        subscribed = db.execute(
            "SELECT COALESCE(SUM(grams), 0) FROM subscription WHERE campaign_id = ?", (campaign_id,)
        ).fetchone()[0]
        wanted = sum(e.grams for e in entries)
        if subscribed + wanted > campaign["target"]:
            raise Conflict(
                "oversubscribed",
                f"{wanted} g more would pass the target: {campaign['target'] - subscribed} g are left",
            )
        first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM subscription").fetchone()[0]
        db.executemany(
            "INSERT INTO subscription (id, campaign_id, subscriber, grams, amount_fen, channel, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            [
                (first + i, campaign_id, e.subscriber, e.grams, e.amount_fen, caller.account, now)
                for i, e in enumerate(entries)
            ],
        )
    return {"campaign_id": campaign_id, "first_id": first, "last_id": first + len(entries) - 1}


def record_payments(
    services: Services, reader: sqlite3.Connection, campaign_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    """A custodian's receipt for many subscriptions: the root of (id, amount) leaves, signed once."""
    ids: list[int] = body["subscription_ids"]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("validation_error", "subscription_ids: each subscription once")
    found = _subscriptions(services, campaign_id, ids)
    if len(found) != len(ids):
        raise InvalidRequest("unknown_subscription", "a listed subscription is not in this campaign")
    payments = [(i, found[i]["amount_fen"]) for i in ids]
    root = "0x" + payment_root(payments).hex()
    message = {
        "campaignId": campaign_id,
        "root": bytes.fromhex(root[2:]),
        "count": len(ids),
        "amountFen": body["amount_fen"],
        "currency": body["currency"],
        "custodianRef": body["custodian_ref"],
        "paidAt": body["paid_at"],
    }
    custodian, _ = verify_custodian(services, "SubscriptionReceipt", message, body["signature"])
    if body["amount_fen"] != sum(a for _, a in payments):
        raise InvalidRequest("amount_mismatch", "the receipt's amount is not the sum of the subscriptions it covers")
    with services.state.transaction() as db:
        campaign = _campaign(services, campaign_id)
        if campaign["state"] != "open":
            raise Conflict("campaign_closed", f"campaign {campaign_id} is {campaign['state']}")
        if db.execute("SELECT id FROM subscription_receipt WHERE root = ?", (root,)).fetchone():
            raise Conflict("receipt_replayed", "this settlement receipt was recorded before")
        covered = [i for i in ids if found[i]["receipt_id"] is not None]
        if covered:
            raise Conflict("already_paid", f"subscription {covered[0]} is covered by an earlier receipt")
        sealed = services.sealer.seal(body["custodian_ref"], f"subscription_receipt.ref:{root}")
        receipt_id = db.execute(
            "INSERT INTO subscription_receipt (campaign_id, root, count, amount_fen, custodian, sealed, recorded_at)"
            " VALUES (?,?,?,?,?,?,?) RETURNING id",
            (campaign_id, root, len(ids), body["amount_fen"], custodian, sealed, int(time.time())),
        ).fetchone()[0]
        db.executemany("UPDATE subscription SET receipt_id = ? WHERE id = ?", [(receipt_id, i) for i in ids])
    totals = _totals(services, campaign_id)
    if totals["paid_grams"] >= campaign["target"]:
        try:
            return retire_campaign(services, reader, campaign_id, "target reached")
        except CodedError as refused:
            if refused.code not in ("campaign_closed", "campaign_changed"):
                raise  # another request is retiring it: this one's receipt is recorded, the view says the rest
    return campaign_view(services, campaign_id)


def _subscriptions(services: Services, campaign_id: int, ids: list[int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        rows = services.state.rows(
            # "+campaign_id": look the ids up by primary key, not by scanning the campaign's index.
            f"SELECT id, amount_fen, receipt_id FROM subscription WHERE +campaign_id = ? AND id IN"
            f" ({','.join('?' * len(chunk))})",
            (campaign_id, *chunk),
        )
        found.update({r["id"]: r for r in rows})
    return found


def close_campaign(services: Services, reader: sqlite3.Connection, caller: Caller, campaign_id: int) -> dict[str, Any]:
    campaign = _campaign(services, campaign_id)
    if caller.account != campaign["seller"]:
        raise Forbidden("forbidden", "only the seller closes its campaign")
    if campaign["state"] != "open":
        raise Conflict("campaign_closed", f"campaign {campaign_id} is {campaign['state']}")
    if _totals(services, campaign_id)["paid_grams"] == 0:
        raise Conflict("nothing_paid", "no subscription is paid yet: nothing to retire")
    return retire_campaign(services, reader, campaign_id, "closed by the seller")


def retire_campaign(services: Services, reader: sqlite3.Connection, campaign_id: int, why: str) -> dict[str, Any]:
    """One retirement of every paid subscription's grams; unpaid ones lapse. The campaign moves open →
    retiring with the retirement's intent (compare-and-set): it is retired once, however many ask."""
    campaign = _campaign(services, campaign_id)
    if campaign["state"] != "open":
        raise Conflict("campaign_closed", f"campaign {campaign_id} is {campaign['state']}")
    key = _key_of(services, campaign["seller"])
    if key is None:
        raise Conflict("seller_key_unavailable", "this node does not hold the seller's key to retire for it")
    with services.state.transaction() as db:
        paid = db.execute(
            "SELECT subscriber, grams FROM subscription WHERE campaign_id = ? AND receipt_id IS NOT NULL ORDER BY id",
            (campaign_id,),
        ).fetchall()
    tree = subscriber_tree(paid)
    total = sum(grams for _, grams in paid)
    now = int(time.time())

    def reserve(db: sqlite3.Connection, intent_id: int) -> None:
        moved = db.execute(
            "UPDATE campaign SET state = 'retiring', intent_id = ? WHERE id = ? AND state = 'open' AND deadline > ?",
            (intent_id, campaign_id, now),
        ).rowcount
        if moved != 1:
            raise Conflict("campaign_closed", f"campaign {campaign_id} is being retired or closed already")
        # What is retired is what was paid when the retirement began: later receipts are refused (not open).
        paid_now = db.execute(
            "SELECT COALESCE(SUM(grams), 0), COUNT(*) FROM subscription WHERE campaign_id = ? AND receipt_id IS NOT"
            " NULL",
            (campaign_id,),
        ).fetchone()
        if paid_now[0] != total or paid_now[1] != len(paid):
            raise Conflict("campaign_changed", "a payment was recorded meanwhile; retry")

    request = RetirementRequest(
        batch_id=campaign["batch_id"],
        amount=total,
        beneficiary_hash=tree.root,
        reason=f"subscription campaign {campaign_id}: {len(paid)} subscriptions ({why})",
        consumption_start=campaign["created_at"],
        consumption_end=now,
        region=b"\0" * 16,
    )
    intent_id = services.writes.begin(
        kind="campaign_retire",
        actor=campaign["seller"],
        key_name=key,
        request={"campaign_id": campaign_id, "root": "0x" + tree.root.hex(), "total": total, "count": len(paid)},
        subject=f"campaign:{campaign_id}",
        reserve=reserve,
        busy=("campaign_closed", f"campaign {campaign_id} is being retired by another request"),
    )
    _TREES.put(campaign_id, HexTree(tree))
    sender = services.sender_for_key(key)
    services.writes.run(intent_id, lambda: services.registry.retire(sender, request)[1])
    return campaign_view(services, campaign_id)


def _release_campaign(services: Services, intent: dict[str, Any], db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE campaign SET state = 'open', intent_id = NULL WHERE id = ? AND state = 'retiring' AND intent_id = ?",
        (intent["request"]["campaign_id"], intent["id"]),
    )


@kind("campaign_retire", release=_release_campaign)
def _campaign_retired(
    services: Services, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection
) -> dict[str, Any]:
    """The retirement is mined and indexed: the campaign reads retired, each paid subscription gets its leaf,
    subscribers their points and a small supplier its rebate, all in the transaction settling the intent."""
    campaign_id = intent["request"]["campaign_id"]
    retirement_id = int(services.registry.event(receipt, "CertificateRetired").args["retirementId"])
    db.execute(
        "UPDATE campaign SET state = 'retired', root = ?, retirement_id = ?, tx_hash = ?, closed_at = ?"
        " WHERE id = ? AND state = 'retiring'",
        (intent["request"]["root"], retirement_id, receipt.tx_hash, int(time.time()), campaign_id),
    )
    # Leaf i is the i-th paid subscription by id, as the tree was built.
    db.execute(
        "UPDATE subscription SET leaf_index = ranked.leaf FROM (SELECT id, row_number() OVER (ORDER BY id) - 1"
        " AS leaf FROM subscription WHERE campaign_id = ? AND receipt_id IS NOT NULL) AS ranked"
        " WHERE subscription.id = ranked.id",
        (campaign_id,),
    )
    reader = services.reader()
    try:
        award_campaign_points(services, reader, campaign_id, retirement_id)
        seller = db.execute("SELECT seller FROM campaign WHERE id = ?", (campaign_id,)).fetchone()[0]
        award_rebate(services, reader, seller, intent["request"]["total"], f"campaign {campaign_id}")
    finally:
        reader.close()
    return campaign_view(services, campaign_id)  # what the close and receipt routes answer


def award_campaign_points(services: Services, reader: sqlite3.Connection, campaign_id: int, retirement_id: int) -> None:
    """Each subscriber's points for its retired grams (one per GRAMS_PER_POINT), summed per subscriber in
    SQL: a campaign may have 100,000 of them."""
    require_indexed(reader, [retirement_id])
    with services.state.transaction() as db:
        db.execute(
            "INSERT INTO carbon_points (holder, points, grams, source, retirement_ids, at)"
            " SELECT subscriber, SUM(grams) / ?, SUM(grams), ?, ?, ? FROM subscription"
            " WHERE campaign_id = ? AND leaf_index IS NOT NULL GROUP BY subscriber",
            (GRAMS_PER_POINT, f"campaign {campaign_id}", f"[{retirement_id}]", int(time.time()), campaign_id),
        )


def _tree(services: Services, campaign_id: int) -> HexTree:
    def build() -> HexTree:
        rows = services.state.rows(
            "SELECT subscriber, grams FROM subscription WHERE campaign_id = ? AND leaf_index IS NOT NULL"
            " ORDER BY leaf_index",
            (campaign_id,),
        )
        return HexTree(subscriber_tree([(r["subscriber"], r["grams"]) for r in rows]))

    return _TREES.get(campaign_id, build)


def certificates(services: Services, campaign_id: int, after: int, limit: int) -> dict[str, Any]:
    """Subscribers' certificates with their proofs, a page at a time (by subscription id)."""
    campaign = _campaign(services, campaign_id)
    if campaign["state"] != "retired":
        raise Conflict("campaign_not_retired", f"campaign {campaign_id} is {campaign['state']}")
    with services.state.transaction() as db:
        rows = db.execute(
            "SELECT id, subscriber, grams, leaf_index FROM subscription WHERE campaign_id = ?"
            " AND leaf_index IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
            (campaign_id, after, limit),
        ).fetchall()
    tree = _tree(services, campaign_id)
    proofs = tree.proofs([leaf for _, _, _, leaf in rows])
    base = services.settings.base_url
    return {
        # What every certificate of the page shares is given once.
        "campaign_id": campaign_id,
        "root": campaign["root"],
        "retirement_id": campaign["retirement_id"],
        "tx_hash": campaign["tx_hash"],
        "batch_id": campaign["batch_id"],
        "leaf": LEAF,
        "page": f"{base}/campaigns/{campaign_id}/subscriptions/{{subscription_id}}",
        "certificates": [
            {
                "subscription_id": sid,
                "subscriber": subscriber,
                "grams": grams,
                "points": grams // GRAMS_PER_POINT,
                "proof": proof,
            }
            for (sid, subscriber, grams, _), proof in zip(rows, proofs, strict=True)
        ],
        "next_after": rows[-1][0] if len(rows) == limit else None,
    }


def certificate(services: Services, campaign_id: int, subscription_id: int) -> dict[str, Any]:
    campaign = _campaign(services, campaign_id)
    rows = services.state.rows(
        "SELECT id, subscriber, grams, leaf_index, receipt_id, refund_due FROM subscription"
        " WHERE campaign_id = ? AND id = ?",
        (campaign_id, subscription_id),
    )
    if not rows:
        raise not_found(f"subscription {subscription_id} of campaign {campaign_id}")
    row = rows[0]
    if row["leaf_index"] is None:
        state = "refund due" if row["refund_due"] else "paid" if row["receipt_id"] else "awaiting payment"
        return {"subscription_id": row["id"], "subscriber": row["subscriber"], "grams": row["grams"],
                "campaign_state": campaign["state"], "state": state}  # fmt: skip
    return _certificate(services, campaign, row, _tree(services, campaign_id))


def _certificate(services: Services, campaign: dict[str, Any], row: dict[str, Any], tree: MerkleTree) -> dict[str, Any]:
    base = services.settings.base_url
    return {
        "subscription_id": row["id"],
        "subscriber": row["subscriber"],
        "grams": row["grams"],
        "points": row["grams"] // GRAMS_PER_POINT,
        "state": "retired",
        "root": campaign["root"],
        "proof": tree.proof(row["leaf_index"]),
        "retirement_id": campaign["retirement_id"],
        "tx_hash": campaign["tx_hash"],
        "batch_id": campaign["batch_id"],
        "leaf": LEAF,
        "page": f"{base}/campaigns/{campaign['id']}/subscriptions/{row['id']}",
        "retirement": f"{base}/retirements/{campaign['retirement_id']}",
    }
