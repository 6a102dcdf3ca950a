"""The issuance gate over real HTTP against a real chain: the node signs and sends only statements whose
period and quantity are those of its monitoring data, refusing the rest with nothing changed; a batch
issued around the node (a statement signed with a verifier's key and sent straight to the chain) is
indexed, raises `issuance_not_backed`, and its page and JSON say that nothing here backs it."""

from datetime import date
from typing import Any

import pytest
from eth_account import Account

from node.chain.deploy import fund_if_dev_chain
from node.chain.sender import TransactionSender
from node.chain.statements import Signature, VerificationStatement, methodology_id, sign_verification
from node.devflows import (
    DAY,
    GRAMS,
    PERIODS,
    error_of,
    new_project,
    sign,
    statement,
    upload_evidence,
)
from node.projects.issuance import statement_period
from registry.units import format_co2e

HOUR = 3_600


def state_of(node) -> tuple[Any, ...]:
    """The chain's head and the index's digest: what a refusal must leave as it was."""
    status = node.ok("GET", "/v1/status")
    return node.services.rpc.block_number(), status["index"], status["writes"]


def signed_outside(node, body: dict[str, Any]) -> dict[str, Any]:
    """The verifier's EIP-712 signature made with its key directly, not through POST /v1/verifications."""
    signature = sign_verification(node.services.account("verifier"), node.services.registry.domain(), chain(body))
    return {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()}


def chain(body: dict[str, Any]) -> VerificationStatement:
    return VerificationStatement(
        body["project_id"], body["period_start"], body["period_end"], body["quantity"],
        bytes.fromhex(body["evidence_root"][2:]), methodology_id(body["methodology"]), body["expiry"], body["nonce"],
    )  # fmt: skip


def issue_around_the_node(node, body: dict[str, Any], sender: TransactionSender | None = None) -> int:
    """Sends a statement signed outside the API straight to the registry, as anyone with an issuer's key may."""
    services = node.services
    s = signed_outside(node, body)
    signature = Signature(s["v"], bytes.fromhex(s["r"][2:]), bytes.fromhex(s["s"][2:]))
    batch, receipt = services.registry.issue(sender or services.sender_for_key("issuer"), chain(body), signature)
    services.wait_indexed(receipt.block_number)
    return batch


def refused(node, path: str, who: str, body: dict[str, Any]) -> tuple[tuple[int, str], str]:
    before = state_of(node)
    reply = node.call("POST", path, who, json=body)
    assert state_of(node) == before, "a refusal sends nothing and changes nothing"
    return error_of(reply), reply.json()["error"]["message"]


def alerts_for(node, batch: int) -> list[dict[str, Any]]:
    listed = node.ok("GET", "/v1/regulator/alerts", "regulator", params={"rule": "issuance_not_backed"})
    return [a for a in listed if a["details"]["batch_id"] == batch]


def test_a_statements_period_is_its_monitoring_datas_days_in_shanghai(node):
    project = new_project(node)
    root = upload_evidence(node, project, period=("2025-03-01", "2025-08-31"))
    # 2025-03-01 00:00 and 2025-09-01 00:00 in Asia/Shanghai (UTC+8).
    assert PERIODS[root] == (1_740_758_400, 1_756_656_000) == statement_period(date(2025, 3, 1), date(2025, 8, 31))
    good = statement(project, root)
    for start, end in [
        (good["period_start"] + 8 * HOUR, good["period_end"] + 8 * HOUR),  # midnight UTC, not Shanghai
        (good["period_start"], good["period_end"] - DAY),  # ends on the last day, not the day after
        (good["period_start"], good["period_end"] - 1),
        (good["period_start"] - DAY, good["period_end"]),
    ]:
        body = {**good, "period_start": start, "period_end": end}
        (code, message) = refused(node, "/v1/verifications", "verifier", body)
        assert code == (422, "period_mismatch")
        assert str(good["period_start"]) in message and str(good["period_end"]) in message and "2025-09-01" in message
        # Signed around the node, the issuer's node refuses to send it all the same.
        issue = {"statement": body, "signature": signed_outside(node, body)}
        assert refused(node, "/v1/batches", "issuer", issue)[0] == (422, "period_mismatch")
    assert node.ok("GET", "/v1/registry/batches", params={"project_id": project}) == []

    batch = node.ok("POST", "/v1/batches", "issuer", json={"statement": good, "signature": sign(node, good)})
    record = node.ok("GET", f"/v1/batches/{batch['result']['batch_id']}")
    assert (record["period_start"], record["period_end"]) == PERIODS[root]
    assert record["backing"] == {"computed_grams": GRAMS[root], "issued_grams": GRAMS[root], "state": "matches"}
    assert alerts_for(node, record["id"]) == []
    page = node.call("GET", f"/batches/{record['id']}", params={"lang": "en"}).text
    assert 'data-state="matches"' in page and "backing-warning" not in page


def test_the_node_sends_only_the_quantity_its_data_computes_and_only_for_a_report_it_holds(node):
    project = new_project(node)
    root = upload_evidence(node, project)
    for quantity in (GRAMS[root] + 1, GRAMS[root] - 1):
        body = statement(project, root, quantity=quantity)
        (code, message) = refused(
            node, "/v1/batches", "issuer", {"statement": body, "signature": signed_outside(node, body)}
        )
        assert code == (422, "quantity_mismatch") and str(GRAMS[root]) in message

    files = [("files", ("photo.jpg", f"photo of project {project}".encode(), "image/jpeg"))]
    plain = node.ok("POST", "/v1/evidence", "park", data={"project_id": str(project)}, files=files)["evidence_root"]
    for root_without_report in (plain, "0x" + "5e" * 32):
        body = statement(project, root_without_report, quantity=10**6)
        issue = {"statement": body, "signature": signed_outside(node, body)}
        assert refused(node, "/v1/batches", "issuer", issue)[0] == (422, "report_missing")
    assert node.ok("GET", "/v1/registry/batches", params={"project_id": project}) == []


def test_a_batch_issued_around_the_node_for_another_figure_raises_an_alert_and_its_page_warns(node):
    project = new_project(node)
    root = upload_evidence(node, project)
    body = statement(project, root, quantity=GRAMS[root] + 5_000_000)  # 5 t more than the data computes
    batch = issue_around_the_node(node, body)

    (alert,) = alerts_for(node, batch)
    assert alert["severity"] == "high" and alert["status"] == "open"
    assert {node.addresses[w].lower() for w in ("park", "verifier", "issuer")} <= set(alert["participants"])
    assert alert["details"] | {"batch_id": None} == {
        "batch_id": None, "project_id": project, "evidence_root": root, "state": "differs",
        "issued_grams": GRAMS[root] + 5_000_000, "computed_grams": GRAMS[root], "report_project_id": project,
    }  # fmt: skip
    assert "不符" in alert["explanation_zh"] and "not the computed one" in alert["explanation_en"]

    record = node.ok("GET", f"/v1/batches/{batch}")
    assert record["backing"] == {"computed_grams": GRAMS[root], "issued_grams": GRAMS[root] + 5_000_000,
                                 "state": "differs"}  # fmt: skip
    zh = node.call("GET", f"/batches/{batch}", params={"lang": "zh"}).text
    en = node.call("GET", f"/batches/{batch}", params={"lang": "en"}).text
    assert 'data-state="differs"' in zh and "警告：链上签发量与本节点依监测数据核算的结果不符" in zh
    assert "Warning: the quantity issued on chain is not what this node computes" in en
    assert format_co2e(GRAMS[root]) in en and format_co2e(GRAMS[root] + 5_000_000) in en


@pytest.fixture(scope="module")
def outside_issuer(node) -> TransactionSender:
    """An issuer of an organisation of its own, with a key this node never held."""
    account = Account.create()
    node.ok("POST", "/v1/admin/participants", "admin", json={"account": account.address, "organisation": 77,
                                                              "roles": 2})  # fmt: skip
    services = node.services
    fund_if_dev_chain(services.rpc, account.address)
    return TransactionSender(services.rpc, account, chain_id=services.manifest.chain_id, abi=services.registry.abi)


def test_a_batch_of_the_nodes_organisation_with_no_report_here_raises_an_alert(node, outside_issuer):
    services = node.services
    owner = Account.create().address
    node.ok("POST", "/v1/admin/participants", "admin",
            json={"account": owner, "organisation": node.settings.organisation, "roles": 0})  # fmt: skip
    project = services.registry.register_project(outside_issuer, owner, b"\x42" * 32)
    body = statement(project, "0x" + "a1" * 32, quantity=7_000_000)
    batch = issue_around_the_node(node, body, outside_issuer)

    (alert,) = alerts_for(node, batch)
    assert alert["details"]["state"] == "no_report" and alert["details"]["computed_grams"] is None
    assert owner.lower() in alert["participants"] and "本节点所属组织" in alert["explanation_zh"]
    assert node.ok("GET", f"/v1/batches/{batch}")["backing"] == {
        "computed_grams": None, "issued_grams": 7_000_000, "state": "no_report"}  # fmt: skip
    zh = node.call("GET", f"/batches/{batch}", params={"lang": "zh"}).text
    en = node.call("GET", f"/batches/{batch}", params={"lang": "en"}).text
    assert "本节点没有该批次证据对应的监测报告" in zh and "本节点无监测报告" in zh
    assert "Warning: this node holds no monitoring report for this batch" in en

    # Another organisation's project with no report here: its page says so, but it is not this node's alert.
    other = new_project(node)
    foreign = issue_around_the_node(node, statement(other, "0x" + "a2" * 32, quantity=7_000_000), outside_issuer)
    assert alerts_for(node, foreign) == []
    assert node.ok("GET", f"/v1/batches/{foreign}")["backing"]["state"] == "no_report"
