"""The encrypted evidence file formats: SLE2 (segmented, streamed) is written; SLE1 (whole file) is still read.

SLE2: `"SLE2" ‖ 8-byte random prefix ‖ segment size (4 bytes, big-endian) ‖ segment 0 ‖ segment 1 ‖ ...`.
Segment i is the AES-256-GCM sealing of plaintext bytes [i·size, (i+1)·size), each segment but the last
full, under the nonce `prefix ‖ i` (4 bytes, big-endian) with associated data
`"SLE2" ‖ SHA-256 of the whole plaintext ‖ i ‖ last flag`. So a segment decrypts only as segment i of the
file named by that hash: segments swapped, dropped, repeated, cut short or taken from another file fail
their tag, and dropping whole trailing segments fails too, because the new last one was not sealed as last.
An empty file is one empty segment (its tag). Neither writing nor reading holds more than a segment.

SLE1: `"SLE1" ‖ 12-byte nonce ‖ ciphertext+tag`, the plaintext hash as associated data.
"""

import hashlib
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.errors import EvidenceError

SLE1 = b"SLE1"
SLE2 = b"SLE2"
SEGMENT = 2**20
TAG = 16
_HEADER = struct.Struct(">4s8sI")  # magic, nonce prefix, segment size
_MAX_SEGMENT = 16 * 2**20  # a header naming more is not ours: refused before anything that large is read


def segment_count(size: int, segment: int = SEGMENT) -> int:
    return max(1, -(-size // segment))


def sealed_size(size: int, segment: int = SEGMENT) -> int:
    return _HEADER.size + size + TAG * segment_count(size, segment)


def _associated(digest: bytes, index: int, last: bool) -> bytes:
    return SLE2 + digest + struct.pack(">I?", index, last)


def seal(aead: AESGCM, digest: bytes, size: int, source: BinaryIO, sink: BinaryIO, prefix: bytes) -> bytes:
    """Writes `size` plaintext bytes from `source` to `sink` as SLE2; returns the SHA-256 of what it read, for
    the caller to compare with `digest` (a source changed since it was hashed is then caught)."""
    seen = hashlib.sha256()
    count = segment_count(size)
    sink.write(_HEADER.pack(SLE2, prefix, SEGMENT))
    for index in range(count):
        want = min(SEGMENT, size - index * SEGMENT)
        chunk = source.read(want)
        if len(chunk) != want:
            raise EvidenceError("an evidence file changed while it was being stored (it got shorter)")
        seen.update(chunk)
        last = index == count - 1
        nonce = prefix + struct.pack(">I", index)
        sink.write(aead.encrypt(nonce, chunk, _associated(digest, index, last)))
    if source.read(1):
        raise EvidenceError("an evidence file changed while it was being stored (it got longer)")
    return seen.digest()


def open_sealed(aead: AESGCM, digest: bytes, body: BinaryIO, name: str) -> Iterator[bytes]:
    """The plaintext of an SLE2 file (whose magic has been read), one segment at a time, each authenticated
    before it is yielded."""
    header = body.read(_HEADER.size - len(SLE2))
    if len(header) != _HEADER.size - len(SLE2):
        raise EvidenceError(f"evidence {name} is corrupt: its header is cut short")
    _, prefix, segment = _HEADER.unpack(SLE2 + header)
    if not 0 < segment <= _MAX_SEGMENT:
        raise EvidenceError(f"evidence {name} is corrupt: segment size {segment}")
    step = segment + TAG
    chunk = body.read(step)
    index = 0
    while True:
        following = body.read(step) if len(chunk) == step else b""
        last = not following
        if len(chunk) < TAG or (not last and len(chunk) != step):
            raise EvidenceError(f"evidence {name} is corrupt: segment {index} is cut short")
        try:
            yield aead.decrypt(prefix + struct.pack(">I", index), chunk, _associated(digest, index, last))
        except InvalidTag:
            raise EvidenceError(
                f"evidence {name} does not decrypt with this key (or was altered): segment {index}"
            ) from None
        if last:
            return
        chunk, index = following, index + 1


def open_whole(aead: AESGCM, digest: bytes, body: BinaryIO, name: str) -> bytes:
    """The plaintext of an SLE1 file (whose magic has been read): written whole by older nodes, read whole."""
    rest = body.read()
    try:
        return aead.decrypt(rest[:12], rest[12:], digest)
    except InvalidTag:
        raise EvidenceError(f"evidence {name} does not decrypt with this key (or was altered)") from None
