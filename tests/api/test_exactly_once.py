"""Writes happen once: multi-batch offsets in one transaction, Idempotency-Key answers, 202 intents that
settle later, and reads that change nothing (what follows from the chain is applied by the reconciler)."""

import math
import time
from collections.abc import Iterator

import pytest

from node.devflows import error_of, issued_batch, listing_for, payment
from node.devnode import LocalNode, local_node
from registry.footprint import order_footprint, parse_order

ZERO = "0x" + "00" * 32
# Tables a read may write: the regulator's query log is an audit trail, not state.
# node_worker: workers note they are alive every second; the node's schedules record credit facts and saved
# needs' notices on their own clock, whatever the requests do.
AUDIT_TABLES = {"regulator_query", "node_worker", "credit_fact", "credit_score", "need_notice"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    # A short receipt timeout, so a transaction held back by a paused chain is answered 202 quickly.
    with local_node(tmp_path_factory.mktemp("once"), evidence_key="44" * 32, tx_timeout_s=2.0) as handle:
        yield handle


def _orders(prefix: str, count: int) -> list[dict]:
    return [
        {"order_id": f"{prefix}-{i}", "legs": [{"mode": "road", "distance_km": 800, "weight_kg": 3.0}]}
        for i in range(count)
    ]


def _grams(orders: list[dict]) -> int:
    return sum(order_footprint(parse_order(o, "o")).grams for o in orders)


def _store_rows(node: LocalNode) -> dict[str, list[tuple]]:
    return {t: sorted(node.store_rows(f"SELECT * FROM {t}"), key=repr) for t in node.store_tables()
            if t not in AUDIT_TABLES}  # fmt: skip


def _live_intents(node: LocalNode) -> int:
    return len(node.services.state.live_intents())


def _settled(node: LocalNode, intent_id: int, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = node.ok("GET", f"/v1/intents/{intent_id}", "buyer")
        if view["state"] in ("done", "failed"):
            return view
        time.sleep(0.1)
    raise AssertionError(f"intent {intent_id} did not settle within {timeout_s}s")


def test_an_offset_drawing_on_two_batches_is_one_transaction_and_a_refused_one_leaves_nothing(node):
    orders = _orders("TWO", 3)
    total = _grams(orders)
    share = math.ceil(total * 0.6)  # neither batch alone covers the orders; the two together do
    batches = sorted(issued_batch(node)[1] for _ in range(2))
    for batch in batches:
        node.ok(
            "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": share}
        )

    freeze = {"participant": node.addresses["buyer"].lower(), "kind": "freeze_account", "reason": "drill"}
    node.ok("POST", "/v1/regulator/measures", "regulator", json=freeze)
    refused = node.call("POST", "/v1/offsets/logistics", "buyer", json={"orders": orders})
    assert error_of(refused) == (409, "AccountFrozen")
    assert error_of(node.call("GET", "/v1/offsets/orders/TWO-0")) == (404, "not_found")
    holdings = {h["batch_id"]: h["amount"] for h in node.ok("GET", "/v1/me/holdings", "buyer")}
    assert [holdings[b] for b in batches] == [share, share], "nothing was retired"
    assert _live_intents(node) == 0

    node.ok("POST", "/v1/regulator/measures", "regulator", json={**freeze, "kind": "unfreeze_account"})
    done = node.ok("POST", "/v1/offsets/logistics", "buyer", json={"orders": orders})
    retirements = done["retirements"]
    assert sorted(r["batch_id"] for r in retirements) == batches
    assert len({r["tx_hash"] for r in retirements}) == 1, "one transaction for both batches"
    ids = sorted(r["retirement_id"] for r in retirements)
    assert ids[1] == ids[0] + 1 and sum(r["amount"] for r in retirements) == total
    for r in retirements:
        assert node.ok("GET", f"/v1/retirements/{r['retirement_id']}")["beneficiary_hash"] == done["root"]
    assert node.ok("GET", "/v1/offsets/orders/TWO-2")["offset_id"] == done["offset_id"]


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_request(node):
    _, batch = issued_batch(node)
    body = {"batch_id": batch, "to": node.addresses["buyer"], "amount": 1_000, "deal_ref": ZERO}
    key = {"Idempotency-Key": "transfer-once-1"}
    first = node.call("POST", "/v1/transfers", "park", json=body, headers=key)
    assert first.status_code == 200
    # The same request with its keys in another order and other spacing is the same request.
    again = node.call("POST", "/v1/transfers", "park", content=_reordered(body), headers={**key, "content-type":
                      "application/json"})  # fmt: skip
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    held = {h["batch_id"]: h["amount"] for h in node.ok("GET", "/v1/me/holdings", "buyer")}
    assert held[batch] == 1_000, "one transfer on chain"

    other = node.call("POST", "/v1/transfers", "park", json={**body, "amount": 2_000}, headers=key)
    assert error_of(other) == (422, "idempotency_key_reused")
    # Keys are the caller's own: another caller's identical key is another request.
    back = {"batch_id": batch, "to": node.addresses["park"], "amount": 400, "deal_ref": ZERO}
    assert node.call("POST", "/v1/transfers", "buyer", json=back, headers=key).status_code == 200

    # A refusal is an answer too: replayed, not run again.
    too_much = {**body, "amount": 10**18}
    refused = node.call("POST", "/v1/transfers", "park", json=too_much, headers={"Idempotency-Key": "too-much"})
    replay = node.call("POST", "/v1/transfers", "park", json=too_much, headers={"Idempotency-Key": "too-much"})
    assert refused.status_code == 409 and (replay.status_code, replay.json()) == (409, refused.json())
    bad = node.call("POST", "/v1/transfers", "park", json=body, headers={"Idempotency-Key": "x" * 300})
    assert error_of(bad) == (422, "validation_error")


def _reordered(body: dict) -> bytes:
    import json

    return json.dumps(dict(reversed(list(body.items()))), indent=2).encode()


def test_a_write_whose_receipt_is_late_is_answered_202_and_its_intent_settles_once(node):
    _, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 5_000})
    rpc = node.services.rpc
    body = {"batch_id": batch, "amount": 700, "beneficiary": "Acme Ltd", "reason": "late receipt drill",
            "consumption_start": 1_700_000_000, "consumption_end": 1_710_000_000, "region": "CN-ZJ"}  # fmt: skip
    key = {"Idempotency-Key": "late-retirement"}
    rpc.call("evm_setAutomine", False)
    try:
        pending = node.call("POST", "/v1/retirements", "buyer", json=body, headers=key)
        assert pending.status_code == 202, pending.text
        view = pending.json()
        assert view["state"] == "sent" and len(view["transactions"]) == 1
        still = node.call("POST", "/v1/retirements", "buyer", json=body, headers=key)
        assert still.status_code == 202 and still.json()["intent_id"] == view["intent_id"]
    finally:
        rpc.call("evm_setAutomine", True)
        rpc.call("evm_mine")
    settled = _settled(node, view["intent_id"])
    assert settled["state"] == "done" and settled["status"] == 201
    retirement_id = settled["answer"]["result"]["retirement_id"]
    assert node.ok("GET", f"/v1/retirements/{retirement_id}")["amount"] == 700
    final = node.call("POST", "/v1/retirements", "buyer", json=body, headers=key)
    assert (final.status_code, final.json()) == (201, settled["answer"])
    held = {h["batch_id"]: h["amount"] for h in node.ok("GET", "/v1/me/holdings", "buyer")}
    assert held[batch] == 5_000 - 700, "retired once"
    points = node.ok("GET", "/v1/me/points", "buyer")["entries"]
    assert [e["retirement_ids"] for e in points].count([retirement_id]) == 1, "points credited once"
    assert error_of(node.call("GET", f"/v1/intents/{view['intent_id']}", "park")) == (403, "forbidden")


def test_reads_change_nothing_and_the_reconciler_applies_what_follows_from_the_chain(node):
    from node.devflows import deposit

    assert deposit(node, "park").status_code == 201
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 10_000_000))
    soon = int(time.time()) + 2
    offer = node.ok("POST", f"/v1/listings/{listing['id']}/offers", "buyer",
                    json={"quantity": 1_000_000, "price": "50.00", "expires_at": soon})  # fmt: skip
    deal_offer = node.ok("POST", f"/v1/listings/{listing['id']}/offers", "buyer",
                         json={"quantity": 2_000_000, "price": "50.00", "expires_at": soon + 3600})  # fmt: skip
    deal = node.ok("POST", f"/v1/offers/{deal_offer['id']}/answer", "park", json={"action": "accept"})
    paid = node.ok("POST", f"/v1/deals/{deal['id']}/receipt", "buyer", json=payment(node, deal["id"], 10_000))
    time.sleep(max(0.0, soon - time.time()) + 0.5)

    reconciler = node.services.reconciler
    with reconciler._lock:  # no reconciler pass runs while the reads are made
        # The seller delivers with a plain transfer carrying the deal reference, outside the deliver route.
        plain = {"batch_id": batch, "to": node.addresses["buyer"], "amount": 2_000_000, "deal_ref": paid["deal_ref"]}
        node.ok("POST", "/v1/transfers", "park", json=plain)
        before = _store_rows(node)
        assert node.ok("GET", f"/v1/offers/{offer['id']}", "buyer")["state"] == "expired"
        for who in ("buyer", "park", "regulator"):
            assert node.ok("GET", f"/v1/deals/{deal['id']}", who)["state"] == "paid"
            node.ok("GET", "/v1/me/deals", who)
            node.ok("GET", "/v1/compensation", who)
        node.ok("GET", f"/v1/listings/{listing['id']}")
        node.call("GET", f"/listings/{listing['id']}")
        assert _store_rows(node) == before, "a read wrote to the store"
    deadline = time.monotonic() + 10
    while node.ok("GET", f"/v1/deals/{deal['id']}", "buyer")["state"] != "delivered":
        assert time.monotonic() < deadline, "the reconciler never marked the delivery"
        time.sleep(0.1)
    steps = [s["state"] for s in node.ok("GET", f"/v1/deals/{deal['id']}", "buyer")["steps"]]
    assert steps == ["accepted", "paid", "delivered"]
    reconciler.reconcile()  # a second pass changes nothing
    assert [s["state"] for s in node.ok("GET", f"/v1/deals/{deal['id']}", "buyer")["steps"]] == steps


def _retire_body(batch: int, amount: int, reason: str) -> dict:
    return {"batch_id": batch, "amount": amount, "beneficiary": "Acme Ltd", "reason": reason,
            "consumption_start": 1_700_000_000, "consumption_end": 1_710_000_000, "region": "CN-ZJ"}  # fmt: skip


def _wait_for(check, timeout_s: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("not within the time allowed")


def test_a_retirement_the_chain_lost_is_sent_again_and_keeps_its_id(node):
    _, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 9_000})
    rpc = node.services.rpc
    snapshot = rpc.call("evm_snapshot")
    answered = node.ok("POST", "/v1/retirements", "buyer", json=_retire_body(batch, 900, "lost block drill"))
    retirement_id = answered["result"]["retirement_id"]
    assert rpc.call("evm_revert", snapshot) is True  # the chain comes back without that block
    assert rpc.call("eth_getTransactionReceipt", answered["tx_hash"]) is None
    # The node notices (its head check before a send, or its index rolling back) and sends it again first.
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 1})
    receipt = _wait_for(lambda: rpc.call("eth_getTransactionReceipt", answered["tx_hash"]))
    assert int(receipt["status"], 16) == 1
    assert node.ok("GET", f"/v1/retirements/{retirement_id}")["amount"] == 900
    writes = _wait_for(lambda: (s := node.ok("GET", "/v1/status")["writes"])["resent"] >= 1 and s)
    assert writes["ids_changed"] == 0 and writes["dropped"] == 0


def test_an_id_another_writer_took_after_a_chain_loss_is_reported(node):
    from node.chain.registry import RetirementRequest
    from node.chain.sender import SEND_GATE, TransactionSender

    _, batch = issued_batch(node)
    for who in ("buyer", "platform"):
        node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses[who], "amount": 5_000})
    services = node.services
    rpc = services.rpc
    snapshot = rpc.call("evm_snapshot")
    answered = node.ok("POST", "/v1/retirements", "buyer", json=_retire_body(batch, 500, "taken id drill"))
    intent_id = max(r["id"] for r in services.state.rows("SELECT id FROM intent WHERE kind = 'retire'"))
    # Another writer (as if another node with the platform's key) retires first on the restored chain.
    other = TransactionSender(rpc, services.account("platform"), chain_id=services.manifest.chain_id,
                              abi=services.registry.abi)  # fmt: skip
    with SEND_GATE:  # the node's recovery waits until the other writer is through
        assert rpc.call("evm_revert", snapshot) is True
        _, theirs = services.registry.retire(other, RetirementRequest(batch_id=batch, amount=1, beneficiary="x"))
    taken = int(services.registry.event(theirs, "CertificateRetired").args["retirementId"])
    assert taken == answered["result"]["retirement_id"]
    view = _wait_for(lambda: (v := node.ok("GET", f"/v1/intents/{intent_id}", "buyer"))["transactions"][0][
        "ids_changed"] and v)  # fmt: skip
    change = view["transactions"][0]["ids_changed"]["retirement_id"]
    assert change["answered"] == [taken] and change["on_chain"] == [taken + 1]
    assert node.ok("GET", "/v1/status")["writes"]["ids_changed"] >= 1


def test_a_write_cut_short_after_its_commit_is_not_run_again_and_says_so(node):
    """As if the node was killed between a write's commit and keeping its answer under the key."""
    from node.devflows import deposit

    assert deposit(node, "park").status_code == 201
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 5_000_000))
    offers = [
        node.ok(
            "POST",
            f"/v1/listings/{listing['id']}/offers",
            "buyer",
            json={"quantity": 1_000_000, "price": "50.00", "expires_at": int(time.time()) + 3600},
        )
        for _ in range(2)
    ]
    store = node.services.state
    accept = {"action": "accept"}
    for offer, key in zip(offers, ("cut-after-commit", "cut-before-commit"), strict=True):
        first = node.call("POST", f"/v1/offers/{offer['id']}/answer", "park", json=accept,
                          headers={"Idempotency-Key": key})  # fmt: skip
        assert first.status_code == 200
        # The crash: the answer was never kept, the claim belongs to a process that is gone.
        store.execute("UPDATE idempotency_key SET state = 'running', boot = 'gone', status = NULL, body = NULL"
                      " WHERE key = ?", (key,))  # fmt: skip
    store.execute("UPDATE idempotency_key SET applied = 0 WHERE key = 'cut-before-commit'")
    store.execute("UPDATE offer SET state = 'offered', deal_id = NULL WHERE id = ?", (offers[1]["id"],))
    store.execute("DELETE FROM deal WHERE offer_id = ?", (offers[1]["id"],))

    applied = node.call("POST", f"/v1/offers/{offers[0]['id']}/answer", "park", json=accept,
                        headers={"Idempotency-Key": "cut-after-commit"})  # fmt: skip
    assert error_of(applied) == (409, "request_applied")
    assert node.ok("GET", f"/v1/offers/{offers[0]['id']}", "park")["state"] == "accepted"
    # A request that wrote nothing before the crash runs again under its key, once.
    rerun = node.call("POST", f"/v1/offers/{offers[1]['id']}/answer", "park", json=accept,
                      headers={"Idempotency-Key": "cut-before-commit"})  # fmt: skip
    assert rerun.status_code == 200 and rerun.json()["state"] == "accepted"
    deals = store.rows("SELECT COUNT(*) AS n FROM deal WHERE offer_id IN (?, ?)", (offers[0]["id"], offers[1]["id"]))
    assert deals[0]["n"] == 2


def test_an_upload_retried_under_its_key_is_the_same_request_whatever_its_boundary(node):
    from node.devflows import new_project

    project = new_project(node)
    key = {"Idempotency-Key": "upload-once"}

    def upload(content: bytes):  # type: ignore[no-untyped-def]
        # httpx draws a new multipart boundary for every request, as any client retrying would.
        return node.call("POST", "/v1/evidence", "park", data={"project_id": str(project)},
                         files=[("files", ("inventory.csv", content, "text/csv"))], headers=key)  # fmt: skip

    first = upload(b"tree,dbh\n1,30\n")
    again = upload(b"tree,dbh\n1,30\n")
    assert first.status_code == 201 and (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert error_of(upload(b"tree,dbh\n1,31\n")) == (422, "idempotency_key_reused")
