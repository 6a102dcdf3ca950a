"""API tokens, stored as SHA-256 hashes: each acts for one keystore account; and the site's sign-in sessions, each
standing for one token (revoking the token ends them)."""

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

    # the site's sessions ------------------------------------------------------------------------------
    def open_session(self, token: str, lifetime_s: int) -> tuple[str, str] | None:
        """A session for a valid token: (the cookie's value, the session's CSRF token), both random; None for
        an unknown or revoked token. Only their hashes and the CSRF token are stored."""
        if self.owner_of(token) is None:
            return None
        session, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(24), int(time.time())
        with self.transaction() as db:
            db.execute("DELETE FROM web_session WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO web_session (session_hash, token_hash, csrf, created_at, expires_at) VALUES (?,?,?,?,?)",
                (token_hash(session), token_hash(token), csrf, now, now + lifetime_s),
            )
        return session, csrf

    def session(self, session: str) -> tuple[TokenOwner, str] | None:
        """The token owner and CSRF token of a live session whose token is not revoked."""
        with self.reading() as db:
            row = db.execute(
                "SELECT t.key_name, t.account, t.label, s.csrf FROM web_session s"
                " JOIN api_token t ON t.token_hash = s.token_hash"
                " WHERE s.session_hash = ? AND s.expires_at > ? AND t.revoked = 0",
                (token_hash(session), int(time.time())),
            ).fetchone()
        return (TokenOwner(*row[:3]), row[3]) if row else None

    def close_session(self, session: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM web_session WHERE session_hash = ?", (token_hash(session),))
