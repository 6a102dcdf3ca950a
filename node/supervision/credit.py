"""Credit ratings of participants (信用评价), from the index and the node's records.

A score is 80 points plus the points of every fact recorded about the participant, kept within 0..100 and
graded A (90 and up), B (75), C (60), D (below). The facts, their points and who may see them:

| fact | points | shown to |
|---|---:|---|
| a deal delivered by its agreed date (seller) | +2 | everyone |
| a deal delivered late, or not delivered when its date passed (seller) | -10 | everyone |
| a dispute decided against the party | -15 | everyone |
| a batch of the participant's revoked on the ledger | -25 | everyone |
| a deposit drawn for a compensation case (seller) | -10 | everyone |
| a measure carried out on the ledger (freeze, blacklist, batch measures) | -20 | everyone |
| a measure recorded only (report request, interview, written warning) | -5 | regulators |
| a risk alert naming the participant, closed as confirmed | -10 | regulators |

Everyone sees the public score, computed from the public facts alone, with those facts; regulators see the
full score from every fact, and its history. Facts are derived from the records (`derive_facts`); a
scheduled pass (`record_new_facts`) records each new one once (its key: participant, kind, what it is about)
and moves the kept score by its points in the same transaction. Recomputing from every fact gives the kept
score, and since the facts come from the node's records and the chain (a re-index rebuilds the same
revocations), a re-index changes nothing.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from node.services import Services

log = logging.getLogger(__name__)

BASE = 80
POINTS = {
    "delivered_on_time": (2, True),
    "delivered_late": (-10, True),
    "dispute_lost": (-15, True),
    "batch_revoked": (-25, True),
    "deposit_drawn": (-10, True),
    "ledger_measure": (-20, True),
    "recorded_measure": (-5, False),
    "alert_confirmed": (-10, False),
}
LEDGER_MEASURES = ("freeze_account", "freeze_batch", "revoke_batch", "buffer_reversal", "blacklist")
RECORDED_MEASURES = ("report_request", "interview", "written_warning")


@dataclass(frozen=True)
class Fact:
    account: str
    kind: str
    ref: str
    at: int

    @property
    def points(self) -> int:
        return POINTS[self.kind][0]

    @property
    def public(self) -> bool:
        return POINTS[self.kind][1]


def score_of(points: int) -> int:
    return max(0, min(100, BASE + points))


def grade_of(score: int) -> str:
    return "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D"


def derive_facts(services: Services, reader: Any, now: int) -> list[Fact]:
    """Every fact the records hold now, from scratch."""
    facts: list[Fact] = []
    ended: dict[tuple[int, str], int] = {
        (r["deal_id"], r["state"]): r["at"]
        for r in services.state.rows(
            "SELECT deal_id, state, MIN(at) AS at FROM deal_step WHERE state IN ('delivered', 'cancelled')"
            " GROUP BY deal_id, state"
        )
    }
    for deal in services.state.rows("SELECT id, seller, deliver_by FROM deal WHERE deliver_by IS NOT NULL"):
        delivered, cancelled = ended.get((deal["id"], "delivered")), ended.get((deal["id"], "cancelled"))
        due = deal["deliver_by"]
        if delivered is not None and delivered <= due:
            facts.append(Fact(deal["seller"], "delivered_on_time", f"deal:{deal['id']}", delivered))
        elif delivered is not None or (cancelled if cancelled is not None else now) > due:
            # Still undelivered when its date passed: late, whatever happens to it after (so the fact stays).
            facts.append(Fact(deal["seller"], "delivered_late", f"deal:{deal['id']}", due))
    for decision in services.state.rows("SELECT id, deal_id, against, at FROM dispute_decision WHERE against != ''"):
        facts.append(Fact(decision["against"], "dispute_lost", f"decision:{decision['id']}", decision["at"]))
    owners = {int(r[0]): r[1] for r in reader.execute("SELECT id, owner FROM batch WHERE status = 2")}
    if owners:
        for row in reader.execute(
            "SELECT batch_id, block_time, args FROM chain_event WHERE name = 'BatchStatusChanged'"
        ):
            if int(row[0]) in owners and int(orjson.loads(row[2])["status"]) == 2:
                facts.append(Fact(owners[int(row[0])], "batch_revoked", f"batch:{row[0]}", int(row[1])))
    for case in services.state.rows(
        "SELECT id, seller, resolved_at FROM compensation_case WHERE state = 'compensated' AND amount_fen > 0"
    ):
        facts.append(Fact(case["seller"], "deposit_drawn", f"case:{case['id']}", case["resolved_at"]))
    for measure in services.state.rows("SELECT id, participant, kind, at FROM measure"):
        kind = "ledger_measure" if measure["kind"] in LEDGER_MEASURES else (
            "recorded_measure" if measure["kind"] in RECORDED_MEASURES else None)  # fmt: skip
        if kind:
            facts.append(Fact(measure["participant"], kind, f"measure:{measure['id']}", measure["at"]))
    confirmed = services.state.rows("SELECT alert_key, MIN(at) AS at FROM alert_action WHERE status = 'confirmed'"
                                    " GROUP BY alert_key")  # fmt: skip
    for action in confirmed:
        row = reader.execute("SELECT participants FROM alert WHERE key = ?", (action["alert_key"],)).fetchone()
        for account in orjson.loads(row[0]) if row else []:
            facts.append(Fact(account, "alert_confirmed", f"alert:{action['alert_key']}", action["at"]))
    # One fact per key; a deal found late before it was delivered stays the one late fact.
    unique = {(f.account.lower(), f.kind, f.ref): f for f in facts}
    return [Fact(account, kind, ref, f.at) for (account, kind, ref), f in sorted(unique.items())]


def record_new_facts(services: Services, now: int | None = None) -> int:
    """Records the facts not recorded yet, each moving its participant's kept score; returns how many."""
    now = int(time.time()) if now is None else now
    reader = services.reader()
    try:
        facts = derive_facts(services, reader, now)
    finally:
        reader.close()
    known = {
        (r["account"], r["kind"], r["ref"]) for r in services.state.rows("SELECT account, kind, ref FROM credit_fact")
    }
    new = [f for f in facts if (f.account, f.kind, f.ref) not in known]
    if not new:
        return 0
    added = 0
    with services.state.transaction() as db:  # one writer: of two passes at once, each fact is recorded once
        for fact in new:
            inserted = db.execute(
                "INSERT INTO credit_fact (account, kind, ref, points, public, at, recorded_at) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT (account, kind, ref) DO NOTHING",
                (fact.account, fact.kind, fact.ref, fact.points, int(fact.public), fact.at, now),
            ).rowcount
            if inserted:
                added += 1
                db.execute(
                    "INSERT INTO credit_score (account, public_points, all_points, facts, updated_at)"
                    " VALUES (?, ?, ?, 1, ?) ON CONFLICT (account) DO UPDATE SET"
                    " public_points = credit_score.public_points + excluded.public_points,"
                    " all_points = credit_score.all_points + excluded.all_points, facts = credit_score.facts + 1,"
                    " updated_at = excluded.updated_at",
                    (fact.account, fact.points if fact.public else 0, fact.points, now),
                )
    return added


def credit_of(services: Services, account: str, *, regulator: bool) -> dict[str, Any]:
    """The kept score and its facts: the public ones for everyone; all, with the history, for regulators."""
    account = account.lower()
    kept = services.state.rows("SELECT * FROM credit_score WHERE account = ?", (account,))
    public_points = kept[0]["public_points"] if kept else 0
    all_points = kept[0]["all_points"] if kept else 0
    where = "account = ?" if regulator else "account = ? AND public = 1"
    facts = services.state.rows(
        f"SELECT kind, ref, points, public, at FROM credit_fact WHERE {where} ORDER BY at, kind, ref", (account,)
    )
    inputs: dict[str, int] = {}
    for fact in facts:
        inputs[fact["kind"]] = inputs.get(fact["kind"], 0) + 1
    answer: dict[str, Any] = {
        "account": account,
        "score": score_of(public_points),
        "grade": grade_of(score_of(public_points)),
        "inputs": inputs,
        "facts": [{**f, "public": bool(f["public"])} for f in facts[-200:]],
        "method": {"base": BASE, "points": {k: v[0] for k, v in POINTS.items() if regulator or v[1]}},
    }
    if regulator:
        running, history = 0, []
        for fact in facts:
            running += fact["points"]
            history.append({"at": fact["at"], "kind": fact["kind"], "ref": fact["ref"], "points": fact["points"],
                            "score": score_of(running)})  # fmt: skip
        answer["supervisory_score"] = score_of(all_points)
        answer["supervisory_grade"] = grade_of(score_of(all_points))
        answer["history"] = history
    return answer


def recomputed(services: Services, reader: Any, account: str, now: int) -> tuple[int, int]:
    """The (public, supervisory) score from every fact derived now, without the kept score."""
    facts = [f for f in derive_facts(services, reader, now) if f.account == account.lower()]
    return score_of(sum(f.points for f in facts if f.public)), score_of(sum(f.points for f in facts))


def watch_credit(services: Services, stop: threading.Event) -> None:
    """Records new facts every `credit_check_s` until `stop` is set; a failed pass is logged and retried."""
    while not stop.wait(services.settings.credit_check_s):
        try:
            record_new_facts(services)
        except Exception:  # the next pass tries again; the API keeps serving
            log.exception("recording credit facts failed")
