"""Re-running the risk rules, as the configuration file says now, over a block range of the index:
every stored event is replayed through a fresh engine (so windows and holdings are as they were) and the
alerts raised inside the range are returned beside those the index holds, for tuning rules."""

import sqlite3
from typing import Any

import orjson

from node.risk.config import load_rules
from node.risk.engine import ALERT_COLUMNS, RiskEngine
from node.services import Services
from node.supervision.facts import NodeFacts


def rerun_rules(services: Services, reader: sqlite3.Connection, from_block: int, to_block: int) -> dict[str, Any]:
    facts = NodeFacts(services.state, services.sealer, services.settings.organisation)
    engine = RiskEngine(facts, load_rules(services.settings.risk_rules))
    raised: list[dict[str, Any]] = []
    rows = reader.execute(
        "SELECT name, args, block_number, log_index, tx_hash, block_time FROM chain_event WHERE block_number <= ?"
        " ORDER BY block_number, log_index",
        (to_block,),
    )
    for name, args, block, log, tx, when in rows:
        engine.observe(name, orjson.loads(args), block, log, tx, when)
        alerts, _ = engine.take()
        if block >= from_block:
            raised += [dict(zip(ALERT_COLUMNS, alert, strict=True)) for alert in alerts]
    for alert in raised:
        for column in ("participants", "evidence", "deals", "details"):
            alert[column] = orjson.loads(alert[column])
    stored = {
        row[0]
        for row in reader.execute("SELECT key FROM alert WHERE block_number BETWEEN ? AND ?", (from_block, to_block))
    }
    keys = {a["key"] for a in raised}
    by_rule: dict[str, int] = {}
    for alert in raised:
        by_rule[alert["rule"]] = by_rule.get(alert["rule"], 0) + 1
    return {
        "from_block": from_block,
        "to_block": to_block,
        "alerts": raised,
        "by_rule": by_rule,
        "new": sorted(keys - stored),
        "gone": sorted(stored - keys),
    }
