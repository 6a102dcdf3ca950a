"""Third-party auditors over HTTP on a real chain: a regulator grants scoped, time-limited read access; the auditor
reads what is in scope and is refused the rest; every query is logged for regulators; access ends by itself or
when revoked."""

import hashlib
import time

import httpx
import pytest

from node.devflows import error_of, issued_batch

AUDITOR = "0x" + "a0" * 20


@pytest.fixture(scope="module")
def audited(node) -> dict:
    """Two projects of the park's, one in the auditor's scope; a transfer of the first to the buyer."""
    project, batch = issued_batch(node, profile={"name": "审计公园", "region": "CN-SH", "kind": "park"})
    other_project, other_batch = issued_batch(node, profile={"name": "另一公园", "region": "CN-SH", "kind": "park"})
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 10**6})
    roots = {}
    for name, batch_id in (("in", batch), ("out", other_batch)):
        roots[name] = node.ok("GET", f"/v1/batches/{batch_id}")["evidence_root"]
    return {"project": project, "batch": batch, "other_project": other_project, "other_batch": other_batch,
            "roots": roots}  # fmt: skip


def _grant(node, audited, **overrides) -> dict:
    body = {"auditor": AUDITOR, "name": "某会计师事务所", "projects": [audited["project"]], "participants": [],
            "evidence": True, "ends_at": int(time.time()) + 3_600, **overrides}  # fmt: skip
    return node.ok("POST", "/v1/regulator/audit-grants", "regulator", json=body)


def _project_of(event: dict) -> int:
    args = event["args"]
    return int(args["projectId"]) if "projectId" in args else int(args["batchId"]) >> 32


def _as(node, token: str, path: str, **params) -> httpx.Response:
    return node.http.get(path, headers={"authorization": f"Bearer {token}"}, params=params)


def test_an_auditor_reads_its_scope_and_nothing_else_and_every_query_is_logged(node, audited):
    grant = _grant(node, audited)
    token = grant["token"]
    assert grant["live"] and grant["projects"] == [audited["project"]]
    mine = _as(node, token, "/v1/audit/grant").json()
    assert mine["id"] == grant["id"] and "token" not in mine
    provenance = _as(node, token, f"/v1/audit/batches/{audited['batch']}/provenance")
    assert provenance.status_code == 200 and provenance.json()["events"]
    events = _as(node, token, "/v1/audit/events").json()["events"]
    assert len(events) >= 3 and {_project_of(e) for e in events} == {audited["project"]}
    assert _as(node, token, f"/v1/audit/projects/{audited['project']}/accounting").json()
    bundle = node.ok("GET", f"/v1/evidence/{audited['roots']['in']}")
    digest = bundle["files"][0]["digest"]
    content = _as(node, token, f"/v1/audit/evidence/{audited['roots']['in']}/files/{digest}").content
    assert hashlib.sha256(content).hexdigest() == digest
    refused = [
        _as(node, token, f"/v1/audit/batches/{audited['other_batch']}/provenance"),
        _as(node, token, "/v1/audit/events", project_id=audited["other_project"]),
        _as(node, token, "/v1/audit/events", batch_id=audited["other_batch"]),
        _as(node, token, "/v1/audit/events", account=node.addresses["buyer"]),
        _as(node, token, f"/v1/audit/projects/{audited['other_project']}/accounting"),
        _as(node, token, f"/v1/audit/evidence/{audited['roots']['out']}/files/{'0' * 64}"),
    ]
    assert [error_of(r) for r in refused] == [(403, "outside_audit_scope")] * len(refused)
    # Not the regulator's own tools.
    assert _as(node, token, "/v1/regulator/events").status_code == 403
    sql = node.http.post("/v1/regulator/sql", headers={"authorization": f"Bearer {token}"},
                         json={"query": "SELECT 1"})  # fmt: skip
    assert sql.status_code == 403
    log = node.ok("GET", f"/v1/regulator/audit-grants/{grant['id']}/queries", "regulator")
    assert len(log) == 11 and all(entry["auditor"] == AUDITOR for entry in log)
    assert sum(entry["outcome"].startswith("refused") for entry in log) == 6
    assert log[-1]["endpoint"] == "grant" and log[0]["endpoint"] == "evidence"
    listed = {g["id"]: g for g in node.ok("GET", "/v1/regulator/audit-grants", "regulator")}
    assert listed[grant["id"]]["queries"] == 11 and "token" not in listed[grant["id"]]


def test_a_participants_scope_covers_its_events_on_either_side(node, audited):
    token = _grant(node, audited, projects=[], participants=[node.addresses["buyer"]])["token"]
    events = _as(node, token, "/v1/audit/events", account=node.addresses["buyer"]).json()["events"]
    buyer = node.addresses["buyer"].lower()
    assert events and all(buyer in (e["account"], e["counterparty"]) for e in events)
    outside = _as(node, token, f"/v1/audit/projects/{audited['project']}/accounting")
    assert error_of(outside) == (403, "outside_audit_scope")


def test_access_ends_by_itself_cannot_start_early_and_can_be_revoked(node, audited):
    short = _grant(node, audited, ends_at=int(time.time()) + 2)
    assert _as(node, short["token"], "/v1/audit/grant").status_code == 200
    time.sleep(2.5)
    assert error_of(_as(node, short["token"], "/v1/audit/grant")) == (403, "audit_grant_not_live")
    later = _grant(node, audited, starts_at=int(time.time()) + 600)
    assert error_of(_as(node, later["token"], "/v1/audit/grant")) == (403, "audit_grant_not_live")
    revoked = _grant(node, audited)
    ended = node.ok("DELETE", f"/v1/regulator/audit-grants/{revoked['id']}", "regulator")
    assert not ended["live"] and ended["revoked_at"]
    assert error_of(_as(node, revoked["token"], "/v1/audit/grant")) == (401, "unauthenticated")
    without_evidence = _grant(node, audited, evidence=False)["token"]
    file = f"/v1/audit/evidence/{audited['roots']['in']}/files/{'0' * 64}"
    assert error_of(_as(node, without_evidence, file)) == (403, "outside_audit_scope")
    assert error_of(node.call("GET", "/v1/audit/grant", "buyer")) == (403, "not_an_auditor")


@pytest.mark.parametrize(
    "overrides",
    [
        {"ends_at": 1},
        {"ends_at": int(time.time()) + 400 * 86_400},
        {"projects": [], "participants": []},
        {"auditor": "0x123"},
        {"name": ""},
        {"scope": "everything"},
    ],
)
def test_a_grant_that_makes_no_sense_is_refused_and_none_is_made(node, audited, overrides):
    before = len(node.ok("GET", "/v1/regulator/audit-grants", "regulator"))
    body = {"auditor": AUDITOR, "name": "x", "projects": [audited["project"]], "participants": [], "evidence": False,
            "ends_at": int(time.time()) + 3_600, **overrides}  # fmt: skip
    refused = node.call("POST", "/v1/regulator/audit-grants", "regulator", json=body)
    assert error_of(refused) == (422, "validation_error")
    assert len(node.ok("GET", "/v1/regulator/audit-grants", "regulator")) == before
    assert error_of(node.call("POST", "/v1/regulator/audit-grants", "buyer", json=body))[0] in (403, 422)
