"""Steps of the three users' flows over HTTP against a `node.devnode.LocalNode`, shared by the API tests and
the benchmarks that drive a node the way its users do."""

import hashlib
import itertools
import time
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.devnode import LocalNode
from node.projects.issuance import report_statement_period
from registry.units import deal_total_fen

DAY = 86_400
_roots = itertools.count(1)


def new_project(node: LocalNode, owner: str = "park", profile: dict[str, str] | None = None) -> int:
    meta = "0x" + hashlib.sha256(f"project {time.time_ns()}".encode()).hexdigest()
    body: dict[str, Any] = {"profile": profile} if profile else {"metadata_hash": meta}
    return node.ok("POST", "/v1/projects", owner, json=body)["result"]["project_id"]


# The grams each uploaded monitoring report computes, by evidence root: what a statement must claim.
GRAMS: dict[str, int] = {}
# The statement period (periodStart, periodEnd) of each uploaded report, by evidence root: what the node
# requires a statement to say (00:00 Asia/Shanghai of the first day and of the day after the last).
PERIODS: dict[str, tuple[int, int]] = {}
REPORT_PERIOD = ("2025-01-01", "2025-12-31")


def monitoring_report(trees: int = 50_000, period: tuple[str, str] = REPORT_PERIOD) -> dict[str, Any]:
    """Camphor trees growing from 25 to 26 cm DBH (about 45 kg CO2 each), and a touch of diesel that makes
    every report, and so every evidence root, different."""
    return {
        "period": {"start": period[0], "end": period[1]},
        "trees": {"t1": [{"species": "香樟", "dbh_cm": 25.0, "count": trees}],
                  "t2": [{"species": "香樟", "dbh_cm": 26.0, "count": trees}]},
        "maintenance": {"diesel_l": next(_roots) / 1000},
    }  # fmt: skip


def upload_evidence(node: LocalNode, project: int, owner: str = "park", trees: int = 50_000,
                    period: tuple[str, str] = REPORT_PERIOD) -> str:  # fmt: skip
    report = monitoring_report(trees, period)
    result = node.ok("POST", f"/v1/projects/{project}/monitoring", owner, json=report)
    GRAMS[result["evidence_root"]] = result["accounting"]["creditable_grams"]
    PERIODS[result["evidence_root"]] = report_statement_period(report)
    return result["evidence_root"]


def statement(project: int, root: str, *, start: int | None = None, end: int | None = None,
              quantity: int | None = None, expiry: int | None = None) -> dict[str, Any]:  # fmt: skip
    """A statement for the report behind `root`: its quantity and period unless told otherwise (a root with
    no report uploaded here gets the year that ended yesterday)."""
    now = int(time.time())
    period = PERIODS.get(root)
    end = end if end is not None else period[1] if period else now - DAY
    start = start if start is not None else period[0] if period and end == period[1] else end - 365 * DAY
    return {"project_id": project, "period_start": start, "period_end": end,
            "quantity": GRAMS[root] if quantity is None else quantity, "evidence_root": root,
            "methodology": "SL-GS-001/1.1", "expiry": expiry if expiry is not None else now + 3600,
            "nonce": next(_roots)}  # fmt: skip


def sign(node: LocalNode, body: dict[str, Any]) -> dict[str, Any]:
    return node.ok("POST", "/v1/verifications", "verifier", json=body)["signature"]


def issue(node: LocalNode, body: dict[str, Any]) -> int:
    result = node.ok("POST", "/v1/batches", "issuer", json={"statement": body, "signature": sign(node, body)})
    return result["result"]["batch_id"]


def approve(node: LocalNode, project: int) -> None:
    """The regulator's pre-listing review passes the project: its listings may go public."""
    node.ok("POST", f"/v1/regulator/projects/{project}/review", "regulator",
            json={"decision": "approved", "reason": "documents complete"})  # fmt: skip


def issued_batch(node: LocalNode, profile: dict[str, str] | None = None, approved: bool = True) -> tuple[int, int]:
    project = new_project(node, profile=profile)
    if approved:
        approve(node, project)
    return project, issue(node, statement(project, upload_evidence(node, project)))


def error_of(reply: httpx.Response) -> tuple[int, str]:
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return reply.status_code, body["error"]["code"]


_custodians: dict[str, LocalAccount] = {}


def custodian(node: LocalNode) -> LocalAccount:
    """The bank custodian of this node, recorded by the admin once."""
    if node.url not in _custodians:
        account = Account.create()
        node.ok("POST", "/v1/admin/custodians", "admin", json={"address": account.address, "name": "ICBC custody"})
        _custodians[node.url] = account
    return _custodians[node.url]


def custody_signature(node: LocalNode, signer: LocalAccount, kind: str, message: dict[str, Any]) -> dict[str, Any]:
    from node.chain.eip712 import sign_typed
    from node.market.custody import custody_typed

    status = node.ok("GET", "/v1/status")
    signature = sign_typed(signer, custody_typed(status["chain_id"], status["registry"], kind, message))
    return {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()}


def deposit(
    node: LocalNode, who: str = "park", amount_fen: int = 5_000_000, signer: LocalAccount | None = None
) -> dict[str, Any]:
    """Records a deposit for `who`, signed by the node's custodian (or by `signer`)."""
    seller = node.addresses[who]
    body = {"amount_fen": amount_fen, "currency": "CNY", "custodian_ref": f"DEP-{next(_roots)}",
            "paid_at": int(time.time())}  # fmt: skip
    message = {"seller": seller.lower(), "amountFen": amount_fen, "currency": "CNY",
               "custodianRef": body["custodian_ref"], "paidAt": body["paid_at"]}  # fmt: skip
    signature = custody_signature(node, signer or custodian(node), "DepositReceipt", message)
    return node.call("POST", "/v1/deposits", who, json={**body, "seller": seller, "signature": signature})


def payment(
    node: LocalNode, deal_id: int, amount_fen: int, signer: LocalAccount | None = None, ref: str = "ICBC-PAY-1"
) -> dict[str, Any]:
    body = {"amount_fen": amount_fen, "currency": "CNY", "custodian_ref": ref, "paid_at": int(time.time())}
    message = {"dealId": deal_id, "amountFen": amount_fen, "currency": "CNY", "custodianRef": ref,
               "paidAt": body["paid_at"]}  # fmt: skip
    return {**body, "signature": custody_signature(node, signer or custodian(node), "CustodianReceipt", message)}


def listing_for(batch: int | None, quantity: int | None, **fields: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {"batch_id": batch, "quantity": quantity, "price": "58.50", "min_lot": 1_000, "valid_from": now - 60,
            "valid_until": now + 30 * DAY, "title": "社区绿地碳汇", "description": "Verified sink."}  # fmt: skip
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def bought(node: LocalNode, listing_id: int, quantity: int, buyer: str = "buyer", price: str = "58.00",
           deliver: bool = True, ref: str = "ICBC-PAY-1") -> dict[str, Any]:  # fmt: skip
    """Offer → accept → custodian receipt (→ delivery): the deal as the buyer then sees it."""
    offer = node.ok("POST", f"/v1/listings/{listing_id}/offers", buyer,
                    json={"quantity": quantity, "price": price, "expires_at": int(time.time()) + 3600})  # fmt: skip
    seller = node.ok("GET", f"/v1/listings/{listing_id}")["seller"]
    who = next(name for name, address in node.addresses.items() if address.lower() == seller)
    deal = node.ok("POST", f"/v1/offers/{offer['id']}/answer", who, json={"action": "accept"})
    amount = deal_total_fen(int(price.replace(".", "")), quantity)
    node.ok("POST", f"/v1/deals/{deal['id']}/receipt", buyer, json=payment(node, deal["id"], amount, ref=ref))
    if deliver:
        node.ok("POST", f"/v1/deals/{deal['id']}/deliver", who)
    return node.ok("GET", f"/v1/deals/{deal['id']}", buyer)


def settlement(node: LocalNode, campaign_id: int, payments: list[tuple[int, int]], *,
               signer: LocalAccount | None = None, amount_fen: int | None = None,
               ref: str = "ICBC-SETTLE-1") -> dict[str, Any]:  # fmt: skip
    """A custodian's settlement receipt for (subscription id, amount) payments."""
    from registry.campaigns import payment_root

    amount = sum(a for _, a in payments) if amount_fen is None else amount_fen
    paid_at = int(time.time())
    msg = {"campaignId": campaign_id, "root": payment_root(payments), "count": len(payments),
               "amountFen": amount, "currency": "CNY", "custodianRef": ref, "paidAt": paid_at}  # fmt: skip
    return {"subscription_ids": [i for i, _ in payments], "amount_fen": amount, "currency": "CNY",
            "custodian_ref": ref, "paid_at": paid_at,
            "signature": custody_signature(node, signer or custodian(node), "SubscriptionReceipt", msg)}  # fmt: skip
