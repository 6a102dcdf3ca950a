"""Third-party auditors over HTTP: regulators grant, list and revoke scoped, time-limited read access and read
every query made under it; auditors read provenance, accounting reports, events and (if granted) evidence
files within their scope, each query logged (node.supervision.audit)."""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi import Path as ApiPath

from node.api.deps import CallerDep, CursorQuery, EventFiltersDep, ReaderDep, RegulatorDep, ServicesDep, parse_cursor
from node.api.errors import not_found
from node.api.responses import AccountingRecord, AuditGrant, AuditQuery, EventPage, Provenance
from node.api.routes.evidence_sharing import DigestPath, RootPath
from node.api.schemas import AuditGrantBody
from node.evidence.bundle import load_bundle
from node.index.queries import get_batch, search_events
from node.projects.provenance import provenance
from node.supervision.audit import AuditSession, grant_access, grant_of, grant_queries, grants, revoke_grant, shown

router = APIRouter(tags=["audit"])
GrantPath = Annotated[int, ApiPath(ge=1, le=2**53)]


@router.post("/v1/regulator/audit-grants", response_model=AuditGrant, status_code=201,
             summary="Grant an auditor read-only access to projects and participants for a period")  # fmt: skip
def new_grant(body: AuditGrantBody, caller: RegulatorDep, services: ServicesDep) -> dict[str, Any]:
    return grant_access(services, caller, body.model_dump())


@router.get("/v1/regulator/audit-grants", response_model=list[AuditGrant], response_model_exclude_none=True,
            summary="Every audit grant, live or not, with how many queries were made under it")  # fmt: skip
def all_grants(caller: RegulatorDep, services: ServicesDep) -> list[dict[str, Any]]:
    return grants(services)


@router.delete("/v1/regulator/audit-grants/{grant_id}", response_model=AuditGrant, response_model_exclude_none=True,
               summary="End an audit grant now; its tokens are revoked")  # fmt: skip
def end_grant(grant_id: GrantPath, caller: RegulatorDep, services: ServicesDep) -> dict[str, Any]:
    return revoke_grant(services, caller, grant_id)


@router.get("/v1/regulator/audit-grants/{grant_id}/queries", response_model=list[AuditQuery],
            summary="Every query made under an audit grant, newest first, allowed or refused")  # fmt: skip
def queries(grant_id: GrantPath, caller: RegulatorDep, services: ServicesDep,
            limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[dict[str, Any]]:  # fmt: skip
    return grant_queries(services, grant_id, limit)


@router.get("/v1/audit/grant", response_model=AuditGrant, response_model_exclude_none=True,
            summary="The auditor's own grant: scope and period")  # fmt: skip
def my_grant(caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    session = AuditSession(services, caller, "grant", {})
    session.log("read")
    return shown(services, grant_of(services, session.grant.id))  # type: ignore[union-attr]


@router.get("/v1/audit/events", response_model=EventPage, response_model_exclude_unset=True,
            summary="Chain events within the grant's scope, with the regulator's filters")  # fmt: skip
def audit_events(
    caller: CallerDep, services: ServicesDep, reader: ReaderDep, filters: EventFiltersDep
) -> dict[str, Any]:
    session = AuditSession(services, caller, "events", asdict(filters))
    grant = session.grant
    assert grant is not None
    if filters.project_id is not None:
        session.require(grant.covers_project(filters.project_id), f"project {filters.project_id}")
    if filters.account is not None:
        session.require(grant.covers_account(filters.account), f"participant {filters.account.lower()}")
    if filters.batch_id is not None:
        batch = get_batch(connection=reader, batch_id=filters.batch_id)
        session.require(batch is not None and _covers_batch(grant, batch), f"batch {filters.batch_id}")
    scope = (sorted(grant.projects), sorted(grant.participants))
    events, next_cursor = search_events(connection=reader, scope=scope, **filters.search())
    session.log(f"{len(events)} events")
    return {"events": events, "next_cursor": next_cursor}


def _covers_batch(grant: Any, batch: dict[str, Any]) -> bool:
    return grant.covers_project(batch["project_id"]) or grant.covers_account(batch["owner"])


@router.get("/v1/audit/batches/{batch_id}/provenance", response_model=Provenance, response_model_exclude_unset=True,
            summary="A batch's provenance, if the batch is within the grant's scope")  # fmt: skip
def audit_provenance(
    batch_id: Annotated[int, ApiPath(ge=1, le=2**63 - 1)],
    caller: CallerDep,
    services: ServicesDep,
    reader: ReaderDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    session = AuditSession(services, caller, "provenance", {"batch_id": batch_id, "cursor": cursor, "limit": limit})
    batch = get_batch(connection=reader, batch_id=batch_id)
    session.require(batch is not None and _covers_batch(session.grant, batch), f"batch {batch_id}")
    found = provenance(services, reader, batch_id, after=parse_cursor(cursor), limit=limit, check_chain=False)
    session.log(f"{len(found.get('events', []))} events")
    return found


@router.get("/v1/audit/projects/{project_id}/accounting", response_model=list[AccountingRecord],
            response_model_exclude_unset=True, summary="A project's accounting reports, if it is in scope")  # fmt: skip
def audit_accounting(project_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)], caller: CallerDep,
                     services: ServicesDep) -> list[dict[str, Any]]:  # fmt: skip
    session = AuditSession(services, caller, "accounting", {"project_id": project_id})
    session.require(session.grant is not None and session.grant.covers_project(project_id), f"project {project_id}")
    reports = services.state.project_accounting(project_id)
    session.log(f"{len(reports)} reports")
    return reports


@router.get("/v1/audit/evidence/{root}/files/{digest}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"}},
            summary="An evidence file of a project in scope, if the grant includes evidence")  # fmt: skip
def audit_evidence(root: RootPath, digest: DigestPath, caller: CallerDep, services: ServicesDep) -> Response:
    session = AuditSession(services, caller, "evidence", {"root": root, "digest": digest})
    grant = session.grant
    assert grant is not None
    session.require(grant.evidence, "evidence")
    bundle = load_bundle(services.evidence, root)
    session.require(grant.covers_project(bundle.attestation.project_id), f"the evidence of project "
                    f"{bundle.attestation.project_id}")  # fmt: skip
    if digest not in {f.digest for f in bundle.files}:
        session.log("not found")
        raise not_found(f"file {digest} in bundle {root}")
    session.log("served")
    return Response(services.evidence.get(digest), media_type="application/octet-stream")
