"""Demo data: a green-space project walked through verification, issuance, a transfer, a retirement and
a few checkout offsets, all through the node's own HTTP API, so a newcomer has a page to open.

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
    files = [
        (
            "files",
            (
                "tree-inventory.csv",
                b"species,dbh_cm,height_m,count\nCinnamomum camphora,32.0,11.5,86\nGinkgo biloba,24.5,9.0,120\n",
                "text/csv",
            ),
        ),
        ("files", ("soil-samples.csv", b"depth_cm,bulk_density_g_cm3,soc_pct\n30,1.32,1.85\n", "text/csv")),
        ("files", ("maintenance-log.csv", b"item,quantity,unit\ndiesel,420,L\nelectricity,3100,kWh\n", "text/csv")),
    ]
    bundle = api.call("POST", "/v1/evidence", "park", data={"project_id": str(project)}, files=files)
    now = int(time.time())
    statement = {
        "project_id": project,
        "period_start": now - 366 * DAY,
        "period_end": now - DAY,
        "quantity": 1_250_000_000,
        "evidence_root": bundle["evidence_root"],
        "methodology": "SL-GS-001/1.0",
        "expiry": now + 7 * DAY,
        "nonce": project,
    }
    signed = api.call("POST", "/v1/verifications", "verifier", json=statement)
    issued = api.call("POST", "/v1/batches", "issuer", json={"statement": statement, "signature": signed["signature"]})
    batch = issued["result"]["batch_id"]
    api.call(
        "POST",
        "/v1/transfers",
        "park",
        json={"batch_id": batch, "to": keystore.address("buyer"), "amount": 400_000_000, "deal_ref": "0x" + "d1" * 32},
    )
    api.call(
        "POST",
        "/v1/transfers",
        "park",
        json={
            "batch_id": batch,
            "to": keystore.address("platform"),
            "amount": 50_000_000,
            "deal_ref": "0x" + "d2" * 32,
        },
    )
    retired = api.call(
        "POST",
        "/v1/retirements",
        "buyer",
        json={
            "batch_id": batch,
            "amount": 150_000_000,
            "beneficiary": "杭州快递有限公司 Hangzhou Courier Co., Ltd.",
            "reason": "2026 scope 3 delivery emissions",
            "consumption_start": now - 300 * DAY,
            "consumption_end": now - DAY,
            "region": "CN-ZJ",
        },
    )
    for order, grams in (("ORD-20261127-0001", 412), ("ORD-20261127-0002", 1_386), ("ORD-20261127-0003", 905)):
        api.call(
            "POST",
            "/v1/retirements",
            "platform",
            json={
                "batch_id": batch,
                "amount": grams,
                "beneficiary": f"order {order}",
                "reason": "zero-carbon delivery",
                "consumption_start": now - DAY,
                "consumption_end": now,
                "region": "CN-ZJ",
            },
        )
    retirement_id = retired["result"]["retirement_id"]
    base = settings.base_url
    return DemoResult(batch, retirement_id, [f"{base}/batches/{batch}", f"{base}/retirements/{retirement_id}"])


def write_tokens(settings: Settings, tokens: dict[str, str]) -> None:
    path = settings.home / "demo-tokens.json"
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)
