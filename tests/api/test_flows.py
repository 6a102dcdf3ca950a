"""End to end over real HTTP against a real chain: issuer, holder and regulator, with refusals."""

import csv
import io
import time

from node.devflows import (
    GRAMS,
    error_of,
    issue,
    issued_batch,
    monitoring_report,
    new_project,
    sign,
    statement,
    upload_evidence,
)
from node.store import Store


def test_the_whole_flow_of_issuer_holder_and_public(node):
    project = new_project(node)
    root = upload_evidence(node, project)
    bundle = node.ok("GET", f"/v1/evidence/{root}")
    assert bundle["attestation"]["project_id"] == project and bundle["signer"] == node.addresses["park"]
    issued = GRAMS[root]
    batch = issue(node, statement(project, root))
    accounting = node.ok("GET", f"/v1/projects/{project}/accounting")
    assert accounting[0]["evidence_root"] == root and accounting[0]["creditable_grams"] == issued
    assert accounting[0]["result"]["pools"]["trees"]["delta_tco2"] > 0

    details = node.ok("GET", f"/v1/batches/{batch}")
    assert details["status"] == "active" and details["owner"] == node.addresses["park"]
    assert details["supply"] == {"issued": issued, "retired": 0, "reversed": 0, "outstanding": issued}
    assert details["serial_range"] == f"SL-{project}-1-1..SL-{project}-1-{issued}"

    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"],
                                                   "amount": 700_000_000, "deal_ref": "0x" + "ab" * 32})  # fmt: skip
    retired = node.ok("POST", "/v1/retirements", "buyer", json={
        "batch_id": batch, "amount": 200_000_000, "beneficiary": "Acme 有限公司", "reason": "ESG 2026",
        "consumption_start": 1_700_000_000, "consumption_end": 1_710_000_000, "region": "CN-SH"})  # fmt: skip
    retirement_id = retired["result"]["retirement_id"]
    assert retired["result"]["certificate"].endswith(f"/retirements/{retirement_id}")

    holdings = node.ok("GET", "/v1/me/holdings", "buyer")
    assert {"batch_id": batch, "amount": 500_000_000} in [{k: h[k] for k in ("batch_id", "amount")} for h in holdings]
    first = node.ok("GET", "/v1/me/history", "buyer", params={"limit": 1})
    rest = node.ok("GET", "/v1/me/history", "buyer", params={"cursor": first["next_cursor"]})
    history = first["events"] + rest["events"]
    assert [e["name"] for e in history if e["args"].get("batchId") == batch] == [
        "CertificateTransferred", "CertificateRetired"]  # fmt: skip

    record = node.ok("GET", f"/v1/batches/{batch}/provenance", params={"check_chain": "true"})
    names = [e["name"] for e in record["events"]]
    assert names == ["BatchIssued", "CertificateTransferred", "CertificateRetired"]
    assert all(
        e["tx_hash"].startswith("0x") and e["block_number"] > 0 and e["block_time"] > 0 for e in record["events"]
    )
    assert record["evidence"]["evidence_root"] == root
    assert record["verification"]["verifier"] == node.addresses["verifier"]
    assert record["chain_check"]["matches_index"] is True

    certificate = node.ok("GET", f"/v1/retirements/{retirement_id}")
    assert certificate["beneficiary"] == "Acme 有限公司" and certificate["amount"] == 200_000_000

    exported = node.call("GET", "/v1/registry/batches", params={"project_id": project, "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert exported.headers["content-type"].startswith("text/csv") and rows[0]["id"] == str(batch)
    assert rows[0]["status"] == "active" and rows[0]["serial_prefix"] == f"SL-{project}-1"


def test_provenance_pages_through_a_long_history_with_a_cursor(node):
    _, batch = issued_batch(node)
    for i in range(7):
        node.ok(
            "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": i + 1}
        )
    seen, cursor = [], None
    while True:
        page = node.ok(
            "GET", f"/v1/batches/{batch}/provenance", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        seen += page["events"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 and [e["amount"] for e in seen[1:]] == list(range(1, 8))


def test_refuses_without_a_token_or_without_the_role(node):
    project = new_project(node)
    body = statement(project, upload_evidence(node, project))
    assert error_of(node.call("POST", "/v1/verifications", json=body)) == (401, "unauthenticated")
    assert error_of(node.call("POST", "/v1/verifications", "buyer", json=body)) == (403, "forbidden")
    signature = sign(node, body)
    assert error_of(node.call("POST", "/v1/batches", "park", json={"statement": body, "signature": signature})) == (
        403, "forbidden")  # fmt: skip
    bad = node.call("GET", "/v1/me", headers={"authorization": "Bearer slk_not-a-token"})
    assert error_of(bad) == (401, "unauthenticated")


def test_refuses_an_expired_statement_reused_evidence_and_an_overlapping_period(node):
    project = new_project(node)
    root = upload_evidence(node, project)
    expired = statement(project, root, expiry=int(time.time()) - 10)
    reply = node.call("POST", "/v1/batches", "issuer", json={"statement": expired, "signature": sign(node, expired)})
    assert error_of(reply) == (422, "StatementExpired")

    first = statement(project, root)
    issue(node, first)
    again = statement(project, root)  # the same report, period and quantity: another nonce, another digest
    reply = node.call("POST", "/v1/batches", "issuer", json={"statement": again, "signature": sign(node, again)})
    assert error_of(reply) == (409, "EvidenceRootAlreadyUsed")

    # A report of the last days of the period already issued (2025-12-31 was its last day), with a census of
    # its own: the issued census again would be refused at upload (census_discontinuity). A centimetre in six
    # days is flagged: the verifier acknowledges the flags before signing.
    late = upload_evidence(node, project, trees=49_999, period=("2025-12-20", "2025-12-25"))
    flags = node.ok("GET", f"/v1/verifications/{late}/flags", "verifier")
    node.ok("POST", "/v1/verifications/acknowledgements", "verifier",
            json={"evidence_root": late, "flags_hash": flags["flags_hash"]})  # fmt: skip
    overlapping = statement(project, late)
    assert overlapping["period_start"] < first["period_end"]
    reply = node.call("POST", "/v1/batches", "issuer",
                      json={"statement": overlapping, "signature": sign(node, overlapping)})  # fmt: skip
    assert error_of(reply) == (409, "PeriodOverlap")
    assert node.ok("GET", "/v1/registry/batches", params={"project_id": project})[0]["period_index"] == 1


def test_refuses_over_retirement_and_a_frozen_account_changing_nothing(node):
    _, batch = issued_batch(node)
    before = node.ok("GET", f"/v1/batches/{batch}/provenance")
    reply = node.call("POST", "/v1/retirements", "park", json={"batch_id": batch, "amount": 10**12, "beneficiary": "x"})
    assert error_of(reply) == (409, "InsufficientBalance")

    node.ok("POST", f"/v1/regulator/accounts/{node.addresses['park']}/freeze", "regulator",
            json={"frozen": True, "reason": "audit of the 2026 monitoring report"})  # fmt: skip
    reply = node.call(
        "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 1}
    )
    assert error_of(reply) == (409, "AccountFrozen")
    node.ok("POST", f"/v1/regulator/accounts/{node.addresses['park']}/freeze", "regulator",
            json={"frozen": False, "reason": "cleared"})  # fmt: skip
    after = node.ok("GET", f"/v1/batches/{batch}/provenance")
    assert after["events"] == before["events"]


def test_malformed_input_is_a_422_in_the_one_error_shape(node):
    assert error_of(node.call("POST", "/v1/transfers", "park", json={"batch_id": "1", "to": "x", "amount": False})) == (
        422, "validation_error")  # fmt: skip
    assert error_of(node.call("POST", "/v1/transfers", "park", content=b"{not json",
                              headers={"content-type": "application/json"})) == (422, "validation_error")  # fmt: skip
    assert error_of(node.call("GET", "/v1/batches/999999999")) == (404, "not_found")
    assert error_of(node.call("GET", "/v1/batches/1/provenance", params={"cursor": "bogus"}))[0] in (404, 422)


def test_frozen_and_revoked_batches_say_so(node):
    _, batch = issued_batch(node)
    node.ok("POST", f"/v1/regulator/batches/{batch}/status", "regulator", json={"action": "freeze", "reason": "check"})
    assert node.ok("GET", f"/v1/batches/{batch}")["status"] == "frozen"
    reply = node.call("POST", "/v1/retirements", "park", json={"batch_id": batch, "amount": 1, "beneficiary": "x"})
    assert error_of(reply) == (409, "BatchFrozen")
    node.ok(
        "POST", f"/v1/regulator/batches/{batch}/status", "regulator", json={"action": "revoke", "reason": "invalid"}
    )
    page = node.call("GET", f"/batches/{batch}", params={"lang": "en"}).text
    assert "REVOKED" in page and "consistent" in page
    assert "已撤销" in node.call("GET", f"/batches/{batch}", params={"lang": "zh"}).text


def test_a_verifier_signs_only_what_the_monitoring_data_computes(node):
    project = new_project(node)
    root = upload_evidence(node, project)
    wrong = statement(project, root, quantity=GRAMS[root] + 1)
    reply = node.call("POST", "/v1/verifications", "verifier", json=wrong)
    assert error_of(reply) == (422, "quantity_mismatch") and str(GRAMS[root]) in reply.json()["error"]["message"]
    files = [("files", ("photo.jpg", f"photo of project {project}".encode(), "image/jpeg"))]
    plain = node.ok("POST", "/v1/evidence", "park", data={"project_id": str(project)}, files=files)["evidence_root"]
    reply = node.call("POST", "/v1/verifications", "verifier", json=statement(project, plain, quantity=10**6))
    assert error_of(reply) == (422, "no_monitoring_data")
    other = new_project(node)
    assert error_of(node.call("POST", "/v1/verifications", "verifier", json=statement(other, root))) == (
        422, "project_mismatch")  # fmt: skip


def test_monitoring_data_is_checked_field_by_field_and_only_the_owner_submits_it(node):
    project = new_project(node)
    bad = monitoring_report()
    bad["trees"]["t2"][0]["dbh_cm"] = -1
    reply = node.call("POST", f"/v1/projects/{project}/monitoring", "park", json=bad)
    assert error_of(reply) == (422, "invalid_monitoring") and "trees.t2[0].dbh_cm" in reply.json()["error"]["message"]
    assert error_of(node.call("POST", f"/v1/projects/{project}/monitoring", "buyer", json=monitoring_report())) == (
        403, "forbidden")  # fmt: skip
    source = monitoring_report(trees=1)
    source["maintenance"]["diesel_l"] = 500
    loss = node.ok("POST", f"/v1/projects/{project}/monitoring", "park", json=source)
    assert loss["accounting"]["issuable"] is False
    reply = node.call(
        "POST", "/v1/verifications", "verifier", json=statement(project, loss["evidence_root"], quantity=1)
    )
    assert error_of(reply) == (422, "nothing_issuable")


def test_a_revoked_token_is_refused(node):
    state = Store(node.settings.store_location)
    token = state.create_token(key_name="buyer-temporary", account=node.addresses["buyer"], label="temporary")
    assert node.call("GET", "/v1/me", headers={"authorization": f"Bearer {token}"}).status_code == 200
    assert state.revoke_tokens(key_name="buyer-temporary") == 1
    state.close()
    assert error_of(node.call("GET", "/v1/me", headers={"authorization": f"Bearer {token}"})) == (
        401,
        "unauthenticated",
    )
