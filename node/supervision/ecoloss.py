"""Ecological loss judged when a monitoring report arrives (生态损失): a report whose tree carbon stock at the
end of its period is below the previous period's (dead or removed trees, fire) raises an alert at once.

A period with such a loss computes no positive net sink, so it never becomes a batch, and the indexed rule
(node.risk.engine, which judges at issuance) would never see it. This alert lives in the node's state, not
in the index (it comes from no chain event), under the key the indexed rule gives the same report: one
report, one finding, whichever saw it first. The regulator lists, opens and handles it with the others.
"""

import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from node.risk.config import load_rules
from node.risk.engine import alert_key, loss_explanation, report_identity
from node.services import Services
from node.supervision.facts import tree_stock_grams

RULE = "ecological_loss"


@lru_cache(maxsize=8)
def _rule(path: Path | None) -> dict[str, Any]:
    return load_rules(path)[RULE]


def judge_report(
    services: Services,
    reader: sqlite3.Connection,
    *,
    project_id: int,
    owner: str,
    evidence_root: str,
    period_end: str,
    result: dict[str, Any],
) -> dict[str, Any] | None:
    """The alert a new monitoring report raises, if it shows a loss (also stored); None if it shows none."""
    if not services.settings.risk_enabled:
        return None
    rule = _rule(services.settings.risk_rules)
    start, end = tree_stock_grams(result)
    previous = services.state.previous_accounting(project_id, period_end)
    reference = tree_stock_grams(previous["result"])[1] if previous is not None else start
    loss = reference - end
    if loss < rule["min_loss_grams"]:
        return None
    latest = reader.execute("SELECT MAX(id) FROM batch WHERE project_id = ?", (project_id,)).fetchone()[0]
    zh, en = loss_explanation(project_id, loss)
    evidence = {"evidence_root": evidence_root, "previous_evidence_root": previous and previous["evidence_root"]}
    details = {
        "project_id": project_id, "loss_grams": loss, "previous_stock_grams": reference, "stock_grams": end,
        "evidence_root": evidence_root, "period_end": period_end,
        # The project's latest batch carries a buffer share to reverse from; none yet means none to propose.
        "proposed_reversal": {"batch_id": latest, "amount": loss, "loss_project_id": project_id} if latest else None,
    }  # fmt: skip
    row = (
        alert_key(RULE, report_identity(evidence_root)), RULE, rule["severity"], None, None, None, int(time.time()),
        orjson.dumps([owner.lower()]).decode(), orjson.dumps([evidence]).decode(), "[]", zh, en,
        orjson.dumps(details).decode(),
    )  # fmt: skip
    services.state.save_report_alert(row)
    return {"key": row[0], "rule": RULE, "loss_grams": loss}
