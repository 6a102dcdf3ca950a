"""The node's own state, kept apart from the index (which can always be rebuilt from the chain):
API tokens, stored hashed, and the log of every regulator query. Lives in <home>/node.sqlite.
"""

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_token (
    token_hash TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    account TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS regulator_query (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    account TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class TokenOwner:
    key_name: str
    account: str
    label: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NodeState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def create_token(self, *, key_name: str, account: str, label: str) -> str:
        """A new API token acting for `account` (signing with keystore `key_name`); shown once, stored hashed."""
        token = "slk_" + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_token (token_hash, key_name, account, label, created_at) VALUES (?,?,?,?,?)",
                (_hash(token), key_name, account.lower(), label, int(time.time())),
            )
        return token

    def owner_of(self, token: str) -> TokenOwner | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key_name, account, label FROM api_token WHERE token_hash = ? AND revoked = 0", (_hash(token),)
            ).fetchone()
        return TokenOwner(*row) if row else None

    def revoke_tokens(self, *, key_name: str) -> int:
        with self._lock:
            return self._db.execute("UPDATE api_token SET revoked = 1 WHERE key_name = ?", (key_name,)).rowcount

    def tokens(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT key_name, account, label, created_at, revoked FROM api_token").fetchall()
        return [dict(zip(("key_name", "account", "label", "created_at", "revoked"), r, strict=True)) for r in rows]

    def log_query(self, *, account: str, endpoint: str, params: dict[str, Any], outcome: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO regulator_query (at, account, endpoint, params, outcome) VALUES (?,?,?,?,?)",
                (int(time.time()), account, endpoint, orjson.dumps(params, default=str).decode(), outcome),
            )

    def query_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, account, endpoint, params, outcome FROM regulator_query ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        names = ("id", "at", "account", "endpoint", "params", "outcome")
        return [dict(zip(names, r, strict=True)) for r in rows]
