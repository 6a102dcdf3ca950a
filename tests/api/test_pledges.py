"""Pledges end to end over HTTP on a real chain: a holder's consent, a bank's lien, pledged units that cannot be
moved, retired or listed, release, default with a reason and enforcement as a transfer to the bank, each step in
provenance; and the refusals (no consent, a consent used twice, not the bank, the wrong state)."""

import time

import pytest

from node.devflows import deposit, error_of, issued_batch, listing_for

T = 1_000_000


@pytest.fixture(scope="module")
def held(node) -> dict:
    """The buyer holds 10 t of a batch."""
    _, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 10 * T})
    return {"batch": batch}


def _consent(node, batch: int, amount: int, who: str = "buyer") -> dict:
    body = {"batch_id": batch, "bank": node.addresses["bank"], "amount": amount, "deadline": int(time.time()) + 600}
    return node.ok("POST", "/v1/pledges/consent", who, json=body)


def _pledge(node, signed: dict, who: str = "bank"):
    body = {"consent": {k: signed[k] for k in ("batch_id", "holder", "bank", "amount", "nonce", "deadline")},
            "signature": signed["signature"]}  # fmt: skip
    return node.call("POST", "/v1/pledges", who, json=body)


def _holding(node, batch: int, who: str = "buyer") -> dict:
    return next(h for h in node.ok("GET", "/v1/me/holdings", who) if h["batch_id"] == batch)


def test_pledged_units_cannot_move_until_the_bank_releases_them(node, held):
    batch = held["batch"]
    signed = _consent(node, batch, 4 * T)
    assert signed["holder"] == node.addresses["buyer"].lower() and signed["nonce"] == 0
    registered = _pledge(node, signed)
    assert registered.status_code == 201, registered.text
    pledge_id = registered.json()["result"]["pledge_id"]
    assert node.ok("GET", f"/v1/pledges/{pledge_id}")["state"] == "active"
    holding = _holding(node, batch)
    assert (holding["amount"], holding["pledged"], holding["free"]) == (10 * T, 4 * T, 6 * T)
    # The same consent cannot be used twice, and only the bank it names registers it.
    assert error_of(_pledge(node, signed)) == (409, "InvalidConsentNonce")
    assert error_of(_pledge(node, signed, who="park")) == (403, "forbidden")
    # The pledged 4 t stay put: more than the free 6 t is refused on chain, by name.
    moved = {"batch_id": batch, "to": node.addresses["platform"], "amount": 7 * T}
    assert error_of(node.call("POST", "/v1/transfers", "buyer", json=moved)) == (409, "UnitsPledged")
    retired = {"batch_id": batch, "amount": 7 * T, "beneficiary": "某公司", "reason": "碳中和",
               "consumption_start": 1_700_000_000, "consumption_end": 1_710_000_000, "region": "CN-ZJ"}  # fmt: skip
    assert error_of(node.call("POST", "/v1/retirements", "buyer", json=retired)) == (409, "UnitsPledged")
    node.ok("POST", "/v1/transfers", "buyer", json={**moved, "amount": 6 * T})  # the free part moves
    assert deposit(node, "buyer").status_code == 201
    listed = node.call("POST", "/v1/listings", "buyer", json=listing_for(batch, T))
    assert error_of(listed) == (409, "exceeds_unencumbered_balance")  # a listing offers free units only
    assert error_of(node.call("POST", f"/v1/pledges/{pledge_id}/release", "park")) == (403, "forbidden")
    assert error_of(node.call("POST", f"/v1/pledges/{pledge_id}/enforce", "bank")) == (409, "pledge_not_open")
    node.ok("POST", f"/v1/pledges/{pledge_id}/release", "bank")
    assert node.ok("GET", f"/v1/pledges/{pledge_id}")["state"] == "released"
    assert _holding(node, batch)["free"] == 4 * T
    names = [e["name"] for e in node.ok("GET", f"/v1/batches/{batch}/provenance", params={"limit": 500})["events"]]
    assert "PledgeRegistered" in names and "PledgeReleased" in names


def test_after_a_default_the_bank_takes_the_units(node, held):
    batch = held["batch"]
    before = _holding(node, batch)["amount"]
    pledge_id = _pledge(node, _consent(node, batch, 3 * T)).json()["result"]["pledge_id"]
    node.ok("POST", f"/v1/pledges/{pledge_id}/default", "bank", json={"reason": "贷款逾期 90 天未还"})
    shown = node.ok("GET", f"/v1/pledges/{pledge_id}")
    assert shown["state"] == "defaulted" and shown["default_reason"] == "贷款逾期 90 天未还"
    node.ok("POST", f"/v1/pledges/{pledge_id}/enforce", "bank")
    assert node.ok("GET", f"/v1/pledges/{pledge_id}")["state"] == "enforced"
    assert _holding(node, batch)["amount"] == before - 3 * T
    assert _holding(node, batch, "bank")["amount"] == 3 * T
    events = node.ok("GET", f"/v1/batches/{batch}/provenance", params={"limit": 500})["events"]
    enforced = [e for e in events if e["name"] == "PledgeEnforced"]
    bank = node.addresses["bank"].lower()
    moved = [e for e in events if e["name"] == "CertificateTransferred" and e["args"]["to"] == bank]
    assert enforced and moved and moved[-1]["args"]["amount"] == 3 * T
    assert [p["id"] for p in node.ok("GET", "/v1/pledges", params={"holder": node.addresses["buyer"]})] == [1, 2]


def test_a_consent_not_signed_by_the_holder_or_beyond_the_free_units_is_refused(node, held):
    batch = held["batch"]
    free = _holding(node, batch)["free"]
    asked = {"batch_id": batch, "bank": node.addresses["bank"], "amount": free + 1, "deadline": int(time.time()) + 60}
    assert error_of(node.call("POST", "/v1/pledges/consent", "buyer", json=asked)) == (409, "exceeds_free_balance")
    for wrong in ({"deadline": int(time.time()) - 1}, {"bank": node.addresses["park"]}, {"amount": 0}):
        refused = node.call("POST", "/v1/pledges/consent", "buyer", json={**asked, "amount": T, **wrong})
        assert error_of(refused)[0] in (409, 422), wrong
    listing = node.ok("POST", "/v1/listings", "buyer", json=listing_for(batch, free))  # every free unit offered
    assert error_of(node.call("POST", "/v1/pledges/consent", "buyer", json={**asked, "amount": T})) == (
        409, "exceeds_free_balance")  # fmt: skip
    node.ok("DELETE", f"/v1/listings/{listing['id']}", "buyer")
    signed = _consent(node, batch, T)
    forged = {**signed, "amount": 2 * T}  # terms changed after signing: the signature no longer recovers the holder
    assert error_of(_pledge(node, forged)) == (409, "consent_not_by_holder")
    assert node.ok("GET", "/v1/pledges", params={"state": "active"}) == []
