"""Signed evidence attestations and the offline check of a file against them.

An attestation is the EIP-712 message `EvidenceAttestation(bytes32 evidenceRoot, uint64 projectId,
string kind, uint64 attestedAt)` under the domain ("SinkLedger Evidence", "1", chain id, registry
address), signed by a participant's key. `verify_evidence` needs nothing but the file, its proof
bundle and the signature: no node, no chain.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from node.chain.eip712 import Signature, recover_signer, sign_typed
from registry.merkle import InclusionProof, inclusion_proof, merkle_root, verify_inclusion

DOMAIN_NAME = "SinkLedger Evidence"
DOMAIN_VERSION = "1"
ATTESTATION_FIELDS = [
    {"name": "evidenceRoot", "type": "bytes32"},
    {"name": "projectId", "type": "uint64"},
    {"name": "kind", "type": "string"},
    {"name": "attestedAt", "type": "uint64"},
]


@dataclass(frozen=True)
class Attestation:
    evidence_root: bytes
    project_id: int
    kind: str
    attested_at: int
    chain_id: int
    registry: str

    def typed(self) -> Any:
        return encode_typed_data(
            domain_data={
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": self.chain_id,
                "verifyingContract": self.registry,
            },
            message_types={"EvidenceAttestation": ATTESTATION_FIELDS},
            message_data={
                "evidenceRoot": self.evidence_root,
                "projectId": self.project_id,
                "kind": self.kind,
                "attestedAt": self.attested_at,
            },
        )

    def as_dict(self) -> dict[str, Any]:
        return {"evidence_root": "0x" + self.evidence_root.hex(), "project_id": self.project_id, "kind": self.kind,
                "attested_at": self.attested_at, "chain_id": self.chain_id, "registry": self.registry}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Attestation":
        return cls(bytes.fromhex(data["evidence_root"][2:]), int(data["project_id"]), str(data["kind"]),
                   int(data["attested_at"]), int(data["chain_id"]), str(data["registry"]).lower())  # fmt: skip


def sign_attestation(account: LocalAccount, attestation: Attestation) -> Signature:
    return sign_typed(account, attestation.typed())


def attestation_signer(attestation: Attestation, signature: Signature) -> str:
    return recover_signer(attestation.typed(), signature)


def bundle_leaves(file_digests: list[str]) -> list[bytes]:
    """The bundle's leaves: its files' SHA-256 digests, sorted, without repeats."""
    return sorted({bytes.fromhex(d) for d in file_digests})


def evidence_root(file_digests: list[str]) -> bytes:
    return merkle_root(bundle_leaves(file_digests))


def proof_for(file_digests: list[str], file_digest: str) -> InclusionProof:
    leaves = bundle_leaves(file_digests)
    return inclusion_proof(leaves, leaves.index(bytes.fromhex(file_digest)))


@dataclass(frozen=True)
class EvidenceCheck:
    file_digest: str
    in_bundle: bool
    signer: str
    signed_by_expected: bool | None

    @property
    def ok(self) -> bool:
        return self.in_bundle and self.signed_by_expected is not False


def verify_evidence(
    content: bytes,
    proof: InclusionProof,
    attestation: Attestation,
    signature: Signature,
    expected_signer: str | None = None,
) -> EvidenceCheck:
    """Checks a file against an attested evidence root, offline."""
    digest = hashlib.sha256(content).digest()
    in_bundle = verify_inclusion(digest, proof, attestation.evidence_root)
    signer = attestation_signer(attestation, signature)
    expected = None if expected_signer is None else signer == expected_signer.lower()
    return EvidenceCheck(digest.hex(), in_bundle, signer, expected)
