"""The regulator's side of supervision: alerts and what was done about them, measures recorded in one
history per participant, pre-listing review of projects, and the periodic supervision report.

Alerts are raised by the risk rules inside the indexer (node.risk) and live in the index; the few the node
raises itself when data arrives off chain (an ecological loss in a monitoring report, node.supervision.ecoloss)
live in its state with the same columns, and the two are listed as one. The regulator's handling of them
(acknowledge, escalate, close, false positive) lives in the node's state, keyed by the alert's stable key,
so a re-index that raises the same alerts keeps their handling.
"""

import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from node.actors import Caller
from node.chain.sender import Receipt
from node.errors import Conflict, InvalidRequest, not_found
from node.market.prices import price_summary
from node.services import Services
from node.store.dialect import in_list
from node.writes.ledger import tx_answer
from node.writes.runner import kind

ACTIONS = {
    "acknowledge": "acknowledged",
    "escalate": "escalated",
    "close": "closed",
    "confirm": "confirmed",  # closed, the finding confirmed: it counts against the participants' credit
    "false_positive": "false_positive",
}
CLOSED = ("closed", "confirmed", "false_positive")
OFF_CHAIN_MEASURES = ("report_request", "interview", "written_warning")


def alert_status(services: Services) -> dict[str, str]:
    """The latest handling of every alert that was handled: key -> status."""
    rows = services.state.rows(
        "SELECT a.alert_key, a.status FROM alert_action a WHERE a.id = (SELECT MAX(id) FROM alert_action"
        " WHERE alert_key = a.alert_key)"
    )
    return {r["alert_key"]: r["status"] for r in rows}


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for column in ("participants", "evidence", "deals", "details"):
        row[column] = orjson.loads(row[column])
    return row


def list_alerts(
    services: Services,
    reader: sqlite3.Connection,
    *,
    rule: str | None,
    severity: str | None,
    status: str | None,
    participant: str | None,
    since: int | None,
    until: int | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    clauses, params = ["1 = 1"], []
    for column, value in (("rule", rule), ("severity", severity)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if participant:
        clauses.append("participants LIKE ?")
        params.append(f'%"{participant.lower()}"%')
    if since is not None:
        clauses.append("block_time >= ?")
        params.append(since)
    if until is not None:
        clauses.append("block_time < ?")
        params.append(until)
    handled = alert_status(services)
    if status and status != "open":
        keys = [k for k, s in handled.items() if s == status]
        clauses.append(in_list("key", len(keys)))
        params.extend(keys)
    elif status == "open":
        clauses.append(in_list("key", len(handled), negated=True))
        params.extend(handled)
    where = " AND ".join(clauses)
    cursor = reader.execute(
        f"SELECT * FROM alert WHERE {where} ORDER BY block_number DESC, log_index DESC, key LIMIT ?",
        (*params, offset + limit),
    )
    names = [d[0] for d in cursor.description]
    rows = [_decoded(dict(zip(names, r, strict=True))) for r in cursor.fetchall()]
    reported = _unindexed(reader, services.state.rows(f"SELECT * FROM report_alert WHERE {where}", tuple(params)))
    if reported:
        rows += [_decoded(row) for row in reported]
        # Newest first, as the index orders its own: by time, block and log (none for a report), then key.
        rows.sort(key=lambda row: row["key"])
        rows.sort(key=_newest, reverse=True)
    rows = rows[offset : offset + limit]
    for row in rows:
        row["status"] = handled.get(row["key"], "open")
    return rows


def _newest(row: dict[str, Any]) -> tuple[int, int, int]:
    """Time, block and log of an alert, to sort by; a report's alert has none of the last two (-1)."""
    block, log = row["block_number"], row["log_index"]
    return row["block_time"], -1 if block is None else block, -1 if log is None else log


def _unindexed(reader: sqlite3.Connection, reported: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The node's own alerts whose finding the index has not raised too (the index's row is then the one)."""
    if not reported:
        return []
    keys = [row["key"] for row in reported]
    indexed = {k for (k,) in reader.execute(f"SELECT key FROM alert WHERE key IN ({','.join('?' * len(keys))})", keys)}
    return [row for row in reported if row["key"] not in indexed]


def alert_detail(services: Services, reader: sqlite3.Connection, key: str) -> dict[str, Any]:
    cursor = reader.execute("SELECT * FROM alert WHERE key = ?", (key,))
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    found = dict(zip(names, row, strict=True)) if row is not None else None
    if found is None:
        reported = services.state.rows("SELECT * FROM report_alert WHERE key = ?", (key,))
        found = reported[0] if reported else None
    if found is None:
        raise not_found(f"alert {key}")
    alert = _decoded(found)
    base = services.settings.base_url
    roots = [
        ref[name] for ref in alert["evidence"] for name in ("evidence_root", "previous_evidence_root") if ref.get(name)
    ]
    if alert["details"].get("evidence_root") and alert["details"]["evidence_root"] not in roots:
        roots.append(alert["details"]["evidence_root"])
    alert["links"] = {
        "events": [
            {
                **ref,
                "provenance": f"{base}/v1/batches/{ref['batch']}/provenance",
                "page": f"{base}/batches/{ref['batch']}",
            }
            for ref in alert["evidence"]
            if "batch" in ref
        ],
        "evidence": [f"{base}/v1/evidence/{root}" for root in roots],
        "deals": [f"{base}/v1/deals/{deal}" for deal in alert["deals"]],
        "participants": [f"{base}/v1/regulator/participants/{p}/measures" for p in alert["participants"]],
    }
    alert["actions"] = services.state.rows(
        "SELECT action, status, note, actor, at FROM alert_action WHERE alert_key = ? ORDER BY id", (key,)
    )
    alert["status"] = alert["actions"][-1]["status"] if alert["actions"] else "open"
    return alert


def act_on_alert(
    services: Services, reader: sqlite3.Connection, caller: Caller, key: str, action: str, note: str
) -> dict[str, Any]:
    alert = alert_detail(services, reader, key)
    if alert["status"] in CLOSED:
        raise Conflict("alert_closed", f"alert {key} is {alert['status']}")
    services.state.execute(
        "INSERT INTO alert_action (alert_key, rule, action, status, note, actor, at) VALUES (?,?,?,?,?,?,?)",
        (key, alert["rule"], action, ACTIONS[action], note, caller.account, int(time.time())),
    )
    services.state.log_query(
        account=caller.account, endpoint="alert_action", params={"alert": key, "action": action, "note": note},
        outcome=ACTIONS[action],
    )  # fmt: skip
    return alert_detail(services, reader, key)


def record_measure(
    services: Services,
    caller: Caller,
    participant: str,
    kind: str,
    reason: str,
    *,
    tx_hash: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    measure_id = services.state.insert(
        "INSERT INTO measure (participant, kind, reason, actor, at, tx_hash, details) VALUES (?,?,?,?,?,?,?)",
        (participant, kind, reason, caller.account, int(time.time()), tx_hash, orjson.dumps(details or {}).decode()),
    )
    services.state.log_query(
        account=caller.account, endpoint="measure", params={"participant": participant, "kind": kind, "reason": reason},
        outcome=f"measure {measure_id}" + (f", tx {tx_hash}" if tx_hash else ""),
    )  # fmt: skip
    return measures_of(services, participant)[-1]


def chain_measure(
    services: Services,
    caller: Caller,
    *,
    method: str,
    args: tuple[Any, ...],
    participant: str,
    kind: str,
    reason: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    """A measure taken through the ledger (freeze, revoke, reversal ...) as an intent: the measure is
    recorded in the participant's history, with its transaction, once the transaction is mined and
    indexed, in the transaction that settles the intent. Answers the transaction."""
    intent_id = services.writes.begin(
        kind="measure",
        actor=caller.account,
        key_name=caller.owner.key_name,
        request={"participant": participant, "kind": kind, "reason": reason, "details": details},
    )
    sender = services.sender_for(caller.owner)
    _, answer = services.writes.run(intent_id, lambda: services.registry.send(sender, method, *args))
    return answer


@kind("measure")
def _measure_taken(services: Services, intent: dict[str, Any], receipt: Receipt, db: Any) -> dict[str, Any]:
    request = intent["request"]
    measure_id = db.execute(
        "INSERT INTO measure (participant, kind, reason, actor, at, tx_hash, details) VALUES (?,?,?,?,?,?,?)"
        " RETURNING id",
        (request["participant"], request["kind"], request["reason"], intent["actor"], int(time.time()),
         receipt.tx_hash, orjson.dumps(request["details"]).decode()),
    ).fetchone()[0]  # fmt: skip
    services.state.log_query(
        account=intent["actor"], endpoint="measure",
        params={"participant": request["participant"], "kind": request["kind"], "reason": request["reason"]},
        outcome=f"measure {measure_id}, tx {receipt.tx_hash}",
    )  # fmt: skip
    return tx_answer(receipt, measure_id=measure_id)


def measures_of(services: Services, participant: str) -> list[dict[str, Any]]:
    rows = services.state.rows(
        "SELECT id, participant, kind, reason, actor, at, tx_hash, details FROM measure WHERE participant = ?"
        " ORDER BY id",
        (participant,),
    )
    for row in rows:
        row["details"] = orjson.loads(row["details"])
    return rows


# pre-listing review ------------------------------------------------------------------------------
def review_project(services: Services, caller: Caller, project_id: int, decision: str, reason: str) -> dict[str, Any]:
    services.state.execute(
        "INSERT INTO project_review (project_id, decision, reason, actor, at) VALUES (?,?,?,?,?)",
        (project_id, decision, reason, caller.account, int(time.time())),
    )
    services.state.log_query(
        account=caller.account, endpoint="project_review",
        params={"project_id": project_id, "decision": decision, "reason": reason}, outcome=decision,
    )  # fmt: skip
    return project_review(services, project_id)


def project_review(services: Services, project_id: int) -> dict[str, Any]:
    history = services.state.rows(
        "SELECT decision, reason, actor, at FROM project_review WHERE project_id = ? ORDER BY id", (project_id,)
    )
    state = history[-1]["decision"] if history else ("pending" if services.settings.listing_review else "approved")
    return {"project_id": project_id, "state": state, "history": history}


APPROVED_PROJECTS = (
    "SELECT r.project_id FROM project_review r WHERE r.decision = 'approved'"
    " AND r.id = (SELECT MAX(id) FROM project_review WHERE project_id = r.project_id)"
)


# the periodic review -----------------------------------------------------------------------------
def report_bounds(since: str, until: str, timezone: str) -> tuple[int, int]:
    """The seconds from the start of `since` to the end of `until`, days of the aggregates' calendar (the
    daily statistics' days), so that every figure of a report covers the same days."""
    zone = ZoneInfo(timezone)
    try:
        start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=zone)
        end = datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=zone) + timedelta(days=1)
    except ValueError:
        raise InvalidRequest("validation_error", "since, until: real calendar dates, YYYY-MM-DD") from None
    if end <= start:
        raise InvalidRequest("validation_error", "until: on or after since")
    return int(start.timestamp()), int(end.timestamp())


def supervision_report(services: Services, reader: sqlite3.Connection, since: str, until: str) -> dict[str, Any]:
    """Volumes, prices, alerts by rule and outcome, measures and the reconciliation, for a date range."""
    from node.projects.plausibility import flagged_verifications
    from node.supervision.reconcile import reconcile

    start, end = report_bounds(since, until, services.settings.aggregate_timezone)
    days = reader.execute(
        "SELECT day, SUM(issued), SUM(transferred), SUM(transfers), SUM(retired), SUM(retirements)"
        " FROM daily_project_stats WHERE day >= ? AND day <= ? GROUP BY day ORDER BY day",
        (since, until),
    ).fetchall()
    volumes = [
        {"day": d, "issued": i, "transferred": t, "transfers": tn, "retired": r, "retirements": rn}
        for d, i, t, tn, r, rn in days
    ]
    prices = _deal_prices(services, start, end)
    handled = alert_status(services)
    alerts: dict[str, dict[str, int]] = {}
    indexed = reader.execute("SELECT key, rule FROM alert WHERE block_time >= ? AND block_time < ?", (start, end))
    reported = services.state.rows(
        "SELECT key, rule FROM report_alert WHERE block_time >= ? AND block_time < ?", (start, end)
    )
    for key, rule in [*indexed.fetchall(), *[(r["key"], r["rule"]) for r in _unindexed(reader, reported)]]:
        outcome = handled.get(key, "open")
        counts = alerts.setdefault(rule, {"total": 0})
        counts["total"] += 1
        counts[outcome] = counts.get(outcome, 0) + 1
    unreferenced = reader.execute(
        "SELECT COUNT(*) FROM risk_note n JOIN chain_event e ON e.block_number = n.block_number"
        " AND e.log_index = n.log_index WHERE n.rule = 'price_band' AND e.block_time >= ? AND e.block_time < ?",
        (start, end),
    ).fetchone()[0]
    measures = services.state.rows(
        "SELECT kind, COUNT(*) AS n FROM measure WHERE at >= ? AND at < ? GROUP BY kind ORDER BY kind", (start, end)
    )
    report = reconcile(services, reader)
    return {
        "since": since,
        "until": until,
        "volumes": volumes,
        "totals": {
            "issued": sum(v["issued"] for v in volumes),
            "transferred": sum(v["transferred"] for v in volumes),
            "retired": sum(v["retired"] for v in volumes),
        },
        "prices": {**prices, "deals_without_reference_price": unreferenced},
        "alerts": [{"rule": rule, **counts} for rule, counts in sorted(alerts.items())],
        "measures": {m["kind"]: m["n"] for m in measures},
        "reconciliation": {"checks": report["checks"], "differences": len(report["differences"])},
        # Statements over reports with plausibility flags: whose flags a verifier acknowledged in the range.
        "flagged_verifications": flagged_verifications(services, reader, start, end),
    }


def _deal_prices(services: Services, start: int, end: int) -> dict[str, Any]:
    rows = services.state.rows(
        "SELECT d.id, d.price_fen_per_tonne FROM deal d WHERE d.state = 'delivered' AND EXISTS (SELECT 1 FROM"
        " deal_step s WHERE s.deal_id = d.id AND s.state = 'delivered' AND s.at >= ? AND s.at < ?)",
        (start, end),
    )
    prices = [int(services.sealer.open(r["price_fen_per_tonne"], f"deal.price:{r['id']}")) for r in rows]
    return price_summary(prices) if prices else {"deals": 0}
