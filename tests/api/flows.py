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


def upload_evidence(node, project: int, owner: str = "park") -> str:
    unique = f"{project}-{next(_roots)}-{time.time_ns()}".encode()
    files = [("files", ("inventory.csv", b"species,dbh_cm,count\nGinkgo biloba,23.5,120\n" + unique, "text/csv")),
             ("files", ("soil.csv", b"depth_cm,bulk_density,soc_pct\n30,1.3,1.8\n", "text/csv"))]  # fmt: skip
    return node.ok("POST", "/v1/evidence", owner, data={"project_id": str(project)}, files=files)["evidence_root"]


def statement(project: int, root: str, *, start: int | None = None, end: int | None = None,
              quantity: int = 1_000_000_000, expiry: int | None = None) -> dict[str, Any]:  # fmt: skip
    now = int(time.time())
    end = end if end is not None else now - DAY
    start = start if start is not None else end - 365 * DAY
    return {"project_id": project, "period_start": start, "period_end": end, "quantity": quantity,
            "evidence_root": root, "methodology": "SL-GS-001/1.0",
            "expiry": expiry if expiry is not None else now + 3600, "nonce": next(_roots)}  # fmt: skip


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
