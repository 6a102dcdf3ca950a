"""Computations of monitoring data (SL-GS-001), and the alerts a report raises off chain."""

import time
from typing import Any

import orjson

from node.store.base import StoreBase


class Accounting(StoreBase):
    def save_accounting(
        self,
        *,
        evidence_root: str,
        project_id: int,
        creditable_grams: int,
        input_hash: str,
        result: dict[str, Any],
        period_end: str,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO accounting (evidence_root, project_id, creditable_grams, input_hash, result,"
                " created_at, period_end) VALUES (?,?,?,?,?,?,?) ON CONFLICT (evidence_root) DO UPDATE SET"
                " project_id = excluded.project_id, creditable_grams = excluded.creditable_grams,"
                " input_hash = excluded.input_hash, result = excluded.result, created_at = excluded.created_at,"
                " period_end = excluded.period_end",
                (
                    evidence_root,
                    project_id,
                    creditable_grams,
                    input_hash,
                    orjson.dumps(result).decode(),
                    int(time.time()),
                    period_end,
                ),
            )

    def previous_accounting(self, project_id: int, period_end: str) -> dict[str, Any] | None:
        """The project's computation for the latest period that ended before `period_end` (ISO dates)."""
        with self.reading() as db:
            row = db.execute(
                "SELECT evidence_root, project_id, creditable_grams, input_hash, result, created_at FROM accounting"
                " WHERE project_id = ? AND period_end < ? AND period_end != '' ORDER BY period_end DESC, created_at"
                " DESC LIMIT 1",
                (project_id, period_end),
            ).fetchone()
        return None if row is None else self._accounting_row(row)

    def save_report_alert(self, row: tuple[Any, ...]) -> bool:
        """An alert in ALERT_COLUMNS order; False if one with its key exists already."""
        with self.transaction() as db:
            marks = ",".join("?" * len(row))
            cursor = db.execute(f"INSERT INTO report_alert VALUES ({marks}) ON CONFLICT DO NOTHING", row)
        return cursor.rowcount == 1

    def accounting(self, evidence_root: str) -> dict[str, Any] | None:
        with self.reading() as db:
            row = db.execute(
                "SELECT evidence_root, project_id, creditable_grams, input_hash, result, created_at FROM accounting"
                " WHERE evidence_root = ?",
                (evidence_root.lower(),),
            ).fetchone()
        return None if row is None else self._accounting_row(row)

    def project_accounting(self, project_id: int) -> list[dict[str, Any]]:
        with self.reading() as db:
            rows = db.execute(
                "SELECT evidence_root, project_id, creditable_grams, input_hash, result, created_at FROM accounting"
                " WHERE project_id = ? ORDER BY created_at",
                (project_id,),
            ).fetchall()
        return [self._accounting_row(r) for r in rows]

    @staticmethod
    def _accounting_row(row: tuple[Any, ...]) -> dict[str, Any]:
        names = ("evidence_root", "project_id", "creditable_grams", "input_hash", "result", "created_at")
        record = dict(zip(names, row, strict=True))
        record["result"] = orjson.loads(record["result"])
        return record
