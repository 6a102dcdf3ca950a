"""Needs a buyer saves, and the node noticing each new listing that fits one.

A saved need is discovery's query kept in the store. The node checks every saved need on a schedule
(`SINKNODE_NEED_CHECK_S`) against the listings held in memory (node.market.listing_columns) and records each
listing that fits it and was listed after the need was saved: once per need and listing (the table's key), so
several workers checking at once record it once. A listing listed then but not open yet (its window not begun,
its project not yet approved) is noticed when it opens. Nothing is matched or sent to the seller: the
buyer reads its notices and decides.
"""

import json
import logging
import threading
import time
from dataclasses import asdict
from typing import Any

from node.actors import Caller
from node.errors import Conflict, Forbidden, not_found
from node.market.discovery import listing_summary
from node.market.listing_columns import listing_columns
from node.services import Services
from registry.discovery import Need

log = logging.getLogger(__name__)

SAVED_PER_ACCOUNT = 50  # live saved needs an account may keep: each is checked on every pass
NOTICES_SHOWN = 200  # the newest notices shown with a need


def _need_text(need: Need) -> str:
    return json.dumps(asdict(need), sort_keys=True, separators=(",", ":"))


def _need_of(text: str) -> Need:
    fields = json.loads(text)
    return Need(**{**fields, "regions": tuple(fields["regions"]), "kinds": tuple(fields["kinds"])})


def save_need(services: Services, caller: Caller, label: str, need: Need) -> dict[str, Any]:
    """Keeps the need for the caller; listings listed from now on are new to it."""
    with services.state.transaction() as db:
        live = db.execute(
            "SELECT COUNT(*) FROM saved_need WHERE owner = ? AND dropped_at IS NULL", (caller.account,)
        ).fetchone()[0]
        if live >= SAVED_PER_ACCOUNT:
            raise Conflict("too_many_saved_needs", f"an account keeps at most {SAVED_PER_ACCOUNT} saved needs;"
                                                   " drop one first")  # fmt: skip
        after = db.execute("SELECT COALESCE(MAX(id), 0) FROM listing").fetchone()[0]
        need_id = db.execute(
            "INSERT INTO saved_need (owner, label, need, after_listing, created_at) VALUES (?,?,?,?,?) RETURNING id",
            (caller.account, label, _need_text(need), after, int(time.time())),
        ).fetchone()[0]
    return saved_need(services, caller, int(need_id))


def _owned(services: Services, caller: Caller, need_id: int) -> dict[str, Any]:
    rows = services.state.rows("SELECT * FROM saved_need WHERE id = ? AND dropped_at IS NULL", (need_id,))
    if not rows:
        raise not_found(f"saved need {need_id}")
    if rows[0]["owner"] != caller.account:
        raise Forbidden("forbidden", "a saved need is read and dropped only by the account that saved it")
    return rows[0]


def _shown(services: Services, row: dict[str, Any]) -> dict[str, Any]:
    need = _need_of(row["need"])
    notices = services.state.rows(
        "SELECT n.listing_id, n.noticed_at, l.* FROM need_notice n JOIN listing l ON l.id = n.listing_id"
        " WHERE n.need_id = ? ORDER BY n.listing_id DESC LIMIT ?",
        (row["id"], NOTICES_SHOWN),
    )
    count = services.state.rows("SELECT COUNT(*) AS n FROM need_notice WHERE need_id = ?", (row["id"],))[0]["n"]
    base = services.settings.base_url
    columns = listing_columns(services.state, listing_review=services.settings.listing_review)
    return {
        "id": row["id"],
        "label": row["label"],
        "need": {**asdict(need), "regions": list(need.regions), "kinds": list(need.kinds)},
        "saved_at": row["created_at"],
        "new_listings": int(count),
        "notices": [
            {
                "listing_id": notice["listing_id"],
                "noticed_at": notice["noticed_at"],
                "listing": listing_summary({**notice, "available": columns.available_of(notice["listing_id"])}, base),
            }
            for notice in notices
        ],
    }


def saved_need(services: Services, caller: Caller, need_id: int) -> dict[str, Any]:
    return _shown(services, _owned(services, caller, need_id))


def saved_needs(services: Services, caller: Caller) -> list[dict[str, Any]]:
    rows = services.state.rows(
        "SELECT * FROM saved_need WHERE owner = ? AND dropped_at IS NULL ORDER BY id", (caller.account,)
    )
    return [_shown(services, row) for row in rows]


def drop_need(services: Services, caller: Caller, need_id: int) -> None:
    _owned(services, caller, need_id)
    services.state.execute("UPDATE saved_need SET dropped_at = ? WHERE id = ?", (int(time.time()), need_id))


def check_saved_needs(services: Services, now: int | None = None) -> int:
    """Records each listing that now fits a live saved need and was listed after it was saved; returns how many
    notices this pass added."""
    now = int(time.time()) if now is None else now
    needs = services.state.rows("SELECT id, need, after_listing FROM saved_need WHERE dropped_at IS NULL")
    if not needs:
        return 0
    columns = listing_columns(services.state, listing_review=services.settings.listing_review)
    reader = services.reader()
    try:
        inactive = [int(r[0]) for r in reader.execute("SELECT id FROM batch WHERE status != 0")]
        frozen = [r[0] for r in reader.execute("SELECT address FROM participant WHERE frozen = 1")]
    finally:
        reader.close()
    found: list[tuple[int, int, int]] = []
    for row in needs:
        need = _need_of(row["need"])
        fitting = columns.fitting(need, now, inactive, frozen)
        new = fitting[columns.id[fitting] > row["after_listing"]]
        found += [(row["id"], int(columns.id[position]), now) for position in new]
    if not found:
        return 0
    with services.state.transaction() as db:  # one writer at a time: the count before and after is this pass's
        before = db.execute("SELECT COUNT(*) FROM need_notice").fetchone()[0]
        db.executemany(
            "INSERT INTO need_notice (need_id, listing_id, noticed_at) VALUES (?,?,?)"
            " ON CONFLICT (need_id, listing_id) DO NOTHING",
            found,
        )
        return int(db.execute("SELECT COUNT(*) FROM need_notice").fetchone()[0]) - int(before)


def watch_saved_needs(services: Services, stop: threading.Event) -> None:
    """Checks the saved needs every `need_check_s` until `stop` is set; a failed pass is logged and retried."""
    while not stop.wait(services.settings.need_check_s):
        try:
            added = check_saved_needs(services)
            if added:
                log.info("saved needs: %d new listings noticed", added)
        except Exception:  # the next pass tries again; the API keeps serving
            log.exception("checking saved needs failed")
