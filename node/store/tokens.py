"""API tokens, stored as SHA-256 hashes: each acts for one keystore account."""

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from node.store.base import StoreBase


@dataclass(frozen=True)
class TokenOwner:
    key_name: str
    account: str
    label: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens(StoreBase):
    def create_token(self, *, key_name: str, account: str, label: str) -> str:
        """A new API token acting for `account` (signing with keystore `key_name`); shown once, stored hashed."""
        token = "slk_" + secrets.token_urlsafe(32)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO api_token (token_hash, key_name, account, label, created_at) VALUES (?,?,?,?,?)",
                (token_hash(token), key_name, account.lower(), label, int(time.time())),
            )
        return token

    def owner_of(self, token: str) -> TokenOwner | None:
        with self.reading() as db:
            row = db.execute(
                "SELECT key_name, account, label FROM api_token WHERE token_hash = ? AND revoked = 0",
                (token_hash(token),),
            ).fetchone()
        return TokenOwner(*row) if row else None

    def revoke_tokens(self, *, key_name: str) -> int:
        with self.transaction() as db:
            return db.execute("UPDATE api_token SET revoked = 1 WHERE key_name = ?", (key_name,)).rowcount

    def tokens(self) -> list[dict[str, Any]]:
        with self.reading() as db:
            rows = db.execute("SELECT key_name, account, label, created_at, revoked FROM api_token").fetchall()
        return [dict(zip(("key_name", "account", "label", "created_at", "revoked"), r, strict=True)) for r in rows]
