"""Third-party auditors: read-only access a regulator grants for a period and a scope, every query logged.

A grant names the auditor's account, the projects and participants it covers, whether evidence files are
included, and when it starts and ends. The regulator is handed an API token for the auditor, shown once. Under
a live grant the auditor reads the provenance of batches in scope, the accounting reports of projects in scope,
chain events touching the scope (a project in it, or a participant in it on either side), and, if granted,
the evidence files of projects in scope. Nothing else: not the SQL console, whose answers cannot be filtered
row by row. Every query, allowed or refused, is logged with its outcome, and regulators read the log. A grant
ends by itself at its end time; a regulator may revoke it sooner (its tokens are revoked with it).
"""

import time
from dataclasses import dataclass
from typing import Any

import orjson

from node.actors import Caller
from node.errors import Forbidden, InvalidRequest, not_found
from node.services import Services

MAX_GRANT_S = 366 * 86_400  # an audit engagement is granted a year at most; a new grant extends it
TOKEN_KEY = "auditor-{id}"  # the tokens' key name: auditors only read, so no keystore key stands behind it


@dataclass(frozen=True)
class Grant:
    id: int
    auditor: str
    name: str
    projects: frozenset[int]
    participants: frozenset[str]
    evidence: bool
    starts_at: int
    ends_at: int
    revoked_at: int | None

    def live(self, now: int) -> bool:
        return self.revoked_at is None and self.starts_at <= now < self.ends_at

    def covers_project(self, project_id: int | None) -> bool:
        return project_id is not None and project_id in self.projects

    def covers_account(self, account: str | None) -> bool:
        return account is not None and account.lower() in self.participants


def _grant(row: dict[str, Any]) -> Grant:
    return Grant(
        id=row["id"],
        auditor=row["auditor"],
        name=row["name"],
        projects=frozenset(orjson.loads(row["projects"])),
        participants=frozenset(orjson.loads(row["participants"])),
        evidence=bool(row["evidence"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        revoked_at=row["revoked_at"],
    )


def shown(services: Services, grant: Grant) -> dict[str, Any]:
    now = int(time.time())
    queries = services.state.rows("SELECT COUNT(*) AS n FROM audit_query WHERE grant_id = ?", (grant.id,))[0]["n"]
    return {
        "id": grant.id,
        "auditor": grant.auditor,
        "name": grant.name,
        "projects": sorted(grant.projects),
        "participants": sorted(grant.participants),
        "evidence": grant.evidence,
        "starts_at": grant.starts_at,
        "ends_at": grant.ends_at,
        "revoked_at": grant.revoked_at,
        "live": grant.live(now),
        "queries": int(queries),
    }


def grant_access(services: Services, regulator: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """Records the grant and makes the auditor's token (in the answer only)."""
    now = int(time.time())
    starts = body.get("starts_at") or now
    ends = body["ends_at"]
    if ends <= max(starts, now):
        raise InvalidRequest("validation_error", "ends_at: the grant would be over before it is used")
    if ends - starts > MAX_GRANT_S:
        raise InvalidRequest("validation_error", f"ends_at: a grant lasts at most {MAX_GRANT_S // 86_400} days")
    if not body["projects"] and not body["participants"]:
        raise InvalidRequest("validation_error", "scope: name at least one project or participant")
    auditor = body["auditor"].lower()
    with services.state.transaction():
        grant_id = services.state.insert(
            "INSERT INTO audit_grant (auditor, name, projects, participants, evidence, starts_at, ends_at, granted_by,"
            " granted_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (auditor, body["name"], orjson.dumps(sorted(set(body["projects"]))).decode(),
             orjson.dumps(sorted({p.lower() for p in body["participants"]})).decode(), int(body["evidence"]), starts,
             ends, regulator.account, now),
        )  # fmt: skip
        token = services.state.create_token(
            key_name=TOKEN_KEY.format(id=grant_id), account=auditor, label=f"audit grant {grant_id}"
        )
    return {**shown(services, grant_of(services, grant_id)), "token": token}


def grant_of(services: Services, grant_id: int) -> Grant:
    rows = services.state.rows("SELECT * FROM audit_grant WHERE id = ?", (grant_id,))
    if not rows:
        raise not_found(f"audit grant {grant_id}")
    return _grant(rows[0])


def grants(services: Services) -> list[dict[str, Any]]:
    return [shown(services, _grant(r)) for r in services.state.rows("SELECT * FROM audit_grant ORDER BY id DESC")]


def revoke_grant(services: Services, regulator: Caller, grant_id: int) -> dict[str, Any]:
    grant_of(services, grant_id)
    with services.state.transaction():
        services.state.execute(
            "UPDATE audit_grant SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
            (int(time.time()), regulator.account, grant_id),
        )
        services.state.revoke_tokens(key_name=TOKEN_KEY.format(id=grant_id))
    return shown(services, grant_of(services, grant_id))


def grant_queries(services: Services, grant_id: int, limit: int) -> list[dict[str, Any]]:
    grant_of(services, grant_id)
    rows = services.state.rows(
        "SELECT id, auditor, endpoint, params, outcome, at FROM audit_query WHERE grant_id = ? ORDER BY id DESC"
        " LIMIT ?",
        (grant_id, limit),
    )
    return [{**row, "params": orjson.loads(row["params"])} for row in rows]


class AuditSession:
    """One auditor request: the caller's live grant, and the log entry its outcome goes into."""

    def __init__(self, services: Services, caller: Caller, endpoint: str, params: dict[str, Any]) -> None:
        self.services = services
        self.caller = caller
        self.endpoint = endpoint
        self.params = params
        key = caller.owner.key_name
        grant_id = int(key.removeprefix("auditor-")) if key.startswith("auditor-") else None
        self.grant = grant_of(services, grant_id) if grant_id is not None else None
        if self.grant is None:
            self.log("refused: not an auditor's token")
            raise Forbidden("not_an_auditor", "this endpoint is for auditors, with the token their grant came with")
        if not self.grant.live(int(time.time())):
            self.log("refused: grant not live")
            raise Forbidden("audit_grant_not_live", f"audit grant {self.grant.id} is not live now (its period is"
                            " over, not begun, or it was revoked)")  # fmt: skip

    def log(self, outcome: str) -> None:
        self.services.state.execute(
            "INSERT INTO audit_query (grant_id, auditor, endpoint, params, outcome, at) VALUES (?,?,?,?,?,?)",
            (self.grant.id if self.grant else None, self.caller.account, self.endpoint,
             orjson.dumps(self.params, default=str).decode(), outcome, int(time.time())),
        )  # fmt: skip

    def require(self, allowed: bool, what: str) -> None:
        if not allowed:
            self.log(f"refused: {what} outside the scope")
            raise Forbidden("outside_audit_scope", f"{what} is outside the scope of this audit grant")
