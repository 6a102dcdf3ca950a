"""Listings: honest, backed, never more than the seller holds unlisted, suspended as the chain says."""

import time

import pytest

from node.devflows import deposit, error_of, issued_batch


@pytest.fixture(autouse=True, scope="module")
def _park_has_a_deposit(node):
    assert deposit(node, "park").status_code == 201


def listing_body(batch: int, quantity: int, **fields) -> dict:
    now = int(time.time())
    body = {
        "batch_id": batch,
        "quantity": quantity,
        "price": "58.50",
        "min_lot": 1_000_000,
        "valid_from": now - 60,
        "valid_until": now + 30 * 86_400,
        "title": "滨江公园 2025 年度园林碳汇",
        "description": "Verified urban green-space sink; price agreed between the parties.",
    }
    body.update(fields)
    return body


def test_a_listing_discloses_what_a_buyer_needs(node):
    project, batch = issued_batch(node)
    created = node.ok("POST", "/v1/listings", "park", json=listing_body(batch, 100_000_000))
    assert created["status"] == "open" and created["price_cny_per_tonne"] == "58.50"
    assert created["verification"]["evidence_root"] == created["batch"]["evidence_root"]
    assert created["accounting"]["method"] == "SL-GS-001/1.1" and created["project"]["id"] == project
    assert (
        "not a financial product" in created["risk_statement"]["en"]
        and "不是金融产品" in created["risk_statement"]["zh"]
    )
    page = node.call("GET", f"/listings/{created['id']}", params={"lang": "en"}).text
    assert "Risk statement" in page and "58.50" in page
    found = node.ok("GET", "/v1/listings", params={"project_id": project, "max_price": "60", "min_quantity": 1})
    assert [item["id"] for item in found] == [created["id"]]
    assert node.ok("GET", "/v1/listings", params={"project_id": project, "min_price": "60"}) == []


def test_investment_wording_is_refused_naming_the_phrase(node):
    _, batch = issued_batch(node)
    reply = node.call("POST", "/v1/listings", "park", json=listing_body(batch, 10**6, title="保 本 稳 赚 的 碳 汇"))
    assert error_of(reply) == (422, "financial_wording") and "title:" in reply.json()["error"]["message"]
    assert "保本" in reply.json()["error"]["message"]
    reply = node.call(
        "POST", "/v1/listings", "park", json=listing_body(batch, 10**6, description="ＧＵＡＲＡＮＴＥＥＤ return")
    )
    assert error_of(reply) == (422, "financial_wording")


def test_a_listing_never_exceeds_the_unencumbered_balance(node):
    _, batch = issued_batch(node)
    held = node.ok("GET", f"/v1/batches/{batch}")["quantity"] - node.ok("GET", f"/v1/batches/{batch}")["buffer_amount"]
    first = node.ok("POST", "/v1/listings", "park", json=listing_body(batch, held - 5_000_000))
    reply = node.call("POST", "/v1/listings", "park", json=listing_body(batch, 6_000_000))
    assert error_of(reply) == (409, "exceeds_unencumbered_balance")
    node.ok("DELETE", f"/v1/listings/{first['id']}", "park")
    node.ok("POST", "/v1/listings", "park", json=listing_body(batch, 6_000_000))
    assert error_of(node.call("POST", "/v1/listings", "buyer", json=listing_body(batch, 1_000_000)))[0] == 409


def test_a_listing_is_suspended_the_moment_the_batch_is_frozen(node):
    _, batch = issued_batch(node)
    created = node.ok("POST", "/v1/listings", "park", json=listing_body(batch, 10_000_000))
    node.ok("POST", f"/v1/regulator/batches/{batch}/status", "regulator", json={"action": "freeze", "reason": "audit"})
    suspended = node.ok("GET", f"/v1/listings/{created['id']}")
    assert suspended["status"] == "suspended" and "frozen" in suspended["status_reason"]
    assert created["id"] not in [item["id"] for item in node.ok("GET", "/v1/listings")]
    assert error_of(node.call("POST", "/v1/listings", "park", json=listing_body(batch, 1_000_000))) == (
        409,
        "batch_not_active",
    )
    node.ok("POST", f"/v1/regulator/batches/{batch}/status", "regulator", json={"action": "unfreeze", "reason": "ok"})
    assert node.ok("GET", f"/v1/listings/{created['id']}")["status"] == "open"
