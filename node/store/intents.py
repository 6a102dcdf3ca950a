"""Intents: every write recorded before its effect, with its reservation, its state and its answer.

An intent is created inside the transaction that reserves what the write consumes (node.writes), so a
reservation never exists without its intent nor an intent without its reservation. Its answer (status
and body) is stored when it settles, and a retry or `GET /v1/intents/{id}` reads it from here.
"""

import time
from typing import Any

import orjson

from node.store.base import StoreBase

LIVE = ("reserved", "sent")
_COLUMNS = "id, kind, actor, key_name, subject, request, state, status, answer, idem_scope, idem_key, created_at," \
    " updated_at, worker"  # fmt: skip


class Intents(StoreBase):
    def _intent(self, row: dict[str, Any]) -> dict[str, Any]:
        row["request"] = orjson.loads(row["request"])
        answer = row["answer"]
        row["answer"] = orjson.loads(self.unseal(answer, f"intent.answer:{row['id']}")) if answer else None
        return row

    def create_intent(
        self,
        *,
        kind: str,
        actor: str,
        key_name: str,
        request: dict[str, Any],
        subject: str | None = None,
        idempotency: tuple[str, str] | None = None,
        status: int | None = None,
    ) -> int:
        """A new intent in state `reserved`; call it inside the transaction that makes the reservation.
        `status` is the one its answer will have if it succeeds (a failure sets its own).

        A second live intent for the same subject violates a unique index: callers check first."""
        now = int(time.time())
        scope, key = idempotency or (None, None)
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO intent (kind, actor, key_name, subject, request, state, status, idem_scope, idem_key,"
                " created_at, updated_at, worker) VALUES (?,?,?,?,?, 'reserved', ?,?,?,?,?,?) RETURNING id",
                (
                    kind,
                    actor,
                    key_name,
                    subject,
                    orjson.dumps(request).decode(),
                    status,
                    scope,
                    key,
                    now,
                    now,
                    self.worker_id,
                ),
            )
            return int(cursor.fetchone()[0])

    def intent(self, intent_id: int) -> dict[str, Any] | None:
        rows = self.rows(f"SELECT {_COLUMNS} FROM intent WHERE id = ?", (intent_id,))
        return self._intent(rows[0]) if rows else None

    def intent_for_key(self, scope: str, key: str) -> dict[str, Any] | None:
        rows = self.rows(
            f"SELECT {_COLUMNS} FROM intent WHERE idem_scope = ? AND idem_key = ? ORDER BY id DESC LIMIT 1",
            (scope, key),
        )
        return self._intent(rows[0]) if rows else None

    def live_intents(self) -> list[dict[str, Any]]:
        return [self._intent(r) for r in self.rows(f"SELECT {_COLUMNS} FROM intent WHERE state IN {LIVE} ORDER BY id")]

    def live_subject(self, subject: str) -> int | None:
        rows = self.rows(f"SELECT id FROM intent WHERE subject = ? AND state IN {LIVE}", (subject,))
        return int(rows[0]["id"]) if rows else None

    def mark_intent_sent(self, intent_id: int) -> None:
        self.execute(
            "UPDATE intent SET state = 'sent', updated_at = ? WHERE id = ? AND state = 'reserved'",
            (int(time.time()), intent_id),
        )

    def settle_intent(self, intent_id: int, *, state: str, status: int, answer: dict[str, Any]) -> bool:
        """Records the intent's final answer once (sealed: it may show a deal's price or receipt); False if it had
        settled already (the first answer stays)."""
        assert state in ("done", "failed")
        changed = self.changed(
            f"UPDATE intent SET state = ?, status = ?, answer = ?, updated_at = ? WHERE id = ? AND state IN {LIVE}",
            (
                state,
                status,
                self.seal(orjson.dumps(answer).decode(), f"intent.answer:{intent_id}"),
                int(time.time()),
                intent_id,
            ),
        )
        return changed == 1
