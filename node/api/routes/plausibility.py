"""Plausibility flags of a monitoring report, as the verifier reads them before signing, and the verifier's
acknowledgement of them (node.projects.plausibility): POST /v1/verifications refuses a statement over a flagged
report until its verifier has acknowledged exactly those flags."""

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as ApiPath
from pydantic import BaseModel

from node.api.deps import CallerDep, ServicesDep, VerifierDep
from node.api.schemas import Hash32, SignatureBody, Strict
from node.chain.eip712 import Signature
from node.projects.plausibility import acknowledge_flags, report_flags

router = APIRouter(prefix="/v1", tags=["participants"])


class AcknowledgementIn(Strict):
    evidence_root: Hash32
    flags_hash: Hash32  # as read from GET /v1/verifications/{evidence_root}/flags
    # EIP-712 FlagsAcknowledged(evidenceRoot, flagsHash) by the verifier; without it the node signs with the
    # verifier's key it holds, as it does for statements.
    signature: SignatureBody | None = None


class Acknowledgement(BaseModel):
    evidence_root: str
    project_id: int
    verifier: str
    flags_hash: str
    flags_total: int
    signature: dict[str, Any]
    acknowledged_at: int


@router.get(
    "/verifications/{evidence_root}/flags",
    summary="A monitoring report's plausibility flags, their hash and acknowledgements (read before signing)",
)
def flags_of(
    evidence_root: Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{64}$")], caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    return report_flags(services, evidence_root)


@router.post(
    "/verifications/acknowledgements",
    status_code=201,
    response_model=Acknowledgement,
    summary="A verifier acknowledges a report's plausibility flags (EIP-712 FlagsAcknowledged)",
)
def acknowledge(body: AcknowledgementIn, caller: VerifierDep, services: ServicesDep) -> dict[str, Any]:
    signature = body.signature and Signature(
        body.signature.v, bytes.fromhex(body.signature.r[2:]), bytes.fromhex(body.signature.s[2:])
    )
    return acknowledge_flags(
        services, verifier=caller.account, key_name=caller.owner.key_name, evidence_root=body.evidence_root,
        claimed_hash=body.flags_hash, signature=signature,
    )  # fmt: skip
