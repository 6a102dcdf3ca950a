"""Races over real HTTP against a real node: many identical or competing writes released at once (one thread
and one client each, behind a barrier), every case repeated, and after each the chain, the index and the
node's off-chain state reconciled with no difference (tests/api/races_support.py).

Each write that may happen once happens once: identical offsets, deliveries, receipts, campaign closes and
requests under one Idempotency-Key; what competes for a quantity never takes more than there is: offsets
beyond the caller's balance, accepts beyond a listing's quantity.
"""

import itertools
import time
import uuid
from collections.abc import Iterator

import pytest

from node.devflows import deposit, issued_batch, listing_for, payment, settlement
from registry.footprint import order_footprint, parse_order
from registry.units import deal_total_fen
from tests.api.races_support import Call, Chain, NodeBug, outcomes, race, reconcile, shape_of, state_rows

N = 12  # concurrent requests per race (at least 10)
N_HOT = 24  # where a loser may be answered wrongly (the strict xfails below): more of them
# Rounds of the races where a loser was once answered wrongly (a 500 where a 409 belongs, a retry refused
# as in progress): fixed in the node; NodeBug still names such an answer if it comes back.
HOT_ROUNDS = 3
RETRY_ATTEMPTS = 3
ROUNDS = range(3)
TONNE = 1_000_000
RESERVING = ("accepted", "paid", "delivering", "delivered", "disputed")
_amounts = itertools.count(10_001)


@pytest.fixture(autouse=True, scope="module")
def _park_has_a_deposit(node):
    assert deposit(node, "park").status_code == 201


@pytest.fixture(scope="module")
def stock(node) -> int:
    """A batch of the park's that funds the other participants and takes the idempotent writes."""
    return issued_batch(node)[1]


@pytest.fixture(scope="module")
def second_stock(node) -> int:
    return issued_batch(node)[1]


def uid() -> str:
    return uuid.uuid4().hex[:12]


def order(order_id: str) -> dict:
    """A parcel; every order of the suite has the same footprint, ORDER_GRAMS."""
    legs = [
        {"mode": "road", "distance_km": 1000, "weight_kg": 2.0},
        {"mode": "van", "distance_km": 12, "weight_kg": 2.0},
    ]
    return {"order_id": order_id, "legs": legs, "packaging": [{"material": "corrugated_board", "mass_kg": 0.2}]}


ORDER_GRAMS = order_footprint(parse_order(order("template"), "orders[0]")).grams


def holdings(node, who: str) -> int:
    """What `who` holds in active batches, as the index says."""
    return sum(h["amount"] for h in node.ok("GET", "/v1/me/holdings", who) if h["status"] == 0)


def fund(node, batch: int, who: str, grams: int) -> None:
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses[who], "amount": grams})


def drain(node, who: str) -> None:
    """Retires everything `who` holds, so a round starts from a balance it sets itself."""
    for h in node.ok("GET", "/v1/me/holdings", who):
        if h["status"] == 0 and h["amount"] > 0:
            body = {"batch_id": h["batch_id"], "amount": h["amount"], "beneficiary": "race suite drain"}
            node.ok("POST", "/v1/retirements", who, json=body)
    assert holdings(node, who) == 0


def rebates(node, source: str) -> int:
    return state_rows(node, "SELECT COUNT(*) FROM carbon_points WHERE source = ?", (f"rebate: {source}",))[0][0]


def steps(deal: dict) -> list[str]:
    return [s["state"] for s in deal["steps"]]


def key_recorded(node, key: str) -> None:
    """Waits (bounded) until the node has kept the answer of the request made under `key`."""
    deadline = time.monotonic() + 5
    while state_rows(node, "SELECT state FROM idempotency_key WHERE key = ?", (key,)) != [("done",)]:
        assert time.monotonic() < deadline, f"the answer under Idempotency-Key {key} was never kept"
        time.sleep(0.02)


def replayed(reply, first) -> bool:
    """The first answer given again: same status, same bytes, marked as a replay."""
    return (
        reply.headers.get("idempotent-replayed") == "true"
        and reply.status_code == first.status_code
        and reply.content == first.content
    )


def originals(replies, status: int) -> list:
    return [r for r in replies if r.status_code == status and "idempotent-replayed" not in r.headers]


# ------------------------------------------------------------------------------------------------
# 1. identical offsets


@pytest.mark.parametrize("keyed", [False, True], ids=["distinct-requests", "one-idempotency-key"])
@pytest.mark.parametrize("round_", ROUNDS)
def test_identical_offsets_retire_once(node, stock, keyed, round_):
    if holdings(node, "platform") < 50 * ORDER_GRAMS:
        fund(node, stock, "platform", 1_000 * ORDER_GRAMS)
    prefix = f"SAME-{uid()}"
    body = {"orders": [order(f"{prefix}-{i}") for i in range(5)], "region": "CN-ZJ"}
    headers = {"Idempotency-Key": f"offset-{uid()}"} if keyed else {}
    replies = race(node, [Call("POST", "/v1/offsets/logistics", "platform", body, headers)] * N)
    counted = outcomes(replies)

    created = originals(replies, 201)
    assert len(created) == 1, counted
    first = created[0]
    for reply in replies:
        if reply is first:
            continue
        if keyed:
            assert replayed(reply, first) or shape_of(reply) == (409, "request_in_progress"), counted
        else:
            assert shape_of(reply) == (409, "order_already_offset"), counted
    answer = first.json()
    assert answer["orders"] == 5 and answer["total_grams"] == 5 * ORDER_GRAMS

    on_chain = [r for r in Chain(node).retirements() if r["beneficiaryHash"] == answer["root"]]
    assert len({r["tx_hash"] for r in on_chain}) == 1, on_chain
    assert sorted(r["retirementId"] for r in on_chain) == sorted(r["retirement_id"] for r in answer["retirements"])
    assert sum(r["amount"] for r in on_chain) == answer["total_grams"]
    indexed = [r for r in node.ok("GET", "/v1/registry/retirements", params={"limit": 5000})
               if r["beneficiary_hash"] == answer["root"]]  # fmt: skip
    assert [r["id"] for r in indexed] == [r["retirementId"] for r in on_chain]
    if keyed:
        key_recorded(node, headers["Idempotency-Key"])
        again = node.call("POST", "/v1/offsets/logistics", "platform", json=body, headers=headers)
        assert replayed(again, first)
    assert node.ok("GET", f"/v1/offsets/orders/{prefix}-3")["offset_id"] == answer["offset_id"]
    assert reconcile(node) == []


# ------------------------------------------------------------------------------------------------
# 2. offsets beyond the balance


@pytest.mark.parametrize("round_", ROUNDS)
def test_offsets_beyond_the_balance_never_overdraw(node, stock, second_stock, round_):
    drain(node, "platform")
    # Two batches of 1.6 orders each: an offset fits in one batch twice; a third needs both (retireBatches).
    part = ORDER_GRAMS * 8 // 5
    fund(node, stock, "platform", part)
    fund(node, second_stock, "platform", part)
    balance = holdings(node, "platform")
    assert balance == 2 * part

    ids = [f"OVER-{uid()}-{i}" for i in range(N)]
    replies = race(node, [Call("POST", "/v1/offsets/logistics", "platform", {"orders": [order(i)]}) for i in ids])
    counted = outcomes(replies)
    refusals = {(409, "insufficient_holdings"), (409, "InsufficientBalance")}
    assert all(key == (201, None) or key in refusals for key in counted), counted
    won = [r.json() for r in replies if r.status_code == 201]
    retired = sum(w["total_grams"] for w in won)
    assert won and retired <= balance, counted
    assert holdings(node, "platform") == balance - retired

    chain = Chain(node).retirements()
    roots = {w["root"] for w in won}
    assert sum(r["amount"] for r in chain if r["beneficiaryHash"] in roots) == retired
    refused = [i for i, r in zip(ids, replies, strict=True) if r.status_code != 201]
    for order_id in refused:  # a refused offset reserved nothing: its order is free again
        assert shape_of(node.call("GET", f"/v1/offsets/orders/{order_id}")) == (404, "not_found")
    # No capacity is lost: the refused orders, offered again one at a time, take what is left.
    for order_id in refused:
        reply = node.call("POST", "/v1/offsets/logistics", "platform", json={"orders": [order(order_id)]})
        if reply.status_code == 201:
            retired += reply.json()["total_grams"]
        else:
            assert shape_of(reply) == (409, "insufficient_holdings")
    assert 0 <= balance - retired < ORDER_GRAMS
    assert holdings(node, "platform") == balance - retired
    assert reconcile(node) == []


# ------------------------------------------------------------------------------------------------
# 3. accepts on one listing


@pytest.mark.parametrize("round_", ROUNDS)
def test_concurrent_accepts_never_reserve_beyond_the_listing(node, round_):
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 20 * TONNE))
    expires = int(time.time()) + 3600
    offers = [
        node.ok("POST", f"/v1/listings/{listing['id']}/offers", ("buyer", "platform")[i % 2],
                json={"quantity": 2 * TONNE, "price": "58.00", "expires_at": expires})
        for i in range(20)
    ]  # fmt: skip
    replies = race(node, [Call("POST", f"/v1/offers/{o['id']}/answer", "park", {"action": "accept"}) for o in offers])
    counted = outcomes(replies)
    assert counted == {(200, None): 10, (409, "quantity_unavailable"): 10}, counted

    deals = [d for d in node.ok("GET", "/v1/me/deals", "regulator") if d["listing_id"] == listing["id"]]
    assert sum(d["quantity"] for d in deals if d["state"] in RESERVING) == 20 * TONNE
    assert sorted(d["offer_id"] for d in deals) == sorted(r.json()["offer_id"] for r in replies if r.status_code == 200)
    lost = [o for o, r in zip(offers, replies, strict=True) if r.status_code != 200]
    assert all(node.ok("GET", f"/v1/offers/{o['id']}", "park")["state"] == "offered" for o in lost)
    late = node.call("POST", f"/v1/listings/{listing['id']}/offers", "buyer",
                     json={"quantity": 2 * TONNE, "price": "58.00", "expires_at": expires})  # fmt: skip
    assert shape_of(late) == (409, "quantity_unavailable")
    assert reconcile(node) == []


# ------------------------------------------------------------------------------------------------
# 4. deliveries of one paid deal


def accepted_deal(node, quantity: int, price: str = "58.00") -> dict:
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 10 * TONNE))
    offer = node.ok("POST", f"/v1/listings/{listing['id']}/offers", "buyer",
                    json={"quantity": quantity, "price": price, "expires_at": int(time.time()) + 3600})  # fmt: skip
    return node.ok("POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "accept"})


def due_fen(price: str, quantity: int) -> int:
    return deal_total_fen(int(price.replace(".", "")), quantity)


def hot_rounds(wrong: list) -> Iterator[int]:
    """At least three rounds; more, up to HOT_ROUNDS, until a wrong answer has been seen."""
    for round_ in range(HOT_ROUNDS):
        if round_ >= len(ROUNDS) and wrong:
            return
        yield round_


def test_concurrent_deliveries_transfer_once(node):
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, HOT_ROUNDS * TONNE))
    wrong: list = []
    for round_ in hot_rounds(wrong):
        offer = node.ok("POST", f"/v1/listings/{listing['id']}/offers", "buyer",
                        json={"quantity": TONNE, "price": "58.00", "expires_at": int(time.time()) + 3600})  # fmt: skip
        deal = node.ok("POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "accept"})
        node.ok("POST", f"/v1/deals/{deal['id']}/receipt", "buyer",
                json=payment(node, deal["id"], due_fen("58.00", TONNE), ref=f"PAY-{uid()}"))  # fmt: skip
        replies = race(node, [Call("POST", f"/v1/deals/{deal['id']}/deliver", "park")] * N_HOT)
        counted = outcomes(replies)
        assert counted.get((200, None)) == 1, counted
        allowed = {(200, None), (409, "deal_not_paid"), (409, "deal_state_changed")}
        wrong += [(round_, key, n) for key, n in counted.items() if key not in allowed]
        [winner] = [r.json() for r in replies if r.status_code == 200]
        assert winner["state"] == "delivered"

        moves = [t for t in Chain(node).transfers() if t["dealRef"] == winner["deal_ref"]]
        assert len(moves) == 1 and moves[0]["amount"] == TONNE, moves
        assert (moves[0]["from"], moves[0]["to"]) == (node.addresses["park"].lower(), node.addresses["buyer"].lower())
        final = node.ok("GET", f"/v1/deals/{deal['id']}", "buyer")
        assert final["state"] == "delivered"
        assert steps(final) == ["accepted", "paid", "delivering", "delivered"]
        assert rebates(node, f"deal {deal['id']}") == 1
        assert reconcile(node) == []
    if wrong:
        raise NodeBug(f"losing deliveries answered (round, (status, code), count): {wrong}")


# ------------------------------------------------------------------------------------------------
# 5. receipts: twice at once, from a non-party, with the wrong amount


@pytest.mark.parametrize("round_", ROUNDS)
def test_a_receipt_pays_once_and_bad_receipts_change_nothing(node, round_):
    price = "58.37"
    # A quantity whose total has half a fen or more: rounding down would be a wrong amount too.
    quantity = next(q for q in range(1_234_567, 2_000_000) if (5837 * q) % TONNE >= TONNE // 2)
    due = due_fen(price, quantity)
    deal = accepted_deal(node, quantity, price)
    ref = f"PAY-{uid()}"
    good = payment(node, deal["id"], due, ref=ref)
    wrong = [payment(node, deal["id"], amount, ref=ref) for amount in (due - 1, due + 1, due * 10, 0)]
    assert (5837 * quantity) // TONNE == due - 1, "the truncated total is among the wrong amounts"
    strangers = ["platform", "issuer", "verifier", "admin"]

    bad = [Call("POST", f"/v1/deals/{deal['id']}/receipt", who, good) for who in strangers for _ in range(2)]
    bad += [Call("POST", f"/v1/deals/{deal['id']}/receipt", who, body) for who in ("buyer", "park") for body in wrong]
    assert len(bad) >= 10
    counted = outcomes(race(node, bad))
    assert counted == {(403, "forbidden"): 8, (422, "receipt_amount_mismatch"): 8}, counted
    unchanged = node.ok("GET", f"/v1/deals/{deal['id']}", "buyer")
    assert (unchanged["state"], unchanged["receipt"], unchanged["deal_ref"]) == ("accepted", None, None)
    assert steps(unchanged) == ["accepted"]

    posters = ["buyer", "park", "regulator"]
    replies = race(node, [Call("POST", f"/v1/deals/{deal['id']}/receipt", posters[i % 3], good) for i in range(N)])
    counted = outcomes(replies)
    assert counted.get((200, None)) == 1, counted
    assert set(counted) <= {(200, None), (409, "deal_not_awaiting_payment"), (409, "deal_state_changed")}, counted
    paid = node.ok("GET", f"/v1/deals/{deal['id']}", "buyer")
    assert paid["state"] == "paid" and steps(paid) == ["accepted", "paid"]
    assert paid["receipt"]["amount_fen"] == due and paid["receipt"]["custodian_ref"] == ref
    # After payment a stranger is still refused, and any receipt of a party finds the deal paid already.
    assert shape_of(node.call("POST", f"/v1/deals/{deal['id']}/receipt", "platform", json=good)) == (403, "forbidden")
    again = node.call("POST", f"/v1/deals/{deal['id']}/receipt", "buyer", json=wrong[0])
    assert shape_of(again) == (409, "deal_not_awaiting_payment")
    assert node.ok("GET", f"/v1/deals/{deal['id']}", "buyer") == paid
    assert reconcile(node) == []


# ------------------------------------------------------------------------------------------------
# 6. one Idempotency-Key, many identical requests


@pytest.mark.parametrize("endpoint", ["transfers", "retirements"])
@pytest.mark.parametrize("round_", ROUNDS)
def test_one_idempotency_key_writes_once(node, stock, endpoint, round_):
    amount = next(_amounts)
    beneficiary = f"idempotent {uid()}"
    if endpoint == "transfers":
        body, ok = {"batch_id": stock, "to": node.addresses["buyer"], "amount": amount}, 200
    else:
        body, ok = {"batch_id": stock, "amount": amount, "beneficiary": beneficiary}, 201
    key = {"Idempotency-Key": f"race-{uid()}"}
    replies = race(node, [Call("POST", f"/v1/{endpoint}", "park", body, key)] * N)
    counted = outcomes(replies)

    firsts = originals(replies, ok)
    assert len(firsts) == 1, counted
    first = firsts[0]
    for reply in replies:
        if reply is not first:
            assert replayed(reply, first) or shape_of(reply) == (409, "request_in_progress"), counted
    key_recorded(node, key["Idempotency-Key"])
    later = node.call("POST", f"/v1/{endpoint}", "park", json=body, headers=key)
    assert replayed(later, first)
    other = node.call("POST", f"/v1/{endpoint}", "park", json={**body, "amount": amount + 1}, headers=key)
    assert shape_of(other) == (422, "idempotency_key_reused")

    chain = Chain(node)
    park = node.addresses["park"].lower()
    if endpoint == "transfers":
        done = [t for t in chain.transfers() if (t["batchId"], t["from"], t["amount"]) == (stock, park, amount)]
    else:
        done = [r for r in chain.retirements() if r["beneficiary"] == beneficiary]
        assert [r["retirementId"] for r in done] == [first.json()["result"]["retirement_id"]]
    assert [t["tx_hash"] for t in done] == [first.json()["tx_hash"]]
    assert reconcile(node) == []


def test_a_retry_right_after_the_answer_is_the_answer_again(node, stock):
    wrong: list = []
    for attempt in range(RETRY_ATTEMPTS):
        if attempt >= len(ROUNDS) and wrong:
            break
        endpoint = ("transfers", "retirements")[attempt % 2]
        body = {"batch_id": stock, "amount": next(_amounts)}
        body.update({"to": node.addresses["buyer"]} if endpoint == "transfers" else {"beneficiary": f"retry {uid()}"})
        key = {"Idempotency-Key": f"retry-{uid()}"}
        first = node.call("POST", f"/v1/{endpoint}", "park", json=body, headers=key)
        assert first.status_code in (200, 201), first.text
        again = node.call("POST", f"/v1/{endpoint}", "park", json=body, headers=key)
        if not replayed(again, first):
            assert shape_of(again) == (409, "request_in_progress"), again.text
            wrong.append((endpoint, again.status_code, again.json()["error"]["code"]))
    assert reconcile(node) == []
    if wrong:
        raise NodeBug(f"retries sent right after the answer were refused: {wrong}")


# ------------------------------------------------------------------------------------------------
# 7. a campaign closed by many requests at once


def test_concurrent_closes_retire_a_campaign_once(node):
    _, batch = issued_batch(node)
    wrong: list = []
    for round_ in hot_rounds(wrong):
        listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 2 * TONNE))
        cid = node.ok("POST", f"/v1/listings/{listing['id']}/campaign", "park",
                      json={"target": TONNE, "deadline": int(time.time()) + 3600})["id"]  # fmt: skip
        entries = [{"subscriber": f"fan-{uid()}", "grams": 5_000, "amount_fen": 30} for _ in range(4)]
        made = node.ok("POST", f"/v1/campaigns/{cid}/subscriptions", "platform", json={"subscriptions": entries})
        ids = list(range(made["first_id"], made["last_id"] + 1))
        receipt = settlement(node, cid, [(i, 30) for i in ids[:3]], ref=f"SETTLE-{uid()}")
        assert node.ok("POST", f"/v1/campaigns/{cid}/receipts", "platform", json=receipt)["state"] == "open"

        replies = race(node, [Call("POST", f"/v1/campaigns/{cid}/close", "park")] * N_HOT)
        counted = outcomes(replies)
        assert counted.get((200, None)) == 1, counted
        wrong += [(round_, key, n) for key, n in counted.items() if key not in {(200, None), (409, "campaign_closed")}]
        campaign = node.ok("GET", f"/v1/campaigns/{cid}")
        assert (campaign["state"], campaign["paid_grams"]) == ("retired", 15_000)

        on_chain = [r for r in Chain(node).retirements() if r["beneficiaryHash"] == campaign["root"]]
        assert [(r["retirementId"], r["amount"]) for r in on_chain] == [(campaign["retirement_id"], 15_000)]
        assert rebates(node, f"campaign {cid}") == 1
        assert reconcile(node) == []
    if wrong:
        raise NodeBug(f"losing closes answered (round, (status, code), count): {wrong}")
