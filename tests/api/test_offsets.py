"""Checkout offsets end to end: 10,000 orders, one on-chain retirement, every order's proof verifies."""

import json
import random
import re
import subprocess
import sys

from node.devflows import error_of, issued_batch
from registry.merkle import InclusionProof
from registry.offsets import OffsetTree, verify_order
from registry.units import format_co2e


def orders(count: int, prefix: str, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "order_id": f"{prefix}-{i:06d}",
            "legs": [
                {"mode": "road", "distance_km": rng.randint(50, 2000), "weight_kg": round(rng.uniform(0.2, 5), 2)},
                {"mode": "van", "distance_km": rng.randint(1, 30), "weight_kg": 1.0},
            ],
            "packaging": [{"material": "corrugated_board", "mass_kg": 0.2}],
        }
        for i in range(count)
    ]


def test_ten_thousand_orders_are_offset_by_one_retirement_with_provable_inclusion(node):
    _, batch = issued_batch(node)
    node.ok(
        "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["platform"], "amount": 10**8}
    )
    result = node.ok(
        "POST", "/v1/offsets/logistics", "platform", json={"orders": orders(10_000, "T"), "region": "CN-ZJ"}
    )
    assert result["orders"] == 10_000 and len(result["retirements"]) == 1
    retirement = result["retirements"][0]
    assert retirement["amount"] == result["total_grams"] and retirement["batch_id"] == batch

    on_chain = node.ok("GET", f"/v1/retirements/{retirement['retirement_id']}")
    assert on_chain["beneficiary_hash"] == result["root"] and on_chain["amount"] == result["total_grams"]
    listed = node.ok("GET", f"/v1/offsets/{result['offset_id']}/orders")
    root = bytes.fromhex(result["root"][2:])
    assert len(listed["orders"]) == 10_000 and sum(g for _, g in listed["orders"]) == result["total_grams"]
    rebuilt = OffsetTree.build([(order_id, grams) for order_id, grams in listed["orders"]])
    assert rebuilt.root == root, "the listed orders rebuild the root retired on chain"
    for index, (order_id, grams) in enumerate(listed["orders"]):
        assert verify_order(order_id, grams, rebuilt.proof(index), root)

    one = node.ok("GET", "/v1/offsets/orders/T-004242")
    proof = InclusionProof.from_dict(one["proof"])
    assert verify_order("T-004242", one["grams"], proof, root)
    assert not verify_order("T-004242", one["grams"] + 1, proof, root), "tampered grams must fail"
    assert not verify_order("T-004243", one["grams"], proof, root)
    page = node.call("GET", "/offsets/orders/T-004242", params={"lang": "en"}).text
    assert 'id="check" data-verified="true"' in page and "Checked: this order is one of those" in page
    assert re.search(r'id="grams">([^<]+)<', page)[1] == format_co2e(one["grams"])
    assert f'href="/retirements/{retirement["retirement_id"]}?lang=en"' in page
    assert 'id="download" href="/v1/offsets/orders/T-004242"' in page

    again = node.call("POST", "/v1/offsets/logistics", "platform", json={"orders": orders(1, "T")})
    assert error_of(again) == (409, "order_already_offset")


def test_bad_orders_are_refused_naming_the_order_and_field(node):
    air = orders(3, "AIR")
    air[2]["legs"][0]["mode"] = "air"
    reply = node.call("POST", "/v1/offsets/logistics", "platform", json={"orders": air})
    assert error_of(reply) == (422, "invalid_order") and "orders[2].legs[0].mode" in reply.json()["error"]["message"]
    dup = orders(2, "DUP")
    dup[1]["order_id"] = dup[0]["order_id"]
    assert error_of(node.call("POST", "/v1/offsets/logistics", "platform", json={"orders": dup})) == (
        422,
        "duplicate_order",
    )
    far = orders(1, "FAR")
    far[0]["legs"][0]["distance_km"] = 10**6
    reply = node.call("POST", "/v1/offsets/logistics", "platform", json={"orders": far})
    assert (
        error_of(reply) == (422, "invalid_order")
        and "orders[0].legs[0].distance_km" in reply.json()["error"]["message"]
    )
    big = orders(1, "BIG")
    big[0]["legs"][0].update(distance_km=40_000, weight_kg=50_000)
    assert error_of(node.call("POST", "/v1/offsets/logistics", "buyer", json={"orders": big})) == (
        409,
        "insufficient_holdings",
    )


def test_points_follow_only_indexed_retirements(node):
    _, batch = issued_batch(node)
    node.ok(
        "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["platform"], "amount": 10**7}
    )
    shopped = orders(3, "PTS")
    for order, shopper in zip(shopped, ("alice", "alice", "bob"), strict=True):
        order["shopper"] = shopper
    result = node.ok("POST", "/v1/offsets/logistics", "platform", json={"orders": shopped})
    grams = {o["order_id"]: node.ok("GET", f"/v1/offsets/orders/{o['order_id']}")["grams"] for o in shopped}
    alice = node.ok("GET", "/v1/points/alice", "platform")
    assert alice["grams"] == grams["PTS-000000"] + grams["PTS-000001"] and alice["points"] == alice["grams"] // 10
    assert alice["entries"][0]["retirement_ids"] == [r["retirement_id"] for r in result["retirements"]]
    assert node.ok("GET", "/v1/points/carol", "platform")["points"] == 0

    before = node.ok("GET", "/v1/me/points", "platform")["points"]
    node.ok("POST", "/v1/retirements", "platform", json={"batch_id": batch, "amount": 5000, "beneficiary": "me"})
    assert node.ok("GET", "/v1/me/points", "platform")["points"] == before + 500
    refused = node.call(
        "POST", "/v1/retirements", "platform", json={"batch_id": batch, "amount": 10**12, "beneficiary": "x"}
    )
    assert refused.status_code == 409 and node.ok("GET", "/v1/me/points", "platform")["points"] == before + 500


def test_an_order_certificate_checks_offline_with_the_cli(node, tmp_path):
    _, batch = issued_batch(node)
    node.ok(
        "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["platform"], "amount": 10**6}
    )
    node.ok("POST", "/v1/offsets/logistics", "platform", json={"orders": orders(5, "CLI")})
    certificate = node.ok("GET", "/v1/offsets/orders/CLI-000003")
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    command = [sys.executable, "-m", "node.cli", "offsets", "verify", str(path)]
    good = subprocess.run(command, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert good.returncode == 0 and "is in root" in good.stdout
    path.write_text(json.dumps({**certificate, "grams": certificate["grams"] + 1}))
    assert subprocess.run(command, capture_output=True, text=True, timeout=60).returncode == 1
