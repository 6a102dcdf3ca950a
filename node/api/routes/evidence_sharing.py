"""Evidence shared between organisations' nodes (node.evidence.peer): a peer's signed request for a file,
the owner's grants, the access log of both sides, and fetching a bundle from a configured peer."""

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi import Path as ApiPath
from pydantic import Field

from node.actors import Caller
from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.responses import Out
from node.api.schemas import Strict
from node.chain.registry import ROLE_REGULATOR
from node.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from node.evidence.bundle import Bundle, load_bundle
from node.evidence.peer import check_signature, fetch_bundle
from node.index.queries import get_participant
from node.services import Services

router = APIRouter(prefix="/v1", tags=["evidence sharing"])
RootPath = Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{64}$")]
DigestPath = Annotated[str, ApiPath(pattern=r"^[0-9a-f]{64}$")]


class GrantRequest(Strict):
    organisation: Annotated[int, Field(ge=1, le=2**32 - 1)]


class FetchRequest(Strict):
    peer: Annotated[str, Field(min_length=8, max_length=300, pattern=r"^https?://")]
    root: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]


class Grant(Out):
    organisation: int
    granted_by: str
    granted_at: int


class AccessEntry(Out):
    direction: str
    digest: str | None
    account: str
    organisation: int | None
    peer: str | None
    outcome: str
    at: int


class EvidenceAccess(Out):
    root: str
    grants: list[Grant]
    log: list[AccessEntry]


class FetchResult(Out):
    root: str
    project_id: int
    signer: str
    fetched: list[str]
    kept: list[str]


def _reader_of(services: Services, reader: Any, request: Request) -> dict[str, Any]:
    """The participant a peer request is signed by (its nonce spent), or a 401/403."""
    manifest = services.manifest
    headers = {k.lower(): v for k, v in request.headers.items()}
    signed = check_signature(headers, request.method, request.url.path, request.url.query, manifest.chain_id,
                             manifest.registry.address)  # fmt: skip
    if not services.state.use_peer_nonce(signed.signer, signed.nonce):
        raise Unauthenticated("peer_signature_replayed", "this request's nonce was used before")
    participant = get_participant(connection=reader, address=signed.signer)
    if participant is None or participant["frozen"]:
        raise Forbidden("not_a_participant", f"{signed.signer} is not a registered, unfrozen participant")
    return participant


def _why_allowed(services: Services, reader: Any, participant: dict[str, Any], bundle: Bundle) -> str | None:
    if participant["roles"] & ROLE_REGULATOR:
        return "regulator"
    if participant["organisation"] == services.settings.organisation:
        return "own organisation"
    verifies = reader.execute(
        "SELECT 1 FROM batch WHERE project_id = ? AND verifier = ? LIMIT 1",
        (bundle.attestation.project_id, participant["address"]),
    ).fetchone()
    if verifies:
        return "the project's verifier"
    granted = {g["organisation"] for g in services.state.evidence_grants(bundle.root_hex)}
    return "granted" if participant["organisation"] in granted else None


@router.get(
    "/peer/evidence/{root}/files/{digest}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"}},
    summary="One evidence file, for another organisation's node (signed request; regulators, the project's"
    " verifier and granted organisations)",
)
def peer_evidence_file(
    root: RootPath, digest: DigestPath, request: Request, services: ServicesDep, reader: ReaderDep
) -> Response:
    participant = _reader_of(services, reader, request)
    bundle = load_bundle(services.evidence, root)
    if digest not in {f.digest for f in bundle.files}:
        raise NotFound("not_found", f"file {digest} is not in bundle {root}")
    why = _why_allowed(services, reader, participant, bundle)
    services.state.log_peer_access(direction="served", root=root, digest=digest, account=participant["address"],
                                   organisation=participant["organisation"], peer=None,
                                   outcome=f"served: {why}" if why else "refused: not granted")  # fmt: skip
    if why is None:
        raise Forbidden("evidence_not_granted", f"organisation {participant['organisation']} holds no grant for {root}")
    return Response(services.evidence.get(digest), media_type="application/octet-stream")


def _owner(services: Services, caller: Caller) -> None:
    if caller.organisation != services.settings.organisation:
        raise Forbidden("not_the_owner", "only a participant of this node's organisation grants its evidence")


@router.post("/evidence/{root}/grants", response_model=EvidenceAccess, status_code=201,
             summary="Let another organisation's participants fetch this bundle's files (the owner)")  # fmt: skip
def grant(root: RootPath, body: GrantRequest, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    _owner(services, caller)
    load_bundle(services.evidence, root)  # 404 unless this node holds it
    new = services.state.grant_evidence(root, body.organisation, caller.account)
    services.state.log_peer_access(direction="granted", root=root, digest=None, account=caller.account,
                                   organisation=body.organisation, peer=None,
                                   outcome="granted" if new else "granted before")  # fmt: skip
    return _access(services, root)


@router.get("/evidence/{root}/access", response_model=EvidenceAccess,
            summary="A bundle's grants and every grant, fetch and refusal (the owner and regulators)")  # fmt: skip
def access(root: RootPath, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    if not caller.has(ROLE_REGULATOR):
        _owner(services, caller)
    return _access(services, root)


def _access(services: Services, root: str) -> dict[str, Any]:
    return {"root": root.lower(), "grants": services.state.evidence_grants(root),
            "log": services.state.peer_access_log(root)}  # fmt: skip


@router.post(
    "/evidence/fetch",
    response_model=FetchResult,
    summary="Fetch a bundle and its files from a configured peer, checked, signed with the caller's key",
)
def fetch(body: FetchRequest, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    peer = body.peer.rstrip("/")
    if peer not in services.settings.peers:
        # Never a URL a caller makes up: the node would reach wherever it is told (SINKNODE_PEERS names them).
        raise InvalidRequest("unknown_peer", "the node fetches only from the peers in SINKNODE_PEERS")
    account = services.account(caller.owner.key_name)
    root = body.root.lower()

    def log(digest: str, outcome: str) -> None:
        services.state.log_peer_access(direction="fetched", root=root, digest=digest, account=caller.account,
                                       organisation=caller.organisation, peer=peer, outcome=outcome)  # fmt: skip

    result = fetch_bundle(peer, root, account, services.evidence, chain_id=services.manifest.chain_id,
                          registry=services.manifest.registry.address, log=log)  # fmt: skip
    return {"root": root, "project_id": result.bundle.attestation.project_id, "signer": result.bundle.signer,
            "fetched": result.fetched, "kept": result.kept}  # fmt: skip
