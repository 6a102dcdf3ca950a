"""Offer → counter → accept → custodian receipt → delivery carrying the deal reference, with refusals."""

import time

import pytest
from eth_account import Account

from node.chain.eip712 import sign_typed
from node.devflows import bought, deposit, error_of, issued_batch, payment
from node.market.deals import receipt_typed
from tests.api.test_listings import listing_body


@pytest.fixture(autouse=True, scope="module")
def _park_has_a_deposit(node):
    assert deposit(node, "park").status_code == 201


def signed_receipt(node, custodian, deal_id: int, amount_fen: int) -> dict:
    status = node.ok("GET", "/v1/status")
    body = {
        "amount_fen": amount_fen,
        "currency": "CNY",
        "custodian_ref": "ICBC-2026-000731",
        "paid_at": int(time.time()),
    }
    signature = sign_typed(custodian, receipt_typed(status["chain_id"], status["registry"], deal_id, body))
    return {**body, "signature": {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()}}


def test_a_deal_is_negotiated_paid_through_a_custodian_and_delivered_on_chain(node):
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_body(batch, 100_000_000))
    custodian = Account.create()
    node.ok("POST", "/v1/admin/custodians", "admin", json={"address": custodian.address, "name": "ICBC custody"})

    expires = int(time.time()) + 3600
    offer = node.ok(
        "POST",
        f"/v1/listings/{listing['id']}/offers",
        "buyer",
        json={"quantity": 20_000_000, "price": "57.00", "expires_at": expires},
    )
    assert offer["state"] == "offered"
    assert error_of(node.call("POST", f"/v1/offers/{offer['id']}/answer", "buyer", json={"action": "accept"})) == (
        403,
        "forbidden",
    )
    countered = node.ok(
        "POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "counter", "price": "58.00"}
    )
    assert countered["state"] == "countered"
    deal = node.ok("POST", f"/v1/offers/{offer['id']}/answer", "buyer", json={"action": "accept"})
    assert (deal["state"], deal["quantity"], deal["price_cny_per_tonne"]) == ("accepted", 20_000_000, "58.00")
    too_much = node.call(
        "POST",
        f"/v1/listings/{listing['id']}/offers",
        "platform",
        json={"quantity": 90_000_000, "price": "58.00", "expires_at": expires},
    )
    assert error_of(too_much) == (409, "quantity_unavailable"), "the deal reserved 20 t of the 100 t listed"

    assert error_of(node.call("POST", f"/v1/deals/{deal['id']}/deliver", "park")) == (409, "deal_not_paid")
    forged = signed_receipt(node, Account.create(), deal["id"], 116_000)
    assert error_of(node.call("POST", f"/v1/deals/{deal['id']}/receipt", "buyer", json=forged)) == (
        422,
        "not_a_custodian",
    )
    # Under an Idempotency-Key the answer (which shows the receipt) is kept, and kept sealed, like the deal.
    paid = node.ok(
        "POST",
        f"/v1/deals/{deal['id']}/receipt",
        "buyer",
        json=signed_receipt(node, custodian, deal["id"], 116_000),
        headers={"Idempotency-Key": "pay-deal-once"},
    )
    assert paid["state"] == "paid" and paid["receipt"]["custodian"] == custodian.address.lower()

    before = node.ok("GET", f"/v1/batches/{batch}/provenance", params={"limit": 500})["events"]
    delivered = node.ok("POST", f"/v1/deals/{deal['id']}/deliver", "park", headers={"Idempotency-Key": "deliver-1"})
    assert delivered["state"] == "delivered"
    assert [s["state"] for s in delivered["steps"]] == ["accepted", "paid", "delivering", "delivered"]
    transfer = node.ok("GET", f"/v1/batches/{batch}/provenance", params={"limit": 500})["events"][len(before)]
    assert transfer["args"]["dealRef"] == delivered["deal_ref"] and transfer["amount"] == 20_000_000

    assert error_of(node.call("GET", f"/v1/deals/{deal['id']}", "platform")) == (403, "forbidden")
    assert node.ok("GET", f"/v1/deals/{deal['id']}", "regulator")["state"] == "delivered"
    public = node.call("GET", f"/v1/listings/{listing['id']}").text
    assert "116000" not in public and "ICBC-2026-000731" not in public
    # At rest the price and the receipt are sealed: the database file never holds them in clear.
    stored = node.stored_bytes()
    assert b"ICBC-2026-000731" not in stored and b"sealed:" in stored


def _paid_deal(node, custodian, quantity: int = 5_000_000) -> tuple[dict, dict]:
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_body(batch, 50_000_000))
    offer = node.ok(
        "POST",
        f"/v1/listings/{listing['id']}/offers",
        "buyer",
        json={"quantity": quantity, "price": "60.00", "expires_at": int(time.time()) + 3600},
    )
    deal = node.ok("POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "accept"})
    return listing, deal


def test_disputes_are_mediated_and_a_paid_deal_is_cancelled_only_with_a_refund_receipt(node):
    custodian = Account.create()
    node.ok("POST", "/v1/admin/custodians", "admin", json={"address": custodian.address, "name": "BOC custody"})

    listing, unpaid = _paid_deal(node, custodian)
    cancelled = node.ok("POST", f"/v1/deals/{unpaid['id']}/cancel", "buyer", json={"reason": "changed plans"})
    assert cancelled["state"] == "cancelled"
    node.ok(
        "POST",
        f"/v1/listings/{listing['id']}/offers",
        "buyer",
        json={"quantity": 50_000_000, "price": "60.00", "expires_at": int(time.time()) + 3600},
    )

    _, deal = _paid_deal(node, custodian)
    node.ok(
        "POST", f"/v1/deals/{deal['id']}/receipt", "buyer", json=signed_receipt(node, custodian, deal["id"], 30_000)
    )
    assert error_of(node.call("POST", f"/v1/deals/{deal['id']}/cancel", "buyer", json={"reason": "x"}))[0] == 409
    disputed = node.ok("POST", f"/v1/deals/{deal['id']}/dispute", "buyer", json={"reason": "units not as described"})
    assert disputed["state"] == "disputed"
    assert error_of(
        node.call("POST", f"/v1/deals/{deal['id']}/resolve", "buyer", json={"outcome": "cancel", "note": "x"})
    ) == (403, "forbidden")
    reply = node.call(
        "POST", f"/v1/deals/{deal['id']}/resolve", "regulator", json={"outcome": "cancel", "note": "seller at fault"}
    )
    assert error_of(reply) == (409, "refund_receipt_required")
    status = node.ok("GET", "/v1/status")
    refund_body = {
        "amount_fen": 30_000,
        "currency": "CNY",
        "custodian_ref": "BOC-REFUND-9",
        "paid_at": int(time.time()),
    }
    signature = sign_typed(
        custodian, receipt_typed(status["chain_id"], status["registry"], deal["id"], refund_body, "CustodianRefund")
    )
    refund = {
        **refund_body,
        "signature": {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()},
    }
    resolved = node.ok(
        "POST",
        f"/v1/deals/{deal['id']}/resolve",
        "regulator",
        json={"outcome": "cancel", "note": "seller at fault", "refund": refund},
    )
    assert resolved["state"] == "cancelled" and "BOC-REFUND-9" in resolved["steps"][-1]["note"]

    _, kept = _paid_deal(node, custodian)
    node.ok(
        "POST", f"/v1/deals/{kept['id']}/receipt", "buyer", json=signed_receipt(node, custodian, kept["id"], 30_000)
    )
    node.ok("POST", f"/v1/deals/{kept['id']}/dispute", "park", json={"reason": "late payment notice"})
    back = node.ok(
        "POST", f"/v1/deals/{kept['id']}/resolve", "regulator", json={"outcome": "continue", "note": "paid in time"}
    )
    assert back["state"] == "paid"
    assert node.ok("POST", f"/v1/deals/{kept['id']}/deliver", "park")["state"] == "delivered"


def test_a_replayed_receipt_pays_nothing_twice_and_changes_nothing(node):
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_body(batch, 50_000_000))
    first = bought(node, listing["id"], 2_000_000, deliver=False)
    offer = node.ok("POST", f"/v1/listings/{listing['id']}/offers", "buyer",
                    json={"quantity": 2_000_000, "price": "58.00", "expires_at": int(time.time()) + 600})  # fmt: skip
    second = node.ok("POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "accept"})
    receipt = payment(node, first["id"], 116)
    # The receipt names deal `first`: on another deal it recovers another signer, nobody the node knows.
    assert error_of(node.call("POST", f"/v1/deals/{second['id']}/receipt", "buyer", json=receipt)) == (
        422,
        "not_a_custodian",
    )
    assert error_of(node.call("POST", f"/v1/deals/{first['id']}/receipt", "buyer", json=receipt)) == (
        409,
        "deal_not_awaiting_payment",
    )
    assert node.ok("GET", f"/v1/deals/{second['id']}", "buyer")["state"] == "accepted"
    assert [s["state"] for s in node.ok("GET", f"/v1/deals/{first['id']}", "buyer")["steps"]] == ["accepted", "paid"]
