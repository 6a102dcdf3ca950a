"""The evidence key: from SINKNODE_EVIDENCE_KEY or SINKNODE_EVIDENCE_KEY_FILE, or else a random key the node
makes once and keeps in <home>/keys/evidence.key (0600), as it does the confidential-field key. Evidence is
therefore always encrypted at rest; the key never goes into a database."""

from node.errors import EvidenceError
from node.private import key_made_once
from node.settings import Settings

KEY_FILE = "evidence.key"


def load_evidence_key(settings: Settings) -> bytes | None:
    """The configured AES-256 key (64 hex digits), or None when none is configured."""
    text: str | None = None
    if settings.evidence_key is not None:
        text = settings.evidence_key.get_secret_value()
    elif settings.evidence_key_file is not None:
        try:
            text = settings.evidence_key_file.read_text()
        except OSError as exc:
            raise EvidenceError(f"cannot read the evidence key file: {exc}") from exc
    return None if text is None else _parse(text)


def evidence_key(settings: Settings) -> bytes:
    """The configured key, or the node's own (made on first use, then reused)."""
    configured = load_evidence_key(settings)
    if configured is not None:
        return configured
    try:
        return _parse(key_made_once(settings.keys_dir / KEY_FILE))
    except OSError as exc:
        raise EvidenceError(f"cannot read the evidence key file: {exc}") from exc


def _parse(text: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise EvidenceError("the evidence key must be 64 hex digits") from None
    if len(key) != 32:
        raise EvidenceError("the evidence key must be 32 bytes (64 hex digits)")
    return key
