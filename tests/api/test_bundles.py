"""Bundles (批量打包): a listing of several batches with fixed shares, bought in one transaction."""

import pytest

from node.devflows import bought, deposit, error_of, issued_batch, listing_for


@pytest.fixture(autouse=True, scope="module")
def _park_has_a_deposit(node):
    assert deposit(node, "park").status_code == 201


def test_a_bundle_is_delivered_from_every_constituent_in_one_transaction(node):
    batches = [issued_batch(node)[1] for _ in range(3)]
    parts = [{"batch_id": b, "quantity": q} for b, q in zip(batches, (10_000_000, 20_000_000, 30_000_000), strict=True)]
    bundle = node.ok("POST", "/v1/listings", "park", json=listing_for(None, None, parts=parts, title="社区绿地打包"))
    assert bundle["bundle"] and bundle["quantity"] == 60_000_000
    assert [c["batch_id"] for c in bundle["constituents"]] == sorted(batches)
    assert all(c["verification"]["evidence_root"] == c["batch"]["evidence_root"] for c in bundle["constituents"])

    deal = bought(node, bundle["id"], 1_000_001)
    assert deal["state"] == "delivered"
    allocation = {b: g for b, g in deal["allocation"]}
    assert sum(allocation.values()) == 1_000_001
    # 1:2:3 of 1,000,001 g: 166,666.83 / 333,333.67 / 500,000.5 → floors 166,666 / 333,333 / 500,000, and
    # the 2 leftover grams go to the largest remainders (0.83 and 0.67).
    assert [allocation[b] for b in sorted(batches)] == [166_667, 333_334, 500_000]
    holdings = {h["batch_id"]: h["amount"] for h in node.ok("GET", "/v1/me/holdings", "buyer")}
    assert all(holdings[b] == allocation[b] for b in batches)
    assert [c["provenance"].rsplit("/", 1)[1] for c in deal["constituents"]] == [str(b) for b in sorted(batches)]
    txs = set()
    for b in batches:
        events = node.ok("GET", f"/v1/batches/{b}/provenance", params={"limit": 500})["events"]
        moved = [
            e for e in events if e["name"] == "CertificateTransferred" and e["args"]["dealRef"] == deal["deal_ref"]
        ]
        assert len(moved) == 1 and moved[0]["amount"] == allocation[b]
        txs.add(moved[0]["tx_hash"])
    assert len(txs) == 1, "one on-chain transaction for the whole bundle"

    # What is left of each constituent stays encumbered by the bundle: none of it can be listed twice.
    held = node.ok("GET", f"/v1/batches/{batches[0]}")
    free = held["quantity"] - held["buffer_amount"] - 10_000_000
    reply = node.call("POST", "/v1/listings", "park", json=listing_for(batches[0], free + 1))
    assert error_of(reply) == (409, "exceeds_unencumbered_balance")
    node.ok("POST", "/v1/listings", "park", json=listing_for(batches[0], free))


def test_bundle_refusals(node):
    _, batch = issued_batch(node)
    one = [{"batch_id": batch, "quantity": 1_000}]
    assert error_of(node.call("POST", "/v1/listings", "park", json=listing_for(None, None, parts=one)))[0] == 422
    twice = one + one
    assert error_of(node.call("POST", "/v1/listings", "park", json=listing_for(None, None, parts=twice))) == (
        422,
        "validation_error",
    )
    both = listing_for(batch, 1_000, parts=[{"batch_id": batch, "quantity": 1_000}, {"batch_id": 1, "quantity": 1}])
    assert error_of(node.call("POST", "/v1/listings", "park", json=both)) == (422, "validation_error")
    _, other = issued_batch(node)
    node.ok("POST", f"/v1/regulator/batches/{other}/status", "regulator", json={"action": "freeze", "reason": "audit"})
    frozen = [{"batch_id": batch, "quantity": 1_000}, {"batch_id": other, "quantity": 1_000}]
    before = node.ok("GET", "/v1/listings", params={"limit": 500})
    assert error_of(node.call("POST", "/v1/listings", "park", json=listing_for(None, None, parts=frozen))) == (
        409,
        "batch_not_active",
    )
    assert node.ok("GET", "/v1/listings", params={"limit": 500}) == before, "nothing was listed"
