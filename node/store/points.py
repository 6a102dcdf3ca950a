"""Carbon points (碳普惠) credited for indexed retirements."""

import time
from typing import Any

import orjson

from node.store.base import StoreBase


class Points(StoreBase):
    def award_points(self, rows: list[tuple[str, int, int, str, list[int]]]) -> None:
        """Credits (holder, points, grams, source, retirement ids) in one transaction."""
        now = int(time.time())
        encoded: dict[tuple[int, ...], str] = {}  # a campaign's 100,000 rows share one list of ids
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO carbon_points (holder, points, grams, source, retirement_ids, at) VALUES (?,?,?,?,?,?)",
                [
                    (
                        h,
                        p,
                        g,
                        src,
                        encoded.get(tuple(ids)) or encoded.setdefault(tuple(ids), orjson.dumps(ids).decode()),
                        now,
                    )
                    for h, p, g, src, ids in rows
                ],
            )

    def points(self, holder: str, *, limit: int = 100) -> dict[str, Any]:
        with self.reading() as db:
            total = db.execute(
                "SELECT COALESCE(SUM(points), 0), COALESCE(SUM(grams), 0) FROM carbon_points WHERE holder = ?",
                (holder,),
            ).fetchone()
            rows = db.execute(
                "SELECT points, grams, source, retirement_ids, at FROM carbon_points WHERE holder = ? ORDER BY id DESC"
                " LIMIT ?",
                (holder, limit),
            ).fetchall()
        entries = [
            {"points": p, "grams": g, "source": src, "retirement_ids": orjson.loads(ids), "at": at}
            for p, g, src, ids, at in rows
        ]
        return {"holder": holder, "points": total[0], "grams": total[1], "entries": entries}
