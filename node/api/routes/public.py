"""Public reads, no token: batches and their provenance, retirement certificates, the registry, QR codes."""

import io
from collections.abc import Sequence
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Query, Response
from fastapi import Path as ApiPath

from node.api.csv_export import csv_response, scalar_fields
from node.api.deps import CursorQuery, ReaderDep, ServicesDep, parse_cursor
from node.api.errors import not_found
from node.api.responses import (
    CSV,
    IMAGES,
    BatchRecord,
    BatchWithProject,
    NodeStatus,
    ProjectRecord,
    Provenance,
    RetirementCertificate,
    RetirementRecord,
)
from node.index.queries import (
    get_batch,
    get_project,
    get_retirement,
    index_digest,
    list_batches,
    list_projects,
    list_retirements,
)
from node.projects.issuance import backing
from node.projects.provenance import provenance
from node.risk.worker import RiskWorker
from node.services import Services

router = APIRouter(prefix="/v1", tags=["public"])
BatchPath = Annotated[int, ApiPath(ge=1, le=2**63 - 1)]


def as_csv(rows: list[dict[str, Any]], name: str, columns: Sequence[str], services: Services) -> Response:
    """A CSV download (node.api.csv_export) with times in the node's calendar."""
    return csv_response(rows, name, columns, ZoneInfo(services.settings.aggregate_timezone))


@router.get(
    "/status",
    response_model=NodeStatus,
    response_model_exclude_unset=True,
    summary="The node: chain, registry, index checkpoint and digest",
)
def status(services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    last_block, events, digest = index_digest(connection=reader)
    return {
        "chain_id": services.manifest.chain_id,
        "registry": services.manifest.registry.address,
        "index": {"last_block": last_block, "events": events, "digest": digest},
        "risk": risk_status(services),
        # The write path: intents not settled yet, transactions awaiting a receipt, and what recoveries did.
        "writes": services.state.journal_summary(),
    }


def risk_status(services: Services) -> dict[str, Any]:
    """Where the risk rules run: off, in the indexer's thread, or in a process of their own (and whether it
    is running now: one that died is started again, warmed from the index, before the next range commits)."""
    if services.indexes_elsewhere:
        return {"mode": "other_worker"}  # the rules run where the index is written: in the indexing worker
    rules = services.indexer.applier.risk if services.indexer is not None else None
    if rules is None:
        return {"mode": "off"}
    if isinstance(rules, RiskWorker):
        return {"mode": "process", "running": rules.running}
    return {"mode": "thread"}


@router.get(
    "/batches/{batch_id}",
    response_model=BatchWithProject,
    response_model_exclude_unset=True,
    summary="A batch: project, period, supply, status, serial range, and whether this node's data backs it",
)
def batch(batch_id: BatchPath, services: ServicesDep, reader: ReaderDep) -> dict[str, Any]:
    found = get_batch(connection=reader, batch_id=batch_id)
    if found is None:
        raise not_found(f"batch {batch_id}")
    found["project"] = get_project(connection=reader, project_id=found["project_id"])
    found["backing"] = backing(services, found)
    return found


@router.get(
    "/batches/{batch_id}/provenance",
    response_model=Provenance,
    response_model_exclude_unset=True,
    summary="Everything that happened to a batch, a page at a time",
)
def batch_provenance(
    batch_id: BatchPath,
    services: ServicesDep,
    reader: ReaderDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    check_chain: bool = False,
) -> dict[str, Any]:
    return provenance(services, reader, batch_id, after=parse_cursor(cursor), limit=limit, check_chain=check_chain)


@router.get(
    "/retirements/{retirement_id}",
    response_model=RetirementCertificate,
    response_model_exclude_unset=True,
    summary="A retirement certificate",
)
def retirement(
    retirement_id: Annotated[int, ApiPath(ge=1, le=2**63 - 1)], services: ServicesDep, reader: ReaderDep
) -> dict[str, Any]:
    found = get_retirement(connection=reader, retirement_id=retirement_id)
    if found is None:
        raise not_found(f"retirement {retirement_id}")
    found["batch"] = get_batch(connection=reader, batch_id=found["batch_id"])
    found["page"] = f"{services.settings.base_url}/retirements/{retirement_id}"
    return found


@router.get(
    "/registry/projects",
    response_model=list[ProjectRecord],
    response_model_exclude_unset=True,
    responses={200: {"content": CSV}},
    summary="Every project (JSON or CSV)",
)
def registry_projects(
    services: ServicesDep,
    reader: ReaderDep,
    owner: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    status: Annotated[str | None, Query(pattern=r"^(active|suspended|closed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    format: Annotated[str, Query(pattern=r"^(json|csv)$")] = "json",
) -> Any:
    rows = list_projects(connection=reader, owner=owner, status=status, limit=limit, offset=offset)
    return as_csv(rows, "projects", scalar_fields(ProjectRecord), services) if format == "csv" else rows


@router.get(
    "/registry/batches",
    response_model=list[BatchRecord],
    response_model_exclude_unset=True,
    responses={200: {"content": CSV}},
    summary="Every batch with status, supply and serial range (JSON or CSV)",
)
def registry_batches(
    services: ServicesDep,
    reader: ReaderDep,
    project_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: Annotated[str | None, Query(pattern=r"^(active|frozen|revoked)$")] = None,
    verifier: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    vintage: Annotated[int | None, Query(ge=1970, le=9999)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    format: Annotated[str, Query(pattern=r"^(json|csv)$")] = "json",
) -> Any:
    rows = list_batches(
        connection=reader,
        project_id=project_id,
        status=status,
        verifier=verifier,
        vintage=vintage,
        limit=limit,
        offset=offset,
    )
    if format == "csv":
        for row in rows:
            row["outstanding"] = row["supply"]["outstanding"]
        return as_csv(rows, "batches", [*scalar_fields(BatchRecord), "outstanding"], services)
    return rows


@router.get(
    "/registry/retirements",
    response_model=list[RetirementRecord],
    response_model_exclude_unset=True,
    responses={200: {"content": CSV}},
    summary="Every retirement (JSON or CSV)",
)
def registry_retirements(
    services: ServicesDep,
    reader: ReaderDep,
    batch_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    holder: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    format: Annotated[str, Query(pattern=r"^(json|csv)$")] = "json",
) -> Any:
    rows = list_retirements(connection=reader, batch_id=batch_id, holder=holder, limit=limit, offset=offset)
    return as_csv(rows, "retirements", scalar_fields(RetirementRecord), services) if format == "csv" else rows


def _qr(url: str, image: str) -> Response:
    code = segno.make(url, error="m")
    out = io.BytesIO()
    if image == "svg":
        code.save(out, kind="svg", scale=8, border=4)
        return Response(out.getvalue(), media_type="image/svg+xml")
    code.save(out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), media_type="image/png")


@router.get(
    "/qr/batches/{batch_id}.{image}",
    response_class=Response,
    responses={200: {"content": IMAGES}},
    summary="QR code (SVG or PNG) of a batch's provenance page",
)
def batch_qr(
    batch_id: BatchPath,
    image: Annotated[str, ApiPath(pattern=r"^(svg|png)$")],
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    if get_batch(connection=reader, batch_id=batch_id) is None:
        raise not_found(f"batch {batch_id}")
    return _qr(f"{services.settings.base_url}/batches/{batch_id}", image)


@router.get(
    "/qr/retirements/{retirement_id}.{image}",
    response_class=Response,
    responses={200: {"content": IMAGES}},
    summary="QR code (SVG or PNG) of a retirement certificate",
)
def retirement_qr(
    retirement_id: Annotated[int, ApiPath(ge=1, le=2**63 - 1)],
    image: Annotated[str, ApiPath(pattern=r"^(svg|png)$")],
    services: ServicesDep,
    reader: ReaderDep,
) -> Response:
    if get_retirement(connection=reader, retirement_id=retirement_id) is None:
        raise not_found(f"retirement {retirement_id}")
    return _qr(f"{services.settings.base_url}/retirements/{retirement_id}", image)
