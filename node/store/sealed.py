"""Confidential fields at rest: deal prices and custodian receipts, and the answers the write path keeps
(intents' answers, idempotency keys' bodies, which may repeat them), are sealed with AES-256-GCM before
they reach the node's database. The key comes from SINKNODE_CONFIDENTIAL_KEY (64 hex digits) or, on a
development node, a random key kept in <home>/keys/confidential.key (0600); never from the database."""

import base64
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.errors import ConfigError
from node.private import private_dir
from node.settings import Settings

_PREFIX = "sealed:"


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Sealer":
        if settings.confidential_key is not None:
            try:
                key = bytes.fromhex(settings.confidential_key.get_secret_value().removeprefix("0x"))
            except ValueError:
                raise ConfigError("SINKNODE_CONFIDENTIAL_KEY must be 64 hex digits") from None
        else:
            path = settings.keys_dir / "confidential.key"
            if not path.exists():
                private_dir(path.parent)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32))
            key = bytes.fromhex(path.read_text().strip())
        if len(key) != 32:
            raise ConfigError("the confidential-field key must be 32 bytes")
        return cls(key)

    def seal(self, plain: str, context: str) -> str:
        """`context` (table.column:id) is bound as associated data: a value cannot be moved to another row."""
        nonce = os.urandom(12)
        return _PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, plain.encode(), context.encode())).decode()

    def open(self, sealed: str, context: str) -> str:
        raw = base64.b64decode(sealed.removeprefix(_PREFIX))
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
