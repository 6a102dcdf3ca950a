"""Deposits before listing, the blacklist, and compensation cases when a sold batch is revoked."""

import re

from eth_account import Account

from node.devflows import bought, custodian, custody_signature, deposit, error_of, issued_batch, listing_for


def test_a_seller_lists_only_with_a_deposit_a_custodian_confirmed(node):
    _, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["platform"],
                                                   "amount": 10_000_000, "deal_ref": "0x" + "00" * 32})  # fmt: skip
    assert error_of(node.call("POST", "/v1/listings", "platform", json=listing_for(batch, 5_000_000))) == (
        409,
        "deposit_required",
    )
    assert error_of(deposit(node, "platform", signer=Account.create())) == (422, "not_a_custodian")
    assert node.ok("GET", f"/v1/deposits/{node.addresses['platform']}", "platform")["remaining_fen"] == 0

    recorded = deposit(node, "platform", amount_fen=2_000_000)
    assert recorded.status_code == 201 and recorded.json()["remaining_fen"] == 2_000_000
    node.ok("POST", "/v1/listings", "platform", json=listing_for(batch, 5_000_000))
    assert error_of(node.call("GET", f"/v1/deposits/{node.addresses['platform']}", "buyer")) == (403, "forbidden")
    assert node.ok("GET", f"/v1/deposits/{node.addresses['platform']}", "regulator")["remaining_fen"] == 2_000_000


def test_a_replayed_deposit_receipt_is_refused_and_changes_nothing(node):
    seller = node.addresses["platform"].lower()
    message = {"seller": seller, "amountFen": 700, "currency": "CNY", "custodianRef": "DEP-REPLAY", "paidAt": 1}
    body = {"seller": seller, "amount_fen": 700, "currency": "CNY", "custodian_ref": "DEP-REPLAY", "paid_at": 1,
            "signature": custody_signature(node, custodian(node), "DepositReceipt", message)}  # fmt: skip
    before = node.ok("GET", f"/v1/deposits/{seller}", "regulator")["remaining_fen"]
    node.ok("POST", "/v1/deposits", "platform", json=body)
    assert error_of(node.call("POST", "/v1/deposits", "platform", json=body)) == (409, "receipt_replayed")
    assert node.ok("GET", f"/v1/deposits/{seller}", "regulator")["remaining_fen"] == before + 700
    tampered = {**body, "amount_fen": 70_000}
    assert error_of(node.call("POST", "/v1/deposits", "platform", json=tampered)) == (422, "not_a_custodian")


def test_a_blacklisted_participant_is_frozen_suspended_and_shown(node):
    assert deposit(node, "park").status_code == 201
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 20_000_000))
    body = {"account": node.addresses["buyer"], "reason": "circular trades with a related company"}
    assert error_of(node.call("POST", "/v1/regulator/blacklist", "park", json=body)) == (403, "forbidden")
    node.ok("POST", "/v1/regulator/blacklist", "regulator", json=body)

    assert node.ok("GET", "/v1/me", "buyer")["frozen"] is True, "frozen on chain, not only in the node"
    shown = node.ok("GET", "/v1/blacklist")
    assert [e["account"] for e in shown] == [node.addresses["buyer"].lower()]
    page = node.call("GET", "/blacklist").text
    assert "黑名单" in page and node.addresses["buyer"].lower() in page
    offer = {"quantity": 1_000_000, "price": "58.00", "expires_at": 2**33}
    assert error_of(node.call("POST", f"/v1/listings/{listing['id']}/offers", "buyer", json=offer)) == (
        403,
        "blacklisted",
    )
    reply = node.call("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"],
                                                             "amount": 1, "deal_ref": "0x" + "00" * 32})  # fmt: skip
    assert error_of(reply) == (409, "AccountFrozen"), "it cannot receive, whichever way the units are sent"

    node.ok("POST", f"/v1/regulator/blacklist/{node.addresses['buyer']}/lift", "regulator", json={"reason": "cleared"})
    assert node.ok("GET", "/v1/blacklist") == [] and node.ok("GET", "/v1/me", "buyer")["frozen"] is False

    # A blacklisted seller's listings are suspended at once and it cannot list.
    node.ok("POST", "/v1/regulator/blacklist", "regulator", json={**body, "account": node.addresses["park"]})
    suspended = node.ok("GET", f"/v1/listings/{listing['id']}")
    assert suspended["status"] == "suspended"
    assert listing["id"] in [item["id"] for item in node.ok("GET", "/v1/listings", params={"status": "suspended"})]
    assert error_of(node.call("POST", "/v1/listings", "park", json=listing_for(batch, 1_000_000))) == (
        403,
        "blacklisted",
    )
    node.ok("POST", f"/v1/regulator/blacklist/{node.addresses['park']}/lift", "regulator", json={"reason": "done"})
    assert node.ok("GET", f"/v1/listings/{listing['id']}")["status"] == "open"


def test_revoking_a_sold_batch_opens_a_compensation_case_per_deal(node):
    assert deposit(node, "park", amount_fen=300_000).status_code == 201
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 30_000_000))
    delivered = bought(node, listing["id"], 10_000_000)
    paid = bought(node, listing["id"], 5_000_000, deliver=False)
    assert (delivered["state"], paid["state"]) == ("delivered", "paid")
    assert node.ok("GET", "/v1/compensation", "regulator") == []

    node.ok("POST", f"/v1/regulator/batches/{batch}/status", "regulator", json={"action": "revoke", "reason": "fraud"})
    cases = node.ok("GET", "/v1/compensation", "regulator")
    assert sorted((c["deal_id"], c["quantity"], c["state"]) for c in cases) == [
        (delivered["id"], 10_000_000, "open"),
        (paid["id"], 5_000_000, "open"),
    ]
    assert (
        len(node.ok("GET", "/v1/compensation", "buyer")) == 2 and node.ok("GET", "/v1/compensation", "platform") == []
    )
    first, second = sorted(cases, key=lambda c: c["deal_id"])

    remaining = node.ok("GET", f"/v1/deposits/{node.addresses['park']}", "park")["remaining_fen"]
    too_much = {"outcome": "compensated", "amount_fen": remaining + 1, "note": "refund"}
    reply = node.call("POST", f"/v1/regulator/compensation/{first['id']}", "regulator", json=too_much)
    assert error_of(reply) == (409, "deposit_insufficient")
    assert error_of(
        node.call("POST", f"/v1/regulator/compensation/{first['id']}", "buyer", json={**too_much, "amount_fen": 1})
    ) == (403, "forbidden")
    done = node.ok(
        "POST",
        f"/v1/regulator/compensation/{first['id']}",
        "regulator",
        json={"outcome": "compensated", "amount_fen": 58_000, "note": "price paid, from the deposit"},
    )
    assert done["state"] == "compensated" and done["amount_fen"] == 58_000
    assert node.ok("GET", f"/v1/deposits/{node.addresses['park']}", "park")["remaining_fen"] == remaining - 58_000
    node.ok("POST", f"/v1/regulator/compensation/{second['id']}", "regulator",
            json={"outcome": "waived", "note": "the buyer was refunded by the custodian"})  # fmt: skip
    reply = node.call("POST", f"/v1/regulator/compensation/{second['id']}", "regulator",
                      json={"outcome": "waived", "note": "again"})  # fmt: skip
    assert error_of(reply) == (409, "case_closed")
    assert len(node.ok("GET", "/v1/compensation", "regulator")) == 2, "re-reading opens no case twice"


def test_public_price_statistics_cover_closed_months_with_five_deals_or_more(node):
    assert deposit(node, "park", amount_fen=100_000).status_code == 201
    park = {"name": "滨江公园", "region": "CN-SH", "kind": "park"}
    wetland = {"name": "西溪湿地", "region": "CN-ZJ", "kind": "wetland"}
    prices = ["50.00", "52.00", "55.00", "61.00", "70.00"]
    deals = []
    for profile, quotes in ((park, prices), (wetland, prices[:4])):
        project, batch = issued_batch(node, profile=profile)
        assert node.ok("GET", f"/v1/projects/{project}")["profile"]["kind"] == profile["kind"]
        listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 50_000_000))
        assert (
            node.ok("GET", "/v1/listings", params={"kind": profile["kind"], "region": profile["region"]})[0]["id"]
            == listing["id"]
        )
        deals += [bought(node, listing["id"], 1_000_000, price=p)["id"] for p in quotes]
    assert node.ok("GET", "/v1/market/prices") == [], "this month is still open"

    # Let a month pass: the deliveries move back 40 days (time is the one thing a test cannot wait for).
    node.store_write(f"UPDATE deal_step SET at = at - 40 * 86400 WHERE deal_id IN ({','.join('?' * len(deals))})",
                     tuple(deals))  # fmt: skip
    stats = node.ok("GET", "/v1/market/prices")
    published = [(s["kind"], s["deals"], s["median_cny_per_tonne"], s["min_cny_per_tonne"], s["max_cny_per_tonne"])
                 for s in stats]  # fmt: skip
    assert published == [("park", 5, "55.00", "50.00", "70.00")], "the 4 wetland deals stay unpublished"
    assert "61.00" not in node.call("GET", "/v1/market/prices").text
    # The same figures on the public page, in both languages.
    page = node.call("GET", "/prices").text
    row = re.search(r'<table class="records" id="prices">.*?</tr>\s*<tr>(.*?)</tr>', page, re.S)[1]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[2:] == ["公园", "5", "55.00", "50.00", "70.00"] and "61.00" not in page
    assert "Monthly deal prices" in node.call("GET", "/prices", params={"lang": "en"}).text


def test_a_signature_that_is_not_one_is_refused_not_a_crash(node):
    zero = {"v": 27, "r": "0x" + "00" * 32, "s": "0x" + "00" * 32}
    body = {"seller": node.addresses["park"], "amount_fen": 1, "currency": "CNY", "custodian_ref": "X",
            "paid_at": 1, "signature": zero}  # fmt: skip
    assert error_of(node.call("POST", "/v1/deposits", "park", json=body)) == (422, "invalid_signature")
