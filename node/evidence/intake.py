"""Incoming evidence read in chunks: its SHA-256 and size, within a byte cap, never the whole file in memory."""

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

from node.errors import EvidenceTooLarge

CHUNK = 2**20


@dataclass(frozen=True)
class Measured:
    digest: str
    size: int


def measure(source: BinaryIO, limit: int | None = None) -> Measured:
    """Hashes the source from where it stands to its end and rewinds it there; EvidenceTooLarge as soon as more
    than `limit` bytes have come, without reading the rest."""
    start = source.tell()
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if limit is not None and size > limit:
            raise EvidenceTooLarge(f"evidence is larger than the {limit} bytes allowed")
        digest.update(chunk)
    source.seek(start)
    return Measured(digest.hexdigest(), size)
