"""Writes by participants (issuer, verifier, project owner, holder, admin), each signed with the caller's key."""

import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from eth_utils import keccak
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as ApiPath
from starlette.concurrency import run_in_threadpool

from node.api.deps import (
    AdminDep,
    Caller,
    CallerDep,
    CursorQuery,
    IssuerDep,
    ReaderDep,
    ServicesDep,
    VerifierDep,
    parse_cursor,
)
from node.api.errors import ApiError, not_found
from node.api.monitoring_schema import MONITORING_REQUEST_BODY
from node.api.responses import (
    BATCH_LINKS,
    EVIDENCE_LINKS,
    PROJECT_LINKS,
    RETIREMENT_LINKS,
    WRITE_RESPONSES,
    AccountingRecord,
    EventPage,
    EvidenceBundle,
    EvidenceProof,
    Holding,
    Me,
    MonitoringResult,
    Points,
    ProjectView,
)
from node.api.schemas import (
    IssueRequest,
    ParticipantCreate,
    ProjectBufferShare,
    ProjectCreate,
    RetireRequest,
    TransferRequest,
    TxResult,
    VerificationSigned,
    VerificationStatementIn,
)
from node.chain.registry import RetirementRequest
from node.chain.sender import Receipt
from node.chain.statements import (
    Signature,
    VerificationStatement,
    methodology_id,
    recover_verifier,
    sign_verification,
    statement_digest,
)
from node.evidence.bundle import create_bundle, load_bundle, save_bundle
from node.index.queries import get_project, holdings, search_events
from node.projects.issuance import check_statement
from node.projects.monitoring import submit_monitoring
from node.projects.plausibility import require_flags_acknowledged
from node.projects.profiles import project_profile
from node.public_text import check_public_text
from node.services import Services
from node.supervision.oversight import project_review
from node.text import SingleLine

router = APIRouter(prefix="/v1", tags=["participants"])


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _statement(body: VerificationStatementIn) -> VerificationStatement:
    return VerificationStatement(
        body.project_id,
        body.period_start,
        body.period_end,
        body.quantity,
        _hex(body.evidence_root),
        methodology_id(body.methodology),
        body.expiry,
        body.nonce,
    )


def _write(
    services: Services, caller: Caller, kind: str, request: dict[str, Any], send: Callable[[], Receipt], status: int
) -> TxResult:
    """A ledger write as an intent: recorded first, its transaction journalled, its answer kept (node.writes)."""
    intent_id = services.writes.begin(
        kind=kind, actor=caller.account, key_name=caller.owner.key_name, request=request, ok_status=status
    )
    _, answer = services.writes.run(intent_id, send)
    return TxResult(**answer)


def _check(services: Services, body: VerificationStatementIn, *, issuing: bool = False) -> None:
    """The statement claims the quantity and the period of this node's monitoring data (node.projects.issuance)."""
    check_statement(
        services,
        project_id=body.project_id,
        evidence_root=body.evidence_root,
        quantity=body.quantity,
        period_start=body.period_start,
        period_end=body.period_end,
        issuing=issuing,
    )


@router.get(
    "/me", response_model=Me, response_model_exclude_unset=True, summary="The calling participant as the index knows it"
)
def me(caller: CallerDep) -> dict[str, object]:
    return {
        "account": caller.account,
        "key": caller.owner.key_name,
        "label": caller.owner.label,
        "roles": caller.roles,
        "organisation": caller.organisation,
        "frozen": caller.frozen,
    }


@router.post(
    "/admin/participants", responses=WRITE_RESPONSES, status_code=201, summary="Register a participant (admin)"
)
def register_participant(body: ParticipantCreate, caller: AdminDep, services: ServicesDep) -> TxResult:
    if body.display_name is not None:
        check_public_text({"display_name": body.display_name})
    sender = services.sender_for(caller.owner)
    return _write(
        services,
        caller,
        "register_participant",
        body.model_dump(),
        lambda: services.registry.register_participant(sender, body.account, body.organisation, body.roles),
        201,
    )


@router.post(
    "/admin/projects/{project_id}/buffer",
    responses=WRITE_RESPONSES,
    summary="Set a project's own buffer share, or clear it so the registry's applies (admin)",
)
def set_project_buffer(
    project_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)],
    body: ProjectBufferShare,
    caller: AdminDep,
    services: ServicesDep,
    reader: ReaderDep,
) -> TxResult:
    if get_project(connection=reader, project_id=project_id) is None:
        raise not_found(f"project {project_id}")
    sender = services.sender_for(caller.owner)
    return _write(
        services,
        caller,
        "set_project_buffer",
        {"project_id": project_id, "share_bps": body.share_bps},
        lambda: services.registry.set_project_buffer_share(sender, project_id, body.share_bps),
        200,
    )


@router.post("/projects", responses=PROJECT_LINKS, status_code=201, summary="Register a green-space project")
def register_project(body: ProjectCreate, caller: CallerDep, services: ServicesDep) -> TxResult:
    owner = (body.owner or caller.account).lower()
    profile = body.profile.model_dump() if body.profile else None
    if profile is not None:
        check_public_text({"profile.name": profile["name"]})
    metadata_hash = body.metadata_hash.lower() if body.metadata_hash else None
    if profile is not None:
        profile_hash = "0x" + keccak(orjson.dumps(profile, option=orjson.OPT_SORT_KEYS)).hex()
        if metadata_hash not in (None, profile_hash):
            raise ApiError(422, "metadata_mismatch", f"the profile hashes to {profile_hash}, not {metadata_hash}")
        metadata_hash = profile_hash
    assert metadata_hash is not None
    sender = services.sender_for(caller.owner)
    request = {"owner": owner, "metadata_hash": metadata_hash, "profile": profile}
    return _write(
        services,
        caller,
        "register_project",
        request,
        lambda: services.registry.send(sender, "registerProject", owner, _hex(metadata_hash)),
        201,
    )


@router.get(
    "/projects/{project_id}",
    response_model=ProjectView,
    response_model_exclude_unset=True,
    summary="A project: its on-chain record and its profile (name, region, kind)",
)
def project(project_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)], services: ServicesDep, reader: ReaderDep) -> dict:
    record = get_project(connection=reader, project_id=project_id)
    if record is None:
        raise not_found(f"project {project_id}")
    return {**record, "profile": project_profile(services, project_id), "review": project_review(services, project_id)}


@router.post(
    "/evidence",
    response_model=EvidenceBundle,
    responses=EVIDENCE_LINKS,
    response_model_exclude_unset=True,
    status_code=201,
    summary="Upload a bundle of evidence files; the node attests its root",
)
def upload_evidence(
    caller: CallerDep,
    services: ServicesDep,
    reader: ReaderDep,
    project_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    files: Annotated[list[UploadFile], File(description="monitoring report, inventory, photos ...")],
    kind: Annotated[SingleLine, Form(min_length=1, max_length=64)] = "monitoring-report",
) -> dict[str, object]:
    project = get_project(connection=reader, project_id=project_id)
    if project is None:
        raise not_found(f"project {project_id}")
    if project["owner"] != caller.account and not caller.roles:
        raise ApiError(403, "forbidden", "only the project's owner or an accredited participant uploads its evidence")
    # Each part is read from python-multipart's spool in chunks (node.evidence.intake), never whole.
    if not files or any(f.size == 0 for f in files):
        raise ApiError(422, "validation_error", "files: at least one non-empty file is needed")
    bundle = create_bundle(
        services.evidence,
        [(f.filename or "file", f.file) for f in files],
        project_id=project_id,
        kind=kind,
        attestor=services.account(caller.owner.key_name),
        chain_id=services.manifest.chain_id,
        registry=services.manifest.registry.address,
        attested_at=int(time.time()),
        max_bytes=services.settings.max_upload_bytes,
    )
    save_bundle(services.evidence, bundle)
    return bundle.as_dict()


@router.get(
    "/evidence/{root}",
    response_model=EvidenceBundle,
    response_model_exclude_unset=True,
    summary="An evidence bundle: files, root and the signed attestation",
)
def evidence_bundle(root: Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{64}$")], services: ServicesDep) -> dict:
    return load_bundle(services.evidence, root).as_dict()


@router.get(
    "/evidence/{root}/proof/{digest}",
    response_model=EvidenceProof,
    response_model_exclude_unset=True,
    summary="A file's proof document, checkable offline",
)
def evidence_proof(
    root: Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{64}$")],
    digest: Annotated[str, ApiPath(pattern=r"^[0-9a-f]{64}$")],
    services: ServicesDep,
) -> dict:
    return load_bundle(services.evidence, root).proof_document(digest)


def not_json(error: orjson.JSONDecodeError) -> str:
    """What is wrong with a body the JSON parser refused: a number past the 64-bit float's range (1e999, or an
    integer of 310 digits) is named as such, with where it is; anything else is not JSON."""
    if "infinity" in error.msg:
        where = f"line {error.lineno} column {error.colno}"
        return f"body: a number is out of range (infinite as a 64-bit float) at {where}"
    return "body: not JSON"


@router.post(
    "/projects/{project_id}/monitoring",
    response_model=MonitoringResult,
    response_model_exclude_unset=True,
    status_code=201,
    openapi_extra=MONITORING_REQUEST_BODY,  # documents the body; registry.accounting.parse_monitoring parses it
    summary="Submit monitoring data: the node computes the net sink (SL-GS-001) and attests data and computation",
)
async def submit_monitoring_report(
    project_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)],
    request: Request,
    caller: CallerDep,
    services: ServicesDep,
    reader: ReaderDep,
) -> dict:
    project = get_project(connection=reader, project_id=project_id)
    if project is None:
        raise not_found(f"project {project_id}")
    if project["owner"] != caller.account:
        raise ApiError(403, "forbidden", "only the project's owner submits its monitoring data")
    try:
        report = orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise ApiError(422, "validation_error", not_json(error)) from None
    return await run_in_threadpool(
        submit_monitoring, services, reader, project_id=project_id, key_name=caller.owner.key_name,
        owner=caller.account, report=report,
    )  # fmt: skip


@router.get(
    "/projects/{project_id}/accounting",
    response_model=list[AccountingRecord],
    response_model_exclude_unset=True,
    summary="Every computation of a project's monitoring data (public)",
)
def project_accounting(project_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)], services: ServicesDep) -> list[dict]:
    return services.state.project_accounting(project_id)


@router.post("/verifications", summary="A verifier signs a verification statement (EIP-712)")
def sign_statement(body: VerificationStatementIn, caller: VerifierDep, services: ServicesDep) -> VerificationSigned:
    _check(services, body)
    require_flags_acknowledged(services, evidence_root=body.evidence_root, verifier=caller.account)
    statement = _statement(body)
    domain = services.registry.domain()
    signature = sign_verification(services.account(caller.owner.key_name), domain, statement)
    return VerificationSigned(
        statement=body,
        digest="0x" + statement_digest(domain, statement).hex(),
        verifier=caller.account,
        signature={"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()},
    )


@router.post(
    "/batches",
    responses=BATCH_LINKS,
    status_code=201,
    summary="An issuer issues the batch a signed statement covers",
)
def issue_batch(body: IssueRequest, caller: IssuerDep, services: ServicesDep) -> TxResult:
    # Refused before anything is recorded or sent: this node issues only what its monitoring data computes.
    _check(services, body.statement, issuing=True)
    signature = Signature(body.signature.v, _hex(body.signature.r), _hex(body.signature.s))
    verifier = recover_verifier(services.registry.domain(), _statement(body.statement), signature)
    require_flags_acknowledged(services, evidence_root=body.statement.evidence_root, verifier=verifier)
    sender = services.sender_for(caller.owner)
    return _write(
        services,
        caller,
        "issue",
        body.model_dump(),
        lambda: services.registry.issue(sender, _statement(body.statement), signature)[1],
        201,
    )


@router.post(
    "/transfers", responses=WRITE_RESPONSES, summary="Transfer part of a batch to another registered participant"
)
def transfer(body: TransferRequest, caller: CallerDep, services: ServicesDep) -> TxResult:
    sender = services.sender_for(caller.owner)
    return _write(
        services,
        caller,
        "transfer",
        body.model_dump(),
        lambda: services.registry.transfer(sender, body.batch_id, body.to.lower(), body.amount, _hex(body.deal_ref)),
        200,
    )


@router.post(
    "/retirements", responses=RETIREMENT_LINKS, status_code=201, summary="Retire units for a beneficiary (final)"
)
def retire(body: RetireRequest, caller: CallerDep, services: ServicesDep) -> TxResult:
    request = RetirementRequest(
        batch_id=body.batch_id,
        amount=body.amount,
        beneficiary=body.beneficiary,
        beneficiary_hash=_hex(body.beneficiary_hash) if body.beneficiary_hash else bytes(32),
        reason=body.reason,
        consumption_start=body.consumption_start,
        consumption_end=body.consumption_end,
        region=body.region.encode().ljust(16, b"\0"),
    )
    sender = services.sender_for(caller.owner)
    return _write(
        services, caller, "retire", body.model_dump(), lambda: services.registry.retire(sender, request)[1], 201
    )


@router.get(
    "/me/points",
    response_model=Points,
    response_model_exclude_unset=True,
    summary="The caller's carbon points (碳普惠), one per 10 g retired",
)
def my_points(caller: CallerDep, services: ServicesDep) -> dict:
    return services.state.points(caller.account)


@router.get(
    "/points/{holder}",
    response_model=Points,
    response_model_exclude_unset=True,
    summary="Carbon points of a shopper or account (any participant may ask)",
)
def holder_points(
    holder: Annotated[str, ApiPath(min_length=1, max_length=64)], caller: CallerDep, services: ServicesDep
) -> dict:
    return services.state.points(holder.lower() if holder.startswith("0x") else holder)


@router.get(
    "/me/holdings",
    response_model=list[Holding],
    response_model_exclude_unset=True,
    summary="The caller's balances by batch",
)
def my_holdings(caller: CallerDep, reader: ReaderDep) -> list[dict]:
    return holdings(connection=reader, account=caller.account)


@router.get(
    "/me/history",
    response_model=EventPage,
    response_model_exclude_unset=True,
    summary="The caller's events, newest last, a page at a time",
)
def my_history(
    caller: CallerDep,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorQuery = None,
) -> dict:
    after = parse_cursor(cursor)
    events, next_cursor = search_events(connection=reader, account=caller.account, after=after, limit=limit)
    return {"events": events, "next_cursor": next_cursor}
