"""Plausibility over HTTP: refused censuses store nothing, flags are listed to the verifier, a statement over a
flagged report needs the verifier's FlagsAcknowledged signature, and the regulator's report lists it."""

import datetime
from typing import Any

from node.api.routes.participants import _statement
from node.api.schemas import VerificationStatementIn
from node.chain.flags import sign_acknowledgement
from node.chain.statements import sign_verification
from node.devflows import GRAMS, PERIODS, error_of, new_project, statement
from node.projects.issuance import report_statement_period

YEAR_1 = ("2024-01-01", "2024-12-31")
YEAR_2 = ("2025-01-01", "2025-12-31")


def camphor(period: tuple[str, str], dbh_t1: float, dbh_t2: float, trees: int = 2_000) -> dict[str, Any]:
    return {
        "period": {"start": period[0], "end": period[1]},
        "trees": {"t1": [{"species": "香樟", "dbh_cm": dbh_t1, "count": trees}],
                  "t2": [{"species": "香樟", "dbh_cm": dbh_t2, "count": trees}]},
    }  # fmt: skip


def upload(node, project: int, report: dict[str, Any]) -> dict[str, Any]:
    result = node.ok("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
    GRAMS[result["evidence_root"]] = result["accounting"]["creditable_grams"]
    PERIODS[result["evidence_root"]] = report_statement_period(report)
    return result


def stored(node, project: int) -> tuple[int, int]:
    files = sum(1 for p in node.settings.evidence_dir.rglob("*") if p.is_file())
    return len(node.ok("GET", f"/v1/projects/{project}/accounting")), files


def refused(node, project: int, report: dict[str, Any], code: str) -> str:
    before = stored(node, project)
    reply = node.call("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
    assert error_of(reply) == (422, code), reply.text
    assert stored(node, project) == before, "a refused report stores nothing"
    return reply.json()["error"]["message"]


def issue(node, body: dict[str, Any], signature: dict[str, Any]) -> int:
    reply = node.ok("POST", "/v1/batches", "issuer", json={"statement": body, "signature": signature})
    return reply["result"]["batch_id"]


def test_plausibility_from_upload_to_the_regulator(node):
    project = new_project(node)
    first = upload(node, project, camphor(YEAR_1, 25.0, 26.0))
    assert first["accounting"]["plausibility"]["flags"] == []
    body = statement(project, first["evidence_root"])
    issue(node, body, node.ok("POST", "/v1/verifications", "verifier", json=body)["signature"])

    # The next period must open with the census the issued one closed with (26 cm), not 25 cm.
    message = refused(node, project, camphor(YEAR_2, 25.0, 26.5), "census_discontinuity")
    assert "trees.t1" in message and "香樟" in message
    # The issued census, relabelled as another (earlier) period, is not issued twice.
    refused(node, project, camphor(("2023-01-01", "2023-12-31"), 25.0, 26.0), "census_discontinuity")
    # Decimetres for centimetres at t2.
    assert "unit" in refused(node, project, camphor(YEAR_2, 26.0, 2.7), "unit_slip")

    # Four centimetres in a year: accepted, flagged, and the flags are part of the attested computation.
    flagged = upload(node, project, camphor(YEAR_2, 26.0, 30.0))
    section = flagged["accounting"]["plausibility"]
    assert section["flags_total"] == 1 and section["flag_counts"] == {"growth_out_of_range": 1}
    flag = section["flags"][0]
    assert flag["field"].startswith("trees.t2") and flag["row"] == "香樟" and flag["observed"] == 4.0
    assert flag["allowed"][1] < 4.0 and flag["message_zh"] and flag["message_en"]
    root = flagged["evidence_root"]
    listed = next(r for r in node.ok("GET", f"/v1/projects/{project}/accounting") if r["evidence_root"] == root)
    assert listed["result"]["plausibility"]["flags"] == section["flags"]
    view = node.ok("GET", f"/v1/verifications/{root}/flags", "verifier")
    assert view["flags"] == section["flags"] and view["acknowledgement_required"] and view["acknowledgements"] == []

    # No statement without acknowledging the flags: neither signed by the node nor issued.
    body = statement(project, root)
    assert error_of(node.call("POST", "/v1/verifications", "verifier", json=body)) == (409, "flags_not_acknowledged")
    verifier = node.services.account("verifier")
    assert verifier.address.lower() == node.addresses["verifier"].lower()
    domain = node.services.registry.domain()
    root_bytes, hash_bytes = bytes.fromhex(root[2:]), bytes.fromhex(view["flags_hash"][2:])
    own = sign_verification(verifier, domain, _statement(VerificationStatementIn(**body)))
    own_signature = {"v": own.v, "r": "0x" + own.r.hex(), "s": "0x" + own.s.hex()}
    reply = node.call("POST", "/v1/batches", "issuer", json={"statement": body, "signature": own_signature})
    assert error_of(reply) == (409, "flags_not_acknowledged")

    # An acknowledgement must be over the flags as they are, and signed by the calling verifier.
    ack = {"evidence_root": root, "flags_hash": "0x" + "00" * 32}
    reply = node.call("POST", "/v1/verifications/acknowledgements", "verifier", json=ack)
    assert error_of(reply) == (409, "flags_changed")
    stranger = sign_acknowledgement(node.services.account("park"), domain, root_bytes, hash_bytes)
    ack = {"evidence_root": root, "flags_hash": view["flags_hash"],
           "signature": {"v": stranger.v, "r": "0x" + stranger.r.hex(), "s": "0x" + stranger.s.hex()}}  # fmt: skip
    reply = node.call("POST", "/v1/verifications/acknowledgements", "verifier", json=ack)
    assert error_of(reply) == (403, "bad_acknowledgement")
    assert error_of(node.call("POST", "/v1/verifications/acknowledgements", "park", json=ack))[0] == 403
    signed = sign_acknowledgement(verifier, domain, root_bytes, hash_bytes)
    ack["signature"] = {"v": signed.v, "r": "0x" + signed.r.hex(), "s": "0x" + signed.s.hex()}
    recorded = node.ok("POST", "/v1/verifications/acknowledgements", "verifier", json=ack)
    assert recorded["verifier"] == node.addresses["verifier"].lower() and recorded["flags_total"] == 1
    assert node.ok("GET", f"/v1/verifications/{root}/flags", "verifier")["acknowledgements"] == [recorded]

    signature = node.ok("POST", "/v1/verifications", "verifier", json=body)["signature"]
    batch = issue(node, body, signature)

    today = datetime.datetime.now(datetime.UTC).date()
    since, until = (today - datetime.timedelta(days=1)).isoformat(), (today + datetime.timedelta(days=1)).isoformat()
    report = node.ok("GET", "/v1/regulator/report", "regulator", params={"since": since, "until": until})
    mine = [f for f in report["flagged_verifications"] if f["evidence_root"] == root]
    assert mine == [{"project_id": project, "evidence_root": root, "flags_count": 1,
                     "verifier": node.addresses["verifier"].lower(), "acknowledged_at": recorded["acknowledged_at"],
                     "batch_id": batch}]  # fmt: skip
    assert all(f["evidence_root"] != first["evidence_root"] for f in report["flagged_verifications"])


def test_the_node_signs_the_acknowledgement_with_the_verifiers_key_when_none_is_sent(node):
    project = new_project(node)
    flagged = upload(node, project, camphor(YEAR_1, 25.0, 29.0))
    root = flagged["evidence_root"]
    view = node.ok("GET", f"/v1/verifications/{root}/flags", "verifier")
    node.ok("POST", "/v1/verifications/acknowledgements", "verifier",
            json={"evidence_root": root, "flags_hash": view["flags_hash"]})  # fmt: skip
    node.ok("POST", "/v1/verifications", "verifier", json=statement(project, root))


def test_the_reports_tree_area_flags_an_implausible_density(node):
    """trees.area_m2 reaches the density check on upload: 2,000 camphor trees on 0.5 ha are 4,000 stems/ha
    (broadleaf range 5-2,000), flagged and part of the attested computation; on 10 ha (200/ha), no flag."""
    project = new_project(node)
    crowded = camphor(YEAR_1, 25.0, 26.0)
    crowded["trees"]["area_m2"] = 5_000
    section = upload(node, project, crowded)["accounting"]["plausibility"]
    assert section["flag_counts"] == {"stems_per_ha_out_of_range": 1}
    flag = section["flags"][0]
    assert flag["field"] == "trees.area_m2" and flag["observed"] == 4_000.0 and flag["allowed"] == [5.0, 2000.0]
    spacious = camphor(YEAR_1, 25.0, 26.0)
    spacious["trees"]["area_m2"] = 100_000
    assert upload(node, new_project(node), spacious)["accounting"]["plausibility"]["flags_total"] == 0
