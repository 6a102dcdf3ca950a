"""Demo data: a green-space project whose monitoring data the node computes, walked through
verification, issuance, transfers, a retirement and three checkout offsets (one retirement under a
Merkle root of the orders), all through the node's own HTTP API, so a newcomer has a page to open.

Participants get keystores, on-chain registration (by the node's admin key) and API tokens; the tokens
are written to <home>/demo-tokens.json for trying the API by hand.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from node.api.state import NodeState
from node.chain.deploy import fund_if_dev_chain
from node.chain.keystore import Keystore
from node.chain.rpc import RpcClient
from node.errors import SinkError
from node.settings import Settings

# name -> (organisation, roles, label)
CAST: dict[str, tuple[int, int, str]] = {
    "admin": (1, 1, "registry operator (admin)"),
    "issuer": (1, 2, "Municipal Forestry Bureau (issuer)"),
    "verifier": (2, 4, "Green Verification Co. (verifier)"),
    "regulator": (9, 8, "Ecology and Environment Bureau (regulator)"),
    "park": (3, 0, "Riverside Park Management Office (project owner)"),
    "buyer": (4, 0, "Hangzhou Courier Co., Ltd. (buyer)"),
    "platform": (5, 0, "E-commerce platform (checkout offsets)"),
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


def prepare_participants(settings: Settings, state: NodeState) -> dict[str, str]:
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
    for name, (organisation, roles, _) in CAST.items():
        if name == "admin":
            continue
        api.call(
            "POST",
            "/v1/admin/participants",
            "admin",
            json={"account": keystore.address(name), "organisation": organisation, "roles": roles},
        )
    metadata = hashlib.sha256(b"Riverside Park, 12.4 ha, Hangzhou (demo)").hexdigest()
    project = api.call("POST", "/v1/projects", "park", json={"metadata_hash": "0x" + metadata})["result"]["project_id"]
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
    statement = {
        "project_id": project,
        "period_start": now - 366 * DAY,
        "period_end": now - DAY,
        "quantity": quantity,
        "evidence_root": monitoring["evidence_root"],
        "methodology": "SL-GS-001/1.0",
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
        ],
    )


def write_tokens(settings: Settings, tokens: dict[str, str]) -> None:
    path = settings.home / "demo-tokens.json"
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)
