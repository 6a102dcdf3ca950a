"""Demo data: a green-space project whose monitoring data the node computes, walked through
verification, issuance, transfers, a retirement, three checkout offsets (one retirement under a
Merkle root of the orders) and the market (a custodian, a deposit, a listing, a deal paid and delivered,
a three-subscriber campaign retired), all through the node's own HTTP API, so a newcomer has a page to open.

Participants get keystores, on-chain registration (by the node's admin key) and API tokens; the tokens
are written to <home>/demo-tokens.json for trying the API by hand.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from node.chain.deploy import fund_if_dev_chain
from node.chain.eip712 import sign_typed
from node.chain.keystore import Keystore
from node.chain.rpc import RpcClient
from node.errors import SinkError
from node.market.custody import custody_typed
from node.private import private_file
from node.settings import Settings
from node.store import Store
from registry.campaigns import payment_root

# name -> (organisation, roles, label)
CAST: dict[str, tuple[int, int, str]] = {
    "admin": (1, 1, "registry operator (admin)"),
    "issuer": (1, 2, "Municipal Forestry Bureau (issuer)"),
    "verifier": (2, 4, "Green Verification Co. (verifier)"),
    "regulator": (9, 8, "Ecology and Environment Bureau (regulator)"),
    "park": (3, 0, "Riverside Park Management Office (project owner)"),
    "buyer": (4, 0, "Hangzhou Courier Co., Ltd. (buyer)"),
    "platform": (5, 0, "E-commerce platform (checkout offsets)"),
    "bank": (6, 16, "Green Bank Hangzhou Branch (bank)"),
}
DAY = 86_400


@dataclass
class DemoResult:
    batch_id: int
    retirement_id: int
    links: list[str]


class DemoClient:
    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.tokens = tokens

    def call(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> Any:
        headers = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        reply = self.http.request(method, path, headers=headers, **kwargs)
        if reply.status_code >= 400:
            raise SinkError(f"{method} {path} -> {reply.status_code}: {reply.text}")
        return reply.json()


def prepare_participants(settings: Settings, state: Store) -> dict[str, str]:
    """Keystores (funded on anvil) and API tokens for the demo cast; returns name -> token."""
    keystore = Keystore.from_settings(settings)
    tokens: dict[str, str] = {}
    with RpcClient(settings.effective_rpc_url) as rpc:
        for name, (_, _, label) in CAST.items():
            address = keystore.ensure(name)
            if settings.gas_mode == "eip1559":
                fund_if_dev_chain(rpc, address)
            tokens[name] = state.create_token(key_name=name, account=address, label=label)
    return tokens


def run_demo(settings: Settings, tokens: dict[str, str]) -> DemoResult:
    keystore = Keystore.from_settings(settings)
    api = DemoClient(settings.base_url, tokens)
    for name, (organisation, roles, display_name) in CAST.items():
        if name == "admin":
            continue
        api.call(
            "POST",
            "/v1/admin/participants",
            "admin",
            json={"account": keystore.address(name), "organisation": organisation, "roles": roles,
                  "display_name": display_name},
        )  # fmt: skip
    profile = {"name": "滨江公园 Riverside Park (demo)", "region": "CN-ZJ", "kind": "park"}
    project = api.call("POST", "/v1/projects", "park", json={"profile": profile})["result"]["project_id"]
    review = {"decision": "approved", "reason": "monitoring plan, land rights and maintenance records complete"}
    api.call("POST", f"/v1/regulator/projects/{project}/review", "regulator", json=review)
    report = {
        "period": {"start": "2025-01-01", "end": "2025-12-31"},
        "trees": {
            "t1": [
                {"species": "国槐", "dbh_cm": 20.0, "count": 1200},
                {"species": "香樟", "dbh_cm": 25.0, "count": 1500},
                {"species": "毛白杨", "dbh_cm": 30.0, "count": 800},
            ],
            "t2": [
                {"species": "国槐", "dbh_cm": 20.8, "count": 1195},
                {"species": "香樟", "dbh_cm": 26.0, "count": 1500},
                {"species": "毛白杨", "dbh_cm": 31.2, "count": 800},
            ],
        },
        "shrubs": [{"area_m2": 24000, "biomass_kg_m2_t1": 1.60, "biomass_kg_m2_t2": 1.80, "uncertainty": 0.18}],
        "herbs": [{"area_m2": 150000}],
        "soil": {"modelled_tco2": 15.6},
        "maintenance": {
            "diesel_l": 4500,
            "gasoline_l": 7500,
            "electricity_kwh": 45000,
            "fertiliser_n_kg": 2055,
            "urea_kg": 3000,
        },
    }
    monitoring = api.call("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
    quantity = monitoring["accounting"]["creditable_grams"]
    now = int(time.time())
    from node.projects.issuance import report_statement_period  # the node's own modules load lazily here

    period_start, period_end = report_statement_period(report)  # the period the node requires of the report
    statement = {
        "project_id": project,
        "period_start": period_start,
        "period_end": period_end,
        "quantity": quantity,
        "evidence_root": monitoring["evidence_root"],
        "methodology": "SL-GS-001/1.1",
        "expiry": now + 7 * DAY,
        "nonce": project,
    }
    signed = api.call("POST", "/v1/verifications", "verifier", json=statement)
    issued = api.call("POST", "/v1/batches", "issuer", json={"statement": statement, "signature": signed["signature"]})
    batch = issued["result"]["batch_id"]
    to_buyer, to_platform = quantity * 3 // 10, quantity // 20
    api.call(
        "POST",
        "/v1/transfers",
        "park",
        json={"batch_id": batch, "to": keystore.address("buyer"), "amount": to_buyer, "deal_ref": "0x" + "d1" * 32},
    )
    api.call(
        "POST",
        "/v1/transfers",
        "park",
        json={
            "batch_id": batch,
            "to": keystore.address("platform"),
            "amount": to_platform,
            "deal_ref": "0x" + "d2" * 32,
        },
    )
    retired = api.call(
        "POST",
        "/v1/retirements",
        "buyer",
        json={
            "batch_id": batch,
            "amount": to_buyer // 3,
            "beneficiary": "杭州快递有限公司 Hangzhou Courier Co., Ltd.",
            "reason": "2026 scope 3 delivery emissions",
            "consumption_start": now - 300 * DAY,
            "consumption_end": now - DAY,
            "region": "CN-ZJ",
        },
    )
    orders = [
        {
            "order_id": order,
            "shopper": shopper,
            "legs": [
                {"mode": "road", "distance_km": km, "weight_kg": kg, "dims_cm": [30, 20, 15]},
                {"mode": "van", "distance_km": 12, "weight_kg": kg},
            ],
            "packaging": [{"material": "corrugated_board", "mass_kg": 0.3}],
        }
        for order, shopper, km, kg in (
            ("ORD-20261127-0001", "shopper-1", 1200, 2.0),
            ("ORD-20261127-0002", "shopper-2", 850, 4.5),
            ("ORD-20261127-0003", "shopper-1", 300, 0.8),
        )
    ]
    offset = api.call("POST", "/v1/offsets/logistics", "platform", json={"orders": orders, "region": "CN-ZJ"})
    listing, campaign, subscription = _market(settings, api, keystore, batch)
    retirement_id = retired["result"]["retirement_id"]
    base = settings.base_url
    offset_retirement = offset["retirements"][0]["retirement_id"]
    return DemoResult(
        batch,
        retirement_id,
        [
            f"{base}/batches/{batch}?lang=en",
            f"{base}/batches/{batch}",
            f"{base}/retirements/{retirement_id}",
            f"{base}/retirements/{offset_retirement}",
            f"{base}/offsets/orders/ORD-20261127-0001",
            f"{base}/listings/{listing}",
            f"{base}/campaigns/{campaign}/subscriptions/{subscription}",
        ],
    )


def _market(settings: Settings, api: "DemoClient", keystore: Keystore, batch: int) -> tuple[int, int, int]:
    """A bank custodian, the park's deposit, a listing, one deal paid and delivered, and a small campaign
    of three subscribers paid by one settlement receipt and retired."""
    custodian = keystore.load_or_create("custodian")
    api.call(
        "POST", "/v1/admin/custodians", "admin", json={"address": custodian.address, "name": "ICBC custody (demo)"}
    )
    chain = api.call("GET", "/v1/status")
    now = int(time.time())

    def signed(kind: str, message: dict[str, Any]) -> dict[str, Any]:
        signature = sign_typed(custodian, custody_typed(chain["chain_id"], chain["registry"], kind, message))
        return {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()}

    park = keystore.address("park").lower()
    deposit = {"seller": park, "amount_fen": 2_000_000, "currency": "CNY", "custodian_ref": "ICBC-DEP-0001",
               "paid_at": now}  # fmt: skip
    deposit["signature"] = signed("DepositReceipt", {"seller": park, "amountFen": 2_000_000, "currency": "CNY",
                                                     "custodianRef": "ICBC-DEP-0001", "paidAt": now})  # fmt: skip
    api.call("POST", "/v1/deposits", "park", json=deposit)
    listing = api.call("POST", "/v1/listings", "park", json={
        "batch_id": batch, "quantity": 20_000_000, "price": "58.50", "min_lot": 1_000_000,
        "valid_from": now - 60, "valid_until": now + 90 * DAY, "title": "滨江公园 2025 年度园林碳汇",
        "description": "Verified urban green-space sink, Riverside Park, Hangzhou."})["id"]  # fmt: skip
    offer = api.call("POST", f"/v1/listings/{listing}/offers", "buyer",
                     json={"quantity": 5_000_000, "price": "57.00", "expires_at": now + DAY})  # fmt: skip
    deal = api.call("POST", f"/v1/offers/{offer['id']}/answer", "park", json={"action": "accept"})["id"]
    paid = {"amount_fen": 28_500, "currency": "CNY", "custodian_ref": "ICBC-PAY-0001", "paid_at": now}
    paid["signature"] = signed("CustodianReceipt", {"dealId": deal, "amountFen": 28_500, "currency": "CNY",
                                                    "custodianRef": "ICBC-PAY-0001", "paidAt": now})  # fmt: skip
    api.call("POST", f"/v1/deals/{deal}/receipt", "buyer", json=paid)
    api.call("POST", f"/v1/deals/{deal}/deliver", "park")

    campaign = api.call("POST", f"/v1/listings/{listing}/campaign", "park",
                        json={"target": 6_000, "deadline": now + 30 * DAY})["id"]  # fmt: skip
    subscribers = [{"subscriber": f"shopper-{i}", "grams": 2_000, "amount_fen": 12} for i in (1, 2, 3)]
    made = api.call("POST", f"/v1/campaigns/{campaign}/subscriptions", "platform", json={"subscriptions": subscribers})
    payments = [(i, 12) for i in range(made["first_id"], made["last_id"] + 1)]
    message = {"campaignId": campaign, "root": payment_root(payments), "count": 3, "amountFen": 36,
               "currency": "CNY", "custodianRef": "ICBC-SETTLE-0001", "paidAt": now}  # fmt: skip
    settlement = {"subscription_ids": [i for i, _ in payments], "amount_fen": 36, "currency": "CNY",
                  "custodian_ref": "ICBC-SETTLE-0001", "paid_at": now}  # fmt: skip
    settlement["signature"] = signed("SubscriptionReceipt", message)
    api.call("POST", f"/v1/campaigns/{campaign}/receipts", "platform", json=settlement)
    return listing, campaign, made["first_id"]


def write_tokens(settings: Settings, tokens: dict[str, str]) -> None:
    path = private_file(settings.home / "demo-tokens.json")  # 0600 before the tokens are in it
    path.write_text(json.dumps(tokens, indent=2))
