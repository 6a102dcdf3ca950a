"""The market's safeguards: sellers' deposits (保证金), compensation cases when a sold batch is revoked
(先行赔付) and the blacklist (黑名单).

The platform holds no money. A deposit is a custodian's signed statement that the seller paid it at the
bank; compensating a buyer "from the deposit" is a regulator's recorded instruction to that custodian,
drawn against what the statements say remains. A blacklisted account is frozen on chain (so it cannot
move or receive units whatever client it uses) and the node refuses its listings and offers.
"""

import sqlite3
import time
from typing import Any

import orjson

from node.actors import Caller
from node.chain.registry import ROLE_REGULATOR, BatchStatus
from node.errors import Conflict, Forbidden, InvalidRequest, not_found
from node.market.custody import verify_custodian
from node.services import Services
from node.writes.reconciler import step

# Deals whose buyer paid, or holds the units: a revocation leaves them out of pocket.
COMPENSABLE = ("paid", "delivering", "delivered", "disputed")


def record_deposit(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    message = {
        "seller": body["seller"].lower(),
        "amountFen": body["amount_fen"],
        "currency": body["currency"],
        "custodianRef": body["custodian_ref"],
        "paidAt": body["paid_at"],
    }
    custodian, digest = verify_custodian(services, "DepositReceipt", message, body["signature"])
    if services.state.rows("SELECT id FROM deposit WHERE digest = ?", (digest,)):
        raise Conflict("receipt_replayed", "this deposit receipt was recorded before")
    services.state.execute(
        "INSERT INTO deposit (seller, amount_fen, currency, custodian, custodian_ref, digest, paid_at, recorded_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (
            message["seller"],
            body["amount_fen"],
            body["currency"],
            custodian,
            body["custodian_ref"],
            digest,
            body["paid_at"],
            int(time.time()),
        ),
    )
    return deposits_of(services, message["seller"])


def deposits_of(services: Services, seller: str) -> dict[str, Any]:
    rows = services.state.rows(
        "SELECT id, amount_fen, drawn_fen, currency, custodian, custodian_ref, paid_at, recorded_at FROM deposit"
        " WHERE seller = ? ORDER BY id",
        (seller,),
    )
    remaining = sum(r["amount_fen"] - r["drawn_fen"] for r in rows)
    return {"seller": seller, "remaining_fen": remaining, "deposits": rows}


def require_deposit(services: Services, seller: str) -> None:
    if deposits_of(services, seller)["remaining_fen"] <= 0:
        raise Conflict(
            "deposit_required", "a seller needs a deposit on record, confirmed by a custodian, before listing"
        )


def require_deposit_cover(services: Services, seller: str, live_value_fen: int) -> None:
    """The seller's remaining deposits must cover the configured share of `live_value_fen`, what all its live
    listings still offer (the new one included) is worth. Called inside the listing's transaction: of two
    listings racing on one deposit, the second sees the first."""
    share_bps = services.settings.deposit_cover_bps
    required = -(-live_value_fen * share_bps // 10_000)  # rounded up: a fen short is short
    available = deposits_of(services, seller)["remaining_fen"]
    if available < required:
        raise Conflict(
            "deposit_insufficient",
            f"live listings worth {live_value_fen} fen, this one included, need {required} fen of deposit"
            f" ({share_bps / 100:g} %); the seller's deposits have {available} fen left",
        )


def blacklisted(services: Services) -> set[str]:
    return {r["account"] for r in services.state.rows("SELECT account FROM blacklist WHERE lifted_at IS NULL")}


def refuse_blacklisted(services: Services, account: str, what: str) -> None:
    if account in blacklisted(services):
        raise Forbidden("blacklisted", f"{account} is on the blacklist and cannot {what}")


def add_to_blacklist(services: Services, caller: Caller, account: str, reason: str) -> None:
    services.state.execute(
        "INSERT INTO blacklist (account, reason, listed_by, listed_at) VALUES (?,?,?,?) ON CONFLICT (account) DO UPDATE"
        " SET reason = excluded.reason, listed_by = excluded.listed_by, listed_at = excluded.listed_at",
        (account, reason, caller.account, int(time.time())),
    )


def lift_blacklist(services: Services, account: str, reason: str) -> None:
    if account not in blacklisted(services):
        raise not_found(f"blacklist entry for {account}")
    services.state.execute(
        "UPDATE blacklist SET lifted_at = ?, lift_reason = ? WHERE account = ?", (int(time.time()), reason, account)
    )


def public_blacklist(services: Services) -> list[dict[str, Any]]:
    return services.state.rows(
        "SELECT account, reason, listed_at FROM blacklist WHERE lifted_at IS NULL ORDER BY listed_at, account"
    )


def open_compensation_cases(services: Services, reader: sqlite3.Connection) -> None:
    """Opens one case per (deal, revoked batch) that the buyer paid for or holds; idempotent."""
    revoked = {r[0] for r in reader.execute("SELECT id FROM batch WHERE status = ?", (int(BatchStatus.REVOKED),))}
    if not revoked:
        return
    marks = ",".join("?" * len(COMPENSABLE))
    for deal in services.state.rows(f"SELECT * FROM deal WHERE state IN ({marks})", COMPENSABLE):
        for batch_id, grams in deal_parts(deal):
            if batch_id in revoked:
                services.state.execute(
                    "INSERT INTO compensation_case (deal_id, batch_id, buyer, seller, quantity, state,"
                    " opened_at) VALUES (?,?,?,?,?, 'open', ?) ON CONFLICT DO NOTHING",
                    (deal["id"], batch_id, deal["buyer"], deal["seller"], grams, int(time.time())),
                )


def deal_parts(deal: dict[str, Any]) -> list[tuple[int, int]]:
    """(batch, grams) of a deal: one batch, or every constituent of a bundle."""
    allocation = deal.get("allocation")
    if allocation:
        pairs = orjson.loads(allocation) if isinstance(allocation, str) else allocation
        return [(int(b), int(g)) for b, g in pairs]
    return [(deal["batch_id"], deal["quantity"])]


@step("compensation cases")
def open_revocation_cases(services: Services) -> None:
    """Cases for revocations the index shows, however they were made (through this node or not)."""
    reader = services.reader()
    try:
        open_compensation_cases(services, reader)
    finally:
        reader.close()


def compensation_cases(services: Services, reader: sqlite3.Connection, caller: Caller) -> list[dict[str, Any]]:
    """The cases the caller is party to (a regulator: all). Reading opens none: the reconciler does."""
    if caller.has(ROLE_REGULATOR):
        return services.state.rows("SELECT * FROM compensation_case ORDER BY id")
    return services.state.rows(
        "SELECT * FROM compensation_case WHERE buyer = ? OR seller = ? ORDER BY id", (caller.account, caller.account)
    )


def resolve_case(
    services: Services, caller: Caller, case_id: int, outcome: str, amount_fen: int | None, note: str
) -> dict[str, Any]:
    rows = services.state.rows("SELECT * FROM compensation_case WHERE id = ?", (case_id,))
    if not rows:
        raise not_found(f"compensation case {case_id}")
    case = rows[0]
    if outcome == "compensated" and not amount_fen:
        raise InvalidRequest("validation_error", "amount_fen: compensation needs an amount")
    if outcome != "compensated" and amount_fen:
        raise InvalidRequest("validation_error", "amount_fen: a waived case draws nothing")
    # Closing the case (compare-and-set on its state) and drawing on the deposit are one transaction:
    # of two concurrent resolutions, one draws.
    with services.state.transaction():
        closed = services.state.changed(
            "UPDATE compensation_case SET state = ?, amount_fen = ?, note = ?, resolved_by = ?, resolved_at = ?"
            " WHERE id = ? AND state = 'open'",
            (outcome, amount_fen or 0, note, caller.account, int(time.time()), case_id),
        )
        if closed != 1:
            raise Conflict("case_closed", f"case {case_id} is already {case['state']}")
        if outcome == "compensated":
            assert amount_fen is not None
            _draw(services, case["seller"], amount_fen)
    return services.state.rows("SELECT * FROM compensation_case WHERE id = ?", (case_id,))[0]


def _draw(services: Services, seller: str, amount_fen: int) -> None:
    """Draws against the seller's deposits, oldest first; refused if they do not cover the amount."""
    record = deposits_of(services, seller)
    if amount_fen > record["remaining_fen"]:
        raise Conflict(
            "deposit_insufficient",
            f"the seller's deposits have {record['remaining_fen']} fen left, less than {amount_fen}",
        )
    left = amount_fen
    for deposit in record["deposits"]:
        take = min(left, deposit["amount_fen"] - deposit["drawn_fen"])
        if take:
            services.state.execute("UPDATE deposit SET drawn_fen = drawn_fen + ? WHERE id = ?", (take, deposit["id"]))
            left -= take
