"""The node's worker processes: who is alive, so that one process's reconciler settles another's intents
only once that process is gone (it may still be sending them)."""

import os
import socket
import time

from node.store.base import StoreBase

# A worker not seen for this long is gone: its reconciler says it is alive every pass (4 times a second).
WORKER_GONE_S = 5


class Workers(StoreBase):
    def register_worker(self, worker_id: str) -> None:
        now = int(time.time())
        self.execute(
            "INSERT INTO node_worker (id, pid, host, started_at, seen_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            (worker_id, os.getpid(), socket.gethostname(), now, now),
        )

    def worker_seen(self, worker_id: str) -> None:
        self.execute("UPDATE node_worker SET seen_at = ? WHERE id = ?", (int(time.time()), worker_id))

    def live_workers(self) -> set[str]:
        since = int(time.time()) - WORKER_GONE_S
        return {str(row["id"]) for row in self.rows("SELECT id FROM node_worker WHERE seen_at >= ?", (since,))}

    def forget_workers(self, older_than_s: int = 86_400) -> None:
        self.execute("DELETE FROM node_worker WHERE seen_at < ?", (int(time.time()) - older_than_s,))
