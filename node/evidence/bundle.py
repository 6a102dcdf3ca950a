"""Evidence bundles: files stored together under one attested Merkle root, and their portable proofs.

A bundle is saved as <home>/evidence/bundles/<root>.json. A proof document is what a holder hands to
anyone who wants to check one file: the file's digest, its inclusion proof, the attestation and the
signature. It is verified with the file alone (`verify_proof_document`), offline.
"""

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from eth_account.signers.local import LocalAccount

from node.chain.statements import Signature
from node.errors import EvidenceError
from node.evidence.attestation import (
    Attestation,
    EvidenceCheck,
    evidence_root,
    proof_for,
    sign_attestation,
    verify_evidence,
)
from node.evidence.intake import Measured, measure
from node.evidence.names import safe_file_name
from node.evidence.store import EvidenceStore
from node.private import private_dir, private_temp
from registry.merkle import InclusionProof


@dataclass(frozen=True)
class EvidenceFile:
    name: str
    digest: str
    size: int
    original_name: str | None = None  # as the client sent it, escaped (node.evidence.names)


@dataclass(frozen=True)
class Bundle:
    files: tuple[EvidenceFile, ...]
    attestation: Attestation
    signature: Signature
    signer: str

    @property
    def root_hex(self) -> str:
        return "0x" + self.attestation.evidence_root.hex()

    def as_dict(self) -> dict[str, Any]:
        return {
            "evidence_root": self.root_hex,
            "files": [
                {"name": f.name, "original_name": f.original_name, "digest": f.digest, "size": f.size}
                for f in self.files
            ],
            "attestation": self.attestation.as_dict(),
            "signature": _signature_dict(self.signature),
            "signer": self.signer,
        }

    def proof_document(self, digest: str) -> dict[str, Any]:
        digests = [f.digest for f in self.files]
        if digest not in digests:
            raise EvidenceError(f"file {digest} is not in bundle {self.root_hex}")
        return {
            "file_digest": digest,
            "proof": proof_for(digests, digest).as_dict(),
            "attestation": self.attestation.as_dict(),
            "signature": _signature_dict(self.signature),
            "signer": self.signer,
        }


def _signature_dict(signature: Signature) -> dict[str, Any]:
    return {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()}


def _signature(data: dict[str, Any]) -> Signature:
    return Signature(int(data["v"]), bytes.fromhex(data["r"][2:]), bytes.fromhex(data["s"][2:]))


def create_bundle(
    store: EvidenceStore,
    files: Sequence[tuple[str, bytes | BinaryIO]],
    *,
    project_id: int,
    kind: str,
    attestor: LocalAccount,
    chain_id: int,
    registry: str,
    attested_at: int,
    max_bytes: int | None = None,
) -> Bundle:
    """Stores the files, computes their root and signs the attestation with the attestor's key.

    A file is its bytes or a seekable binary file, read in chunks from where it stands. With `max_bytes`, all
    files are measured before any is stored, so a bundle over the cap (EvidenceTooLarge) stores nothing."""
    if not files:
        raise EvidenceError("an evidence bundle needs at least one file")
    sources = [(name, io.BytesIO(content) if isinstance(content, bytes) else content) for name, content in files]
    measured: list[Measured] = []
    total = 0
    for _, source in sources:
        measured.append(measure(source, None if max_bytes is None else max_bytes - total))
        total += measured[-1].size
    stored = tuple(_stored(store, name, source, m) for (name, source), m in zip(sources, measured, strict=True))
    attestation = Attestation(
        evidence_root([f.digest for f in stored]), project_id, kind, attested_at, chain_id, registry.lower()
    )
    signature = sign_attestation(attestor, attestation)
    return Bundle(stored, attestation, signature, str(attestor.address).lower())


def _stored(store: EvidenceStore, name: str, source: BinaryIO, measured: Measured) -> EvidenceFile:
    # The client's name is shown and saved only as a safe base name; the original is kept, escaped.
    safe, original = safe_file_name(name)
    store.put_measured(source, measured)
    return EvidenceFile(safe, measured.digest, measured.size, original)


def bundles_dir(store: EvidenceStore) -> Path:
    return store.directory / "bundles"


def save_bundle(store: EvidenceStore, bundle: Bundle) -> Path:
    path = bundles_dir(store) / f"{bundle.root_hex[2:]}.json"
    with private_temp(private_dir(path.parent), "bundle") as (tmp, sink):
        sink.write(json.dumps(bundle.as_dict(), indent=2, ensure_ascii=False).encode())
        sink.flush()
        os.replace(tmp, path)
    return path


def load_bundle(store: EvidenceStore, root: str) -> Bundle:
    path = bundles_dir(store) / f"{root.lower().removeprefix('0x')}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvidenceError(f"no evidence bundle {root}") from None
    files = tuple(EvidenceFile(f["name"], f["digest"], int(f["size"]), f.get("original_name")) for f in data["files"])
    return Bundle(files, Attestation.from_dict(data["attestation"]), _signature(data["signature"]), data["signer"])


def verify_proof_document(
    content: bytes, document: dict[str, Any], expected_signer: str | None = None
) -> EvidenceCheck:
    """Checks a file against a proof document: inclusion in the attested root, and who signed it."""
    try:
        proof = InclusionProof.from_dict(document["proof"])
        attestation = Attestation.from_dict(document["attestation"])
        signature = _signature(document["signature"])
    except (KeyError, ValueError, TypeError) as exc:
        raise EvidenceError(f"not a proof document: {exc}") from exc
    return verify_evidence(content, proof, attestation, signature, expected_signer)
