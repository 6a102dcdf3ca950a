"""Idempotency keys (the `Idempotency-Key` header), scoped to the caller's token.

A key is claimed before the request runs and its answer stored when it ends; the same key and request
get that answer again, another request under the key is refused, and a key whose request is still
running answers that it is. A claim left by a process that died is resolved by the intent it created, if
any (node.writes.idempotency).
"""

import base64
import time
from dataclasses import dataclass
from typing import Any

from node.store.base import StoreBase

KEEP_S = 24 * 3600


@dataclass(frozen=True)
class Claim:
    outcome: str  # new | replay | running | mismatch | orphaned (row["applied"]: it wrote before it stopped)
    row: dict[str, Any] | None = None


class Idempotency(StoreBase):
    def claim_key(self, *, scope: str, key: str, request_hash: str, boot: str) -> Claim:
        now = int(time.time())
        with self.transaction() as db:
            cursor = db.execute(
                "SELECT scope, key, request_hash, state, boot, status, body, content_type, created_at, applied"
                " FROM idempotency_key WHERE scope = ? AND key = ?",
                (scope, key),
            )
            found = cursor.fetchone()
            if found is None:
                db.execute(
                    "INSERT INTO idempotency_key (scope, key, request_hash, state, boot, created_at)"
                    " VALUES (?,?,?, 'running', ?, ?)",
                    (scope, key, request_hash, boot, now),
                )
                return Claim("new")
            row = dict(zip([d[0] for d in cursor.description], found, strict=True))
            if row["body"] is not None:
                row["body"] = self._open_body(scope, key, row["body"])
            if row["request_hash"] != request_hash:
                return Claim("mismatch", row)
            if row["state"] == "done":
                return Claim("replay", row)
            if row["boot"] == boot:
                return Claim("running", row)
            if self.worker_id is not None and row["boot"] in self.live_workers():
                return Claim("running", row)  # another worker of this node carries it and is alive
            # Claimed by a process that is gone: this process takes the key over.
            db.execute("UPDATE idempotency_key SET boot = ? WHERE scope = ? AND key = ?", (boot, scope, key))
            return Claim("orphaned", row)

    def finish_key(self, *, scope: str, key: str, status: int, body: bytes, content_type: str) -> None:
        """Keeps the answer, sealed: it may repeat a deal's price or a custodian's receipt."""
        sealed = self.seal(base64.b64encode(body).decode(), f"idempotency:{scope}:{key}")
        self.execute(
            "UPDATE idempotency_key SET state = 'done', status = ?, body = ?, content_type = ?"
            " WHERE scope = ? AND key = ?",
            (status, sealed, content_type, scope, key),
        )

    def _open_body(self, scope: str, key: str, stored: str | bytes) -> bytes:
        text = stored.decode() if isinstance(stored, bytes) else stored
        return base64.b64decode(self.unseal(text, f"idempotency:{scope}:{key}"))

    def release_key(self, *, scope: str, key: str) -> None:
        """Forgets a claim whose request changed nothing, so that a retry runs afresh."""
        self.execute("DELETE FROM idempotency_key WHERE scope = ? AND key = ?", (scope, key))

    def prune_keys(self, *, now: int | None = None) -> int:
        """Drops answered keys older than KEEP_S (24 h)."""
        cutoff = (now if now is not None else int(time.time())) - KEEP_S
        return self.changed("DELETE FROM idempotency_key WHERE state = 'done' AND created_at < ?", (cutoff,))
