"""Credit ratings over HTTP on a real chain: deals delivered by their agreed date or not, a dispute decided
against the seller and a measure recorded move the seller's score; the public sees the public facts only,
regulators every fact and the history; the kept score equals the score recomputed from the records, and no
fact counts twice however many passes run."""

import time
from collections.abc import Iterator

import pytest

from node.devflows import bought, deposit, error_of, issued_batch, listing_for
from node.devnode import LocalNode, local_node
from node.index.db import open_reader
from node.index.follower import Indexer
from node.risk.engine import RiskEngine
from node.supervision.credit import derive_facts

T = 1_000_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """The node, recording credit facts five times a second rather than every ten seconds."""
    with local_node(tmp_path_factory.mktemp("node"), credit_check_s=0.2) as handle:
        yield handle


def _credit(node, account: str, who: str | None = None) -> dict:
    path = f"/v1/regulator/participants/{account}/credit" if who else f"/v1/participants/{account}/credit"
    return node.ok("GET", path, who) if who else node.ok("GET", path)


def _until(node, account: str, kinds: dict[str, int], timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        found = _credit(node, account, "regulator")
        if all(found["inputs"].get(k, 0) >= n for k, n in kinds.items()) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture(scope="module")
def history(node) -> dict:
    """The park sells three times: one deal delivered in time, one left undelivered past a date three seconds
    away, one disputed and decided against it; a regulator records a written warning on it."""
    assert deposit(node, "park", amount_fen=10_000_000).status_code == 201
    _, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 50 * T))["id"]
    on_time = bought(node, listing, T)
    offer = node.ok("POST", f"/v1/listings/{listing}/offers", "buyer", json={
        "quantity": T, "price": "58.00", "expires_at": int(time.time()) + 3600,
        "deliver_by": int(time.time()) + 3})  # fmt: skip
    late = node.ok("POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "accept"})
    offer = node.ok("POST", f"/v1/listings/{listing}/offers", "buyer",
                    json={"quantity": T, "price": "58.00", "expires_at": int(time.time()) + 3600})  # fmt: skip
    disputed = node.ok("POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "accept"})
    node.ok("POST", f"/v1/deals/{disputed['id']}/dispute", "buyer", json={"reason": "卖方拒绝交付"})
    node.ok("POST", f"/v1/deals/{disputed['id']}/resolve", "regulator",
            json={"outcome": "cancel", "note": "卖方违约", "against": "seller"})  # fmt: skip
    node.ok("POST", "/v1/regulator/measures", "regulator", json={
        "participant": node.addresses["park"], "kind": "written_warning", "reason": "逾期交付"})  # fmt: skip
    return {"on_time": on_time["id"], "late": late["id"], "disputed": disputed["id"], "batch": batch,
            "listing": listing}  # fmt: skip


def test_the_sellers_record_moves_its_score_public_and_supervisory(node, history):
    park = node.addresses["park"]
    kinds = {"delivered_on_time": 1, "delivered_late": 1, "dispute_lost": 1, "recorded_measure": 1}
    full = _until(node, park, kinds)
    assert full["inputs"] == kinds
    assert full["supervisory_score"] == 80 + 2 - 10 - 15 - 5 and full["supervisory_grade"] == "D"
    assert full["recomputed_supervisory_score"] == full["supervisory_score"]  # kept = from scratch
    assert full["recomputed_score"] == full["score"] == 80 + 2 - 10 - 15
    assert [h["score"] for h in full["history"]][-1] == full["supervisory_score"]
    assert {f["ref"] for f in full["facts"] if f["kind"].startswith("delivered")} == {
        f"deal:{history['on_time']}", f"deal:{history['late']}"}  # fmt: skip
    public = _credit(node, park)
    assert public["score"] == 57 and public["grade"] == "D" and "supervisory_score" not in public
    assert "recorded_measure" not in public["inputs"] and "history" not in public
    assert all(f["public"] for f in public["facts"]) and "recorded_measure" not in public["method"]["points"]
    time.sleep(1.0)  # several more passes: nothing counted twice
    assert _credit(node, park, "regulator")["supervisory_score"] == full["supervisory_score"]
    buyer = _credit(node, node.addresses["buyer"])
    assert buyer["score"] == 80 and buyer["facts"] == [] and buyer["grade"] == "B"


def test_a_confirmed_alert_counts_for_regulators_only(node, history):
    park, buyer = node.addresses["park"], node.addresses["buyer"]
    before = _until(node, park, {"dispute_lost": 1})
    deal = node.ok("GET", f"/v1/deals/{history['on_time']}", "buyer")
    back = {"batch_id": deal["batch_id"], "to": park, "amount": 500_000, "deal_ref": "0x" + "00" * 32}
    node.ok("POST", "/v1/transfers", "buyer", json=back)  # straight back to the seller: a round trip
    alert = node.ok("GET", "/v1/regulator/alerts", "regulator", params={"rule": "round_trip"})[0]
    node.ok("POST", f"/v1/regulator/alerts/{alert['key']}/actions", "regulator",
            json={"action": "confirm", "note": "经核实为对倒交易"})  # fmt: skip
    assert node.ok("GET", f"/v1/regulator/alerts/{alert['key']}", "regulator")["status"] == "confirmed"
    after = _until(node, park, {"alert_confirmed": 1})
    assert after["supervisory_score"] == before["supervisory_score"] - 10
    assert after["recomputed_supervisory_score"] == after["supervisory_score"]
    assert _credit(node, park)["score"] == before["score"]  # the public score does not move
    assert _until(node, buyer, {"alert_confirmed": 1})["supervisory_score"] == 80 - 10
    closed = node.call("POST", f"/v1/regulator/alerts/{alert['key']}/actions", "regulator",
                       json={"action": "close", "note": "again"})  # fmt: skip
    assert error_of(closed) == (409, "alert_closed")


def test_a_revocation_counts_and_a_fresh_index_of_the_chain_derives_the_same_facts(node, history, tmp_path):
    park = node.addresses["park"]
    before = _until(node, park, {"alert_confirmed": 1})
    _, batch = issued_batch(node)
    node.ok("POST", "/v1/regulator/measures", "regulator", json={
        "participant": park, "kind": "revoke_batch", "reason": "核查数据造假", "batch_id": batch})  # fmt: skip
    after = _until(node, park, {"batch_revoked": 1, "ledger_measure": 1})
    assert _credit(node, park)["score"] == before["score"] - 25 - 20
    assert after["supervisory_score"] == 0  # 80 + 2 - 10 - 15 - 5 - 10 - 25 - 20, kept within 0..100
    # A re-index: a new index of the same chain, from nothing, gives the same facts as the live one.
    now = int(time.time())
    with Indexer(
        node.settings.effective_rpc_url, node.services.manifest, tmp_path / "fresh.sqlite", risk=RiskEngine()
    ) as fresh:
        fresh.sync()
    with open_reader(tmp_path / "fresh.sqlite") as fresh_reader:
        rebuilt = derive_facts(node.services, fresh_reader, now)
    live = node.services.reader()
    try:
        assert rebuilt == derive_facts(node.services, live, now)
    finally:
        live.close()
    assert {f.kind for f in rebuilt if f.account == park.lower()} >= {"batch_revoked", "alert_confirmed"}


def test_a_deposit_drawn_for_a_compensation_case_counts(node, history):
    park = node.addresses["park"]
    before = _until(node, park, {"batch_revoked": 1})
    node.ok("POST", f"/v1/regulator/batches/{history['batch']}/status", "regulator",
            json={"action": "revoke", "reason": "监测数据不实"})  # fmt: skip
    deadline = time.monotonic() + 30
    while not (
        cases := [c for c in node.ok("GET", "/v1/compensation", "regulator") if c["deal_id"] == history["on_time"]]
    ):
        assert time.monotonic() < deadline, "no compensation case opened for the delivered deal"
        time.sleep(0.2)
    node.ok("POST", f"/v1/regulator/compensation/{cases[0]['id']}", "regulator",
            json={"outcome": "compensated", "amount_fen": 5_800, "note": "按成交价赔付"})  # fmt: skip
    after = _until(node, park, {"deposit_drawn": 1, "batch_revoked": 2})
    assert after["inputs"]["deposit_drawn"] == 1 and after["inputs"]["batch_revoked"] == 2
    assert _credit(node, park)["score"] == max(0, before["score"] - 25 - 20 - 10)
    assert after["recomputed_supervisory_score"] == after["supervisory_score"]


def test_the_credit_page_shows_the_public_score(node, history):
    park = node.addresses["park"]
    _until(node, park, {"dispute_lost": 1})
    html = node.call("GET", f"/participants/{park}/credit", headers={"accept": "text/html"}).text
    assert "信用评价" in html and "0 (D)" in html and "保证金被扣划" in html and "书面监管措施" not in html


def test_credit_requests_and_delivery_dates_that_make_no_sense_are_refused(node, history):
    park = node.addresses["park"]
    assert error_of(node.call("GET", f"/v1/regulator/participants/{park}/credit", "buyer")) == (403, "forbidden")
    assert node.call("GET", "/v1/participants/0x123/credit").status_code == 422
    listing_id = history["listing"]
    for deliver_by in (int(time.time()) - 60, int(time.time()) + 400 * 86_400):
        body = {"quantity": T, "price": "58.00", "expires_at": int(time.time()) + 3600, "deliver_by": deliver_by}
        refused = node.call("POST", f"/v1/listings/{listing_id}/offers", "buyer", json=body)
        assert error_of(refused) == (422, "validation_error")
    decided = node.call("POST", f"/v1/deals/{history['on_time']}/resolve", "regulator",
                        json={"outcome": "cancel", "note": "x", "against": "platform"})  # fmt: skip
    assert error_of(decided) == (422, "validation_error")
