"""Subscription campaigns: 10,000 small subscribers, paid by settlement receipts, retired once, every
proof verifying against the root on chain; and a campaign that misses its deadline retires nothing."""

import html
import json
import random
import re
import subprocess
import sys
import time

import pytest
from eth_account import Account

from node.devflows import deposit, error_of, issued_batch, listing_for, settlement
from registry.campaigns import verify_subscriber
from registry.merkle import InclusionProof


@pytest.fixture(autouse=True, scope="module")
def _park_has_a_deposit(node):
    assert deposit(node, "park").status_code == 201


def _retirements(node) -> int:
    return len(node.ok("GET", "/v1/registry/retirements"))


def test_ten_thousand_subscribers_are_retired_once_and_every_proof_verifies(node, tmp_path):
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 1_000_000_000))
    rng = random.Random(11)
    grams = [rng.choice((1, 2, 5, 10, 50, 100, 1_000)) for _ in range(10_000)]
    target = sum(grams)
    deadline = int(time.time()) + 3600
    campaign = node.ok("POST", f"/v1/listings/{listing['id']}/campaign", "park",
                       json={"target": target, "deadline": deadline})  # fmt: skip
    assert error_of(node.call("POST", f"/v1/listings/{listing['id']}/campaign", "buyer",
                              json={"target": 1, "deadline": deadline})) == (403, "forbidden")  # fmt: skip
    cid = campaign["id"]
    entries = [{"subscriber": f"shopper-{i % 9_000}", "grams": g, "amount_fen": max(1, g * 6 // 1000)}
               for i, g in enumerate(grams)]  # fmt: skip
    made = node.ok("POST", f"/v1/campaigns/{cid}/subscriptions", "platform", json={"subscriptions": entries})
    ids = list(range(made["first_id"], made["last_id"] + 1))
    assert len(ids) == 10_000
    extra = {"subscriptions": [{"subscriber": "late", "grams": 1, "amount_fen": 1}]}
    assert error_of(node.call("POST", f"/v1/campaigns/{cid}/subscriptions", "platform", json=extra)) == (
        409,
        "oversubscribed",
    )
    assert node.ok("GET", f"/v1/campaigns/{cid}")["subscriptions"] == 10_000, "the refused one changed nothing"

    payments = [(i, e["amount_fen"]) for i, e in zip(ids, entries, strict=True)]
    first, second = payments[:6_000], payments[6_000:]
    forged = settlement(node, cid, first, signer=Account.create())
    assert error_of(node.call("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=forged)) == (
        422,
        "not_a_custodian",
    )
    short = settlement(node, cid, first, amount_fen=sum(a for _, a in first) - 1)
    assert error_of(node.call("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=short)) == (
        422,
        "amount_mismatch",
    )
    receipt = settlement(node, cid, first)
    tampered = {**receipt, "subscription_ids": receipt["subscription_ids"][::-1]}
    assert error_of(node.call("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=tampered))[1] == (
        "not_a_custodian"
    ), "another leaf order is another root, which the custodian did not sign"
    before = _retirements(node)
    state = node.ok("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=receipt)
    assert (state["state"], state["paid_subscriptions"]) == ("open", 6_000)
    assert error_of(node.call("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=receipt)) == (
        409,
        "receipt_replayed",
    )
    unpaid = node.ok("GET", f"/v1/campaigns/{cid}/subscriptions/{second[0][0]}")
    assert unpaid["state"] == "awaiting payment" and "proof" not in unpaid

    retired = node.ok("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=settlement(node, cid, second))
    assert retired["state"] == "retired" and retired["paid_grams"] == target
    assert _retirements(node) == before + 1, "the whole campaign is one retirement"
    on_chain = node.ok("GET", f"/v1/retirements/{retired['retirement_id']}")
    assert on_chain["amount"] == target and on_chain["beneficiary_hash"] == retired["root"]

    root = bytes.fromhex(retired["root"][2:])
    served, after = [], 0
    while after is not None:
        page = node.ok("GET", f"/v1/campaigns/{cid}/certificates", params={"after": after, "limit": 4_000})
        served += page["certificates"]
        after = page["next_after"]
    assert [c["subscription_id"] for c in served] == ids
    for cert in served:
        assert verify_subscriber(cert["subscriber"], cert["grams"], InclusionProof.from_dict(cert["proof"]), root)
    assert not verify_subscriber(
        "shopper-1", served[1]["grams"] + 1, InclusionProof.from_dict(served[1]["proof"]), root
    )

    expected = sum(g for i, g in enumerate(grams) if i % 9_000 == 7) // 10
    assert node.ok("GET", "/v1/points/shopper-7", "buyer")["points"] == expected
    rebates = [e for e in node.ok("GET", "/v1/me/points", "park")["entries"] if e["source"].startswith("rebate")]
    assert rebates[0]["points"] == target // 100 and rebates[0]["source"] == f"rebate: campaign {cid}"
    page = node.call("GET", f"/campaigns/{cid}/subscriptions/{ids[0]}").text
    assert "碳汇众筹认购证书" in page and "<svg" in page and retired["root"] in page
    assert 'id="check" data-verified="true"' in page and 'name="viewport"' in page
    assert f'href="/retirements/{retired["retirement_id"]}"' in page
    proof = re.search(r'<pre id="proof" class="mono">(.*?)</pre>', page, re.S)[1]
    assert json.loads(html.unescape(proof)) == served[0]["proof"]  # JSON, not a Python dict
    # The certificate a subscriber downloads checks offline with the CLI, as an order's does.
    downloaded = node.ok("GET", f"/v1/campaigns/{cid}/subscriptions/{ids[0]}")
    path = tmp_path / "subscription.json"
    path.write_text(json.dumps(downloaded))
    command = [sys.executable, "-m", "node.cli", "offsets", "verify", str(path)]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert checked.returncode == 0 and "is in root" in checked.stdout, checked.stdout + checked.stderr
    path.write_text(json.dumps({**downloaded, "grams": downloaded["grams"] + 1}))
    assert subprocess.run(command, capture_output=True, text=True, timeout=60).returncode == 1
    qr = node.call("GET", f"/v1/qr/campaigns/{cid}/subscriptions/{ids[0]}.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg")


def test_a_campaign_that_misses_its_deadline_retires_nothing_and_marks_refunds(node):
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 100_000_000))
    deadline = int(time.time()) + 3
    cid = node.ok("POST", f"/v1/listings/{listing['id']}/campaign", "park",
                  json={"target": 1_000, "deadline": deadline})["id"]  # fmt: skip
    body = {"subscriptions": [{"subscriber": "a", "grams": 10, "amount_fen": 1},
                              {"subscriber": "b", "grams": 20, "amount_fen": 1}]}  # fmt: skip
    made = node.ok("POST", f"/v1/campaigns/{cid}/subscriptions", "platform", json=body)
    node.ok("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=settlement(node, cid, [(made["first_id"], 1)]))
    before = _retirements(node)
    time.sleep(max(0.0, deadline - time.time()) + 0.5)
    ended = node.ok("GET", f"/v1/campaigns/{cid}")
    assert (ended["state"], ended["refunds_due"], ended["retirement_id"]) == ("failed", 1, None)
    assert node.ok("GET", f"/v1/campaigns/{cid}/subscriptions/{made['first_id']}")["state"] == "refund due"
    assert node.ok("GET", f"/v1/campaigns/{cid}/subscriptions/{made['last_id']}")["state"] == "awaiting payment"
    assert error_of(node.call("POST", f"/v1/campaigns/{cid}/close", "park")) == (409, "campaign_closed")
    assert _retirements(node) == before
    # The listing's reserved target is free again.
    node.ok("POST", f"/v1/listings/{listing['id']}/offers", "buyer",
            json={"quantity": 100_000_000, "price": "58.00", "expires_at": int(time.time()) + 600})  # fmt: skip
