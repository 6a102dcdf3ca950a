"""Steps of the three users' flows over HTTP, shared by the API tests."""

import hashlib
import itertools
import time
from typing import Any

DAY = 86_400
_roots = itertools.count(1)


def new_project(node, owner: str = "park") -> int:
    meta = "0x" + hashlib.sha256(f"project {time.time_ns()}".encode()).hexdigest()
    return node.ok("POST", "/v1/projects", owner, json={"metadata_hash": meta})["result"]["project_id"]


# The grams each uploaded monitoring report computes, by evidence root: what a statement must claim.
GRAMS: dict[str, int] = {}


def monitoring_report(trees: int = 50_000) -> dict[str, Any]:
    """Camphor trees growing from 25 to 26 cm DBH (about 45 kg CO2 each), and a touch of diesel that makes
    every report, and so every evidence root, different."""
    return {
        "period": {"start": "2025-01-01", "end": "2025-12-31"},
        "trees": {"t1": [{"species": "香樟", "dbh_cm": 25.0, "count": trees}],
                  "t2": [{"species": "香樟", "dbh_cm": 26.0, "count": trees}]},
        "maintenance": {"diesel_l": next(_roots) / 1000},
    }  # fmt: skip


def upload_evidence(node, project: int, owner: str = "park", trees: int = 50_000) -> str:
    result = node.ok("POST", f"/v1/projects/{project}/monitoring", owner, json=monitoring_report(trees))
    GRAMS[result["evidence_root"]] = result["accounting"]["creditable_grams"]
    return result["evidence_root"]


def statement(project: int, root: str, *, start: int | None = None, end: int | None = None,
              quantity: int | None = None, expiry: int | None = None) -> dict[str, Any]:  # fmt: skip
    now = int(time.time())
    end = end if end is not None else now - DAY
    start = start if start is not None else end - 365 * DAY
    return {"project_id": project, "period_start": start, "period_end": end,
            "quantity": GRAMS[root] if quantity is None else quantity, "evidence_root": root,
            "methodology": "SL-GS-001/1.0", "expiry": expiry if expiry is not None else now + 3600,
            "nonce": next(_roots)}  # fmt: skip


def sign(node, body: dict[str, Any]) -> dict[str, Any]:
    return node.ok("POST", "/v1/verifications", "verifier", json=body)["signature"]


def issue(node, body: dict[str, Any]) -> int:
    result = node.ok("POST", "/v1/batches", "issuer", json={"statement": body, "signature": sign(node, body)})
    return result["result"]["batch_id"]


def issued_batch(node) -> tuple[int, int]:
    project = new_project(node)
    return project, issue(node, statement(project, upload_evidence(node, project)))


def error_of(reply) -> tuple[int, str]:
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return reply.status_code, body["error"]["code"]
