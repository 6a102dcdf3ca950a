"""The evidence store at rest: the segmented SLE2 format, older formats still read, the node's own key, modes."""

import hashlib
import io
import os
import stat
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account

from node.errors import EvidenceError, EvidenceTooLarge
from node.evidence.bundle import create_bundle
from node.evidence.keys import KEY_FILE, evidence_key
from node.evidence.segments import SEGMENT, TAG, sealed_size
from node.evidence.store import EvidenceStore
from node.settings import load_settings

KEY = bytes.fromhex("22" * 32)
MIB = 2**20
HEADER = 16  # "SLE2", nonce prefix, segment size


def _content(size: int) -> bytes:
    # Distinct segments, so a swap of two of them would change the plaintext if it were ever accepted.
    return b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(-(-size // 32)))[:size]


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, 5 * MIB], ids=lambda s: f"{s}B")
def test_segmented_round_trip(tmp_path, size):
    store = EvidenceStore(tmp_path, KEY)
    content = _content(size)
    measured = store.put_stream(io.BytesIO(content))
    assert measured.digest == hashlib.sha256(content).hexdigest() and measured.size == size
    raw = store.path(measured.digest).read_bytes()
    assert raw.startswith(b"SLE2") and len(raw) == sealed_size(size)
    if size >= 64:
        assert content[:64] not in raw
    chunks = list(store.open(measured.digest))
    assert b"".join(chunks) == content and all(len(c) <= SEGMENT for c in chunks)
    assert store.get(measured.digest) == content


def _tampered(tmp_path, change) -> tuple[EvidenceStore, str]:
    store = EvidenceStore(tmp_path, KEY)
    digest = store.put(_content(3 * MIB + 100))
    path = store.path(digest)
    path.write_bytes(change(path.read_bytes()))
    return store, digest


def _segment(raw: bytes, index: int) -> slice:
    start = HEADER + index * (SEGMENT + TAG)
    return slice(start, start + SEGMENT + TAG)


def test_swapped_segments_are_refused(tmp_path):
    def swap(raw: bytes) -> bytes:
        body = bytearray(raw)
        body[_segment(raw, 0)], body[_segment(raw, 1)] = raw[_segment(raw, 1)], raw[_segment(raw, 0)]
        return bytes(body)

    store, digest = _tampered(tmp_path, swap)
    with pytest.raises(EvidenceError, match="segment 0"):
        store.get(digest)


@pytest.mark.parametrize(
    "change",
    [
        lambda raw: raw[:-1],  # the last segment cut short by a byte
        lambda raw: raw[: -(100 + TAG)],  # the last segment dropped: the one before was not sealed as last
        lambda raw: raw[: HEADER + SEGMENT + TAG],  # all but the first dropped
        lambda raw: raw[:HEADER],  # no segment at all
        lambda raw: raw + raw[_segment(raw, 0)],  # a segment repeated at the end
        lambda raw: raw[: HEADER + 5] + bytes([raw[HEADER + 5] ^ 1]) + raw[HEADER + 6 :],  # one byte flipped
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]),  # a bit of the last tag flipped
        lambda raw: raw[:4] + os.urandom(8) + raw[12:],  # another nonce prefix
        lambda raw: raw[:12] + struct.pack(">I", 2**30) + raw[16:],  # another segment size
    ],
    ids=["truncated", "last_dropped", "tail_dropped", "header_only", "repeated", "flipped", "tag", "prefix", "size"],
)
def test_tampering_is_refused(tmp_path, change):
    store, digest = _tampered(tmp_path, change)
    with pytest.raises(EvidenceError, match=r"altered|corrupt"):
        store.get(digest)


def test_a_file_copied_under_another_name_is_refused_at_its_first_segment(tmp_path):
    store = EvidenceStore(tmp_path, KEY)
    a, b = store.put(_content(2 * MIB)), store.put(b"another report")
    store.path(b).write_bytes(store.path(a).read_bytes())
    reader = store.open(b)
    with pytest.raises(EvidenceError, match="segment 0"):
        next(reader)


def test_files_older_nodes_wrote_are_still_read(tmp_path):
    content = "树木清单 plot A: 120 Ginkgo biloba".encode()
    digest = hashlib.sha256(content).hexdigest()
    store = EvidenceStore(tmp_path, KEY)
    store.path(digest).parent.mkdir(parents=True)
    nonce = os.urandom(12)
    store.path(digest).write_bytes(b"SLE1" + nonce + AESGCM(KEY).encrypt(nonce, content, bytes.fromhex(digest)))
    assert store.get(digest) == content
    plain = b"a plaintext inventory from a node without a key"
    plain_digest = hashlib.sha256(plain).hexdigest()
    store.path(plain_digest).parent.mkdir(parents=True, exist_ok=True)
    store.path(plain_digest).write_bytes(plain)
    assert store.get(plain_digest) == plain
    store.path(plain_digest).write_bytes(plain[:-1] + b"!")
    with pytest.raises(EvidenceError, match="corrupt"):
        store.get(plain_digest)


def test_the_default_key_is_made_once_private_and_reused(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    store = EvidenceStore.from_settings(settings)
    assert store.encrypted
    key_file = settings.keys_dir / KEY_FILE
    assert _mode(key_file) == 0o600 and _mode(settings.keys_dir) == 0o700
    digest = store.put(b"soil carbon samples, plot B")
    assert store.path(digest).read_bytes().startswith(b"SLE2")
    restarted = EvidenceStore.from_settings(load_settings(home=tmp_path / "home"))
    assert evidence_key(settings) == bytes.fromhex(key_file.read_text())
    assert restarted.get(digest) == b"soil carbon samples, plot B"
    configured = load_settings(home=tmp_path / "other", evidence_key="22" * 32)
    assert evidence_key(configured) == KEY and not (configured.keys_dir / KEY_FILE).exists()


def test_evidence_files_and_directories_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        store = EvidenceStore(tmp_path / "evidence", KEY)
        digest = store.put(b"maintenance fuel log")
    finally:
        os.umask(old)
    assert _mode(store.path(digest)) == 0o600
    assert _mode(store.path(digest).parent) == 0o700 and _mode(store.directory) == 0o700


def test_a_bundle_over_the_cap_stores_nothing(tmp_path):
    store = EvidenceStore(tmp_path / "evidence", KEY)
    files = [("a.bin", io.BytesIO(_content(MIB))), ("b.bin", io.BytesIO(_content(MIB + 1)))]
    with pytest.raises(EvidenceTooLarge):
        create_bundle(store, files, project_id=1, kind="photos", attestor=Account.create(), chain_id=31337,
                      registry="0x" + "ab" * 20, attested_at=1_790_000_000, max_bytes=2 * MIB)  # fmt: skip
    assert not store.directory.exists() or not any(store.directory.rglob("*"))
    for _, source in files:
        source.seek(0)
    bundle = create_bundle(store, files, project_id=1, kind="photos", attestor=Account.create(), chain_id=31337,
                           registry="0x" + "ab" * 20, attested_at=1_790_000_000, max_bytes=2 * MIB + 1)  # fmt: skip
    assert [f.size for f in bundle.files] == [MIB, MIB + 1]
    assert [store.get(f.digest) for f in bundle.files] == [_content(MIB), _content(MIB + 1)]


def test_a_source_that_changes_while_it_is_stored_is_refused(tmp_path):
    store = EvidenceStore(tmp_path, KEY)

    class Shifting(io.BytesIO):
        reads = 0

        def read(self, size: int | None = -1) -> bytes:
            self.reads += 1
            data = super().read(size)
            return data.upper() if self.reads > 2 else data  # the second pass sees other bytes

    with pytest.raises(EvidenceError, match="changed"):
        store.put_stream(Shifting(b"abc" * 1000))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
