"""A content-addressed evidence store under <home>/evidence.

A file is named by the SHA-256 of its plaintext, so anyone holding the file can check it against the
hash recorded anywhere (attestation, statement, chain). A node's store is always encrypted at rest with
AES-256-GCM (node.evidence.keys: the configured key or the node's own), in the segmented SLE2 format
(node.evidence.segments), written and read a segment at a time. Files written by older nodes are still
read: SLE1 (whole-file AES-GCM) and plaintext. Directories are 0700 and files 0600 (node.private).

Storing reads its source twice, a chunk at a time: once to hash it (node.evidence.intake: the digest is
bound into every segment's associated data, so it must be known before the first is sealed), once to seal
it into a temporary file beside its final place, which is then renamed into place.
"""

import hashlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.errors import EvidenceError
from node.evidence import segments
from node.evidence.intake import CHUNK, Measured, measure
from node.evidence.keys import evidence_key
from node.private import private_dir, private_temp
from node.settings import Settings

_HASH = re.compile(r"^[0-9a-f]{64}$")


class EvidenceStore:
    def __init__(self, directory: Path, key: bytes | None = None) -> None:
        """Without a key the store writes plaintext: only for reading data an older node left, and tests."""
        self.directory = directory
        self._aead = AESGCM(key) if key is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> "EvidenceStore":
        return cls(settings.evidence_dir, evidence_key(settings))

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    def path(self, digest: str) -> Path:
        if not _HASH.match(digest):
            raise EvidenceError(f"not a SHA-256 hex digest: {digest!r}")
        return self.directory / digest[:2] / digest

    def put(self, content: bytes) -> str:
        """Stores the content (once) and returns its SHA-256 hex digest."""
        return self.put_stream(io.BytesIO(content)).digest

    def put_stream(self, source: BinaryIO, limit: int | None = None) -> Measured:
        """Stores a seekable source read from where it stands, in chunks; EvidenceTooLarge (nothing stored)
        if it holds more than `limit` bytes."""
        measured = measure(source, limit)
        self.put_measured(source, measured)
        return measured

    def put_measured(self, source: BinaryIO, measured: Measured) -> None:
        """Stores a source already measured (intake.measure, which left it rewound); a source that no longer
        matches its measure is refused and nothing is stored."""
        path = self.path(measured.digest)
        if path.exists():
            return
        private_dir(self.directory)
        with private_temp(private_dir(path.parent), "put") as (tmp, sink):
            if self._aead is not None:
                prefix = os.urandom(8)
                seen = segments.seal(self._aead, bytes.fromhex(measured.digest), measured.size, source, sink, prefix)
            else:
                seen = _copy(source, sink, measured.size)
            if seen.hex() != measured.digest:
                raise EvidenceError("an evidence file changed while it was being stored")
            sink.flush()
            os.fsync(sink.fileno())
            os.replace(tmp, path)

    def open(self, digest: str) -> Iterator[bytes]:
        """The plaintext in chunks, each authenticated (encrypted files) before it is yielded; the whole is
        checked against its name at the end, so a reader that got to the end without an error has the file."""
        path = self.path(digest)
        try:
            body = path.open("rb")
        except FileNotFoundError:
            raise EvidenceError(f"no evidence file {digest}") from None
        expected, seen = bytes.fromhex(digest), hashlib.sha256()
        with body:
            for chunk in self._plaintext(body, expected, digest):
                seen.update(chunk)
                yield chunk
        if seen.digest() != expected:
            raise EvidenceError(f"evidence {digest} is corrupt: its content no longer has that hash")

    def get(self, digest: str) -> bytes:
        """The plaintext, checked against its name (whole, in memory: for small files such as reports)."""
        return b"".join(self.open(digest))

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def _plaintext(self, body: BinaryIO, expected: bytes, digest: str) -> Iterator[bytes]:
        magic = body.read(4)
        if magic in (segments.SLE1, segments.SLE2):
            if self._aead is None:
                raise EvidenceError(f"evidence {digest} is encrypted and this node has no evidence key")
            if magic == segments.SLE2:
                yield from segments.open_sealed(self._aead, expected, body, digest)
            else:
                yield segments.open_whole(self._aead, expected, body, digest)
            return
        # Plaintext, as older nodes without a key stored it.
        yield magic
        while chunk := body.read(CHUNK):
            yield chunk


def _copy(source: BinaryIO, sink: BinaryIO, size: int) -> bytes:
    seen, left = hashlib.sha256(), size
    while left and (chunk := source.read(min(CHUNK, left))):
        seen.update(chunk)
        sink.write(chunk)
        left -= len(chunk)
    if source.read(1):
        raise EvidenceError("an evidence file changed while it was being stored (it got longer)")
    return seen.digest()
