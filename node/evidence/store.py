"""A content-addressed evidence store under <home>/evidence.

A file is named by the SHA-256 of its plaintext, so anyone holding the file can check it against the
hash recorded anywhere (attestation, statement, chain). With a key, files are encrypted at rest with
AES-256-GCM: `SLE1 ‖ 12-byte nonce ‖ ciphertext+tag`, the plaintext hash as associated data so a
file cannot be swapped for another under its name. The key lives in an environment variable or a key
file, never in the index database.
"""

import hashlib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.errors import EvidenceError
from node.settings import Settings

_MAGIC = b"SLE1"
_HASH = re.compile(r"^[0-9a-f]{64}$")


def load_evidence_key(settings: Settings) -> bytes | None:
    """The AES-256 key from SINKNODE_EVIDENCE_KEY or SINKNODE_EVIDENCE_KEY_FILE (64 hex digits), or None."""
    text: str | None = None
    if settings.evidence_key is not None:
        text = settings.evidence_key.get_secret_value()
    elif settings.evidence_key_file is not None:
        try:
            text = settings.evidence_key_file.read_text()
        except OSError as exc:
            raise EvidenceError(f"cannot read the evidence key file: {exc}") from exc
    if text is None:
        return None
    try:
        key = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise EvidenceError("the evidence key must be 64 hex digits") from None
    if len(key) != 32:
        raise EvidenceError("the evidence key must be 32 bytes (64 hex digits)")
    return key


class EvidenceStore:
    def __init__(self, directory: Path, key: bytes | None = None) -> None:
        self.directory = directory
        self._aead = AESGCM(key) if key is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> "EvidenceStore":
        return cls(settings.evidence_dir, load_evidence_key(settings))

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    def path(self, digest: str) -> Path:
        if not _HASH.match(digest):
            raise EvidenceError(f"not a SHA-256 hex digest: {digest!r}")
        return self.directory / digest[:2] / digest

    def put(self, content: bytes) -> str:
        """Stores the content (once) and returns its SHA-256 hex digest."""
        digest = hashlib.sha256(content).hexdigest()
        path = self.path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        body = content
        if self._aead is not None:
            nonce = os.urandom(12)
            body = _MAGIC + nonce + self._aead.encrypt(nonce, content, bytes.fromhex(digest))
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(body)
        tmp.replace(path)
        return digest

    def get(self, digest: str) -> bytes:
        """The plaintext, checked against its name."""
        path = self.path(digest)
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise EvidenceError(f"no evidence file {digest}") from None
        if body.startswith(_MAGIC):
            if self._aead is None:
                raise EvidenceError(f"evidence {digest} is encrypted and this node has no evidence key")
            try:
                body = self._aead.decrypt(body[4:16], body[16:], bytes.fromhex(digest))
            except InvalidTag:
                raise EvidenceError(f"evidence {digest} does not decrypt with this key (or was altered)") from None
        if hashlib.sha256(body).hexdigest() != digest:
            raise EvidenceError(f"evidence {digest} is corrupt: its content no longer has that hash")
        return body

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()
