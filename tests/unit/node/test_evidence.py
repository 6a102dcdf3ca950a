"""Evidence: content addressing, encryption at rest, Merkle bundles and offline verification."""

import hashlib

import pytest
from eth_account import Account

from node.errors import EvidenceError
from node.evidence.attestation import (
    Attestation,
    evidence_root,
    proof_for,
    sign_attestation,
    verify_evidence,
)
from node.evidence.keys import load_evidence_key
from node.evidence.store import EvidenceStore
from node.settings import load_settings

KEY = bytes.fromhex("11" * 32)
PLAIN = "树木清单 plot A: 120 Ginkgo biloba, DBH 23.5 cm".encode()


def test_a_file_is_named_by_the_hash_of_its_plaintext(tmp_path):
    store = EvidenceStore(tmp_path)
    digest = store.put(PLAIN)
    assert digest == hashlib.sha256(PLAIN).hexdigest()
    assert store.get(digest) == PLAIN
    assert store.put(PLAIN) == digest  # stored once


def test_encrypted_at_rest_and_readable_only_with_the_key(tmp_path):
    store = EvidenceStore(tmp_path, KEY)
    digest = store.put(PLAIN)
    raw = store.path(digest).read_bytes()
    assert PLAIN not in raw and raw.startswith(b"SLE2")
    assert store.get(digest) == PLAIN
    with pytest.raises(EvidenceError, match="no evidence key"):
        EvidenceStore(tmp_path).get(digest)
    with pytest.raises(EvidenceError, match="does not decrypt"):
        EvidenceStore(tmp_path, bytes(32)).get(digest)


def test_tampering_is_detected(tmp_path):
    plain, sealed = EvidenceStore(tmp_path / "p"), EvidenceStore(tmp_path / "s", KEY)
    for store in (plain, sealed):
        digest = store.put(PLAIN)
        body = bytearray(store.path(digest).read_bytes())
        body[-1] ^= 1
        store.path(digest).write_bytes(bytes(body))
        with pytest.raises(EvidenceError, match=r"corrupt|altered"):
            store.get(digest)


def test_refuses_names_that_are_not_digests(tmp_path):
    with pytest.raises(EvidenceError, match="not a SHA-256"):
        EvidenceStore(tmp_path).get("../../etc/passwd")


def test_the_key_comes_from_the_environment_or_a_file(tmp_path, monkeypatch):
    assert load_evidence_key(load_settings(home=tmp_path)) is None
    assert load_evidence_key(load_settings(home=tmp_path, evidence_key="11" * 32)) == KEY
    key_file = tmp_path / "evidence.key"
    key_file.write_text("0x" + "11" * 32 + "\n")
    assert load_evidence_key(load_settings(home=tmp_path, evidence_key_file=key_file)) == KEY
    with pytest.raises(EvidenceError, match="32 bytes"):
        load_evidence_key(load_settings(home=tmp_path, evidence_key="11" * 16))


def test_a_file_its_proof_and_the_signature_verify_offline():
    files = [PLAIN, b"soil samples", b"maintenance fuel log", b"photo.jpg bytes"]
    digests = [hashlib.sha256(f).hexdigest() for f in files]
    attestor = Account.create()
    attestation = Attestation(evidence_root(digests), 7, "monitoring-report", 1_790_000_000, 31337, "0x" + "ab" * 20)
    signature = sign_attestation(attestor, attestation)
    for content, digest in zip(files, digests, strict=True):
        check = verify_evidence(content, proof_for(digests, digest), attestation, signature, attestor.address)
        assert check.ok and check.in_bundle and check.signer == attestor.address.lower()
    proof = proof_for(digests, digests[0])
    assert not verify_evidence(b"another file", proof, attestation, signature, attestor.address).ok
    stranger = Account.create().address
    assert verify_evidence(PLAIN, proof, attestation, signature, stranger).signed_by_expected is False
    moved = Attestation(attestation.evidence_root, 8, attestation.kind, attestation.attested_at, 31337,
                        attestation.registry)  # fmt: skip
    assert verify_evidence(PLAIN, proof, moved, signature, attestor.address).signed_by_expected is False


def test_the_root_does_not_depend_on_upload_order():
    digests = [hashlib.sha256(bytes([i])).hexdigest() for i in range(5)]
    assert evidence_root(digests) == evidence_root(list(reversed(digests))) == evidence_root(digests + digests[:2])
    assert Attestation.from_dict(Attestation(b"\x01" * 32, 1, "k", 2, 3, "0x" + "cd" * 20).as_dict()).project_id == 1
