"""HTML pages for people, in Chinese and English: the home page and its search, a batch's provenance and a
retirement certificate. A batch or retirement page re-checks the batch against the chain when it is rendered
and says so."""

import functools
import re
import sqlite3
from typing import Annotated, Any
from urllib.parse import quote

import orjson
import segno
from fastapi import APIRouter, Query, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from node.api.deps import ReaderDep, ServicesDep, parse_cursor
from node.api.errors import not_found
from node.api.labels import LABELS
from node.api.site import Lang, page, people_of
from node.index.queries import (
    BATCH_STATUS,
    batch_by_serial,
    event_of_transaction,
    get_batch,
    get_project,
    get_retirement,
    index_digest,
    latest_retirements,
    list_batches,
    list_projects,
    registry_totals,
)
from node.market.listings import search_listings
from node.projects.issuance import backing
from node.projects.profiles import project_profile
from node.projects.provenance import chain_check, provenance
from node.services import Services
from node.supervision.oversight import project_review

router = APIRouter(tags=["pages"], include_in_schema=False)
RecordId = Annotated[int, ApiPath(ge=1, le=2**63 - 1)]  # a project, batch or retirement number


@functools.lru_cache(maxsize=4096)
def _qr_svg(url: str) -> str:
    """The page's QR code as inline SVG: a page's URL never changes, and drawing one costs some 15 ms."""
    return segno.make(url, error="m").svg_inline(scale=4, border=2)


@router.get("/", response_class=HTMLResponse)
def home_page(request: Request, reader: ReaderDep, lang: Lang = "zh") -> HTMLResponse:
    last_block, _, _ = index_digest(connection=reader)
    return page(
        request,
        "home.html",
        title=LABELS[lang]["home_title"],
        totals=registry_totals(connection=reader),
        retirements=latest_retirements(connection=reader),
        last_block=last_block,
    )


SERIAL = re.compile(r"^SL-(\d{1,18})-(\d{1,18})(?:-\d{1,30})?$", re.IGNORECASE)
RETIREMENT = re.compile(r"^(?:#|no\.?\s*)?(\d{1,18})$", re.IGNORECASE)
TX_HASH = re.compile(r"^0x[0-9a-f]{64}$", re.IGNORECASE)


def search_target(services: Services, reader: sqlite3.Connection, query: str) -> str | None:
    """The page a search names: a batch serial (or one unit's serial), a retirement number, a transaction
    hash (its batch, or its retirement) or an offset order id; None when nothing matches."""
    if match := SERIAL.match(query):
        batch = batch_by_serial(connection=reader, project_id=int(match[1]), period_index=int(match[2]))
        return f"/batches/{batch}" if batch is not None else None
    if match := RETIREMENT.match(query):
        found = get_retirement(connection=reader, retirement_id=int(match[1]))
        return f"/retirements/{found['id']}" if found is not None else None
    if TX_HASH.match(query):
        event = event_of_transaction(connection=reader, chain_id=services.manifest.chain_id, tx_hash=query)
        if event is None:
            return None
        if event.get("retirement_id") is not None:
            return f"/retirements/{event['retirement_id']}"
        return f"/batches/{event['batch_id']}" if event["batch_id"] is not None else None
    if services.state.order(query) is not None:
        return f"/offsets/orders/{quote(query, safe='')}"
    return None


@router.get("/search", response_class=HTMLResponse, responses={303: {"description": "the page found"}})
def search_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    q: Annotated[str, Query(max_length=200)] = "",
    lang: Lang = "zh",
) -> Response:
    query = " ".join(q.split())
    target = search_target(services, reader, query) if query else None
    if target is not None:
        return RedirectResponse(target + (f"?lang={lang}" if lang != "zh" else ""), status_code=303)
    return page(request, "search.html", status_code=404 if query else 200, title=LABELS[lang]["search_label"],
                query=query)  # fmt: skip


REGISTRY_PAGE = 50
PROJECT_LISTINGS = 20  # the project page's newest listings; the rest are a search away (/market)


@router.get("/registry", response_class=HTMLResponse)
def registry_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    view: Annotated[str, Query(pattern=r"^(projects|batches)$")] = "projects",
    status: Annotated[str, Query(pattern=r"^(|active|suspended|closed|frozen|revoked)$")] = "",
    vintage: Annotated[int | None, Query(ge=1970, le=9999)] = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
    lang: Lang = "zh",
) -> HTMLResponse:
    """Projects or batches, filtered and paged (one row more than a page is read to know if one follows)."""
    offset = (page_number - 1) * REGISTRY_PAGE
    rows: list[dict[str, Any]]
    if view == "projects":
        rows = list_projects(connection=reader, status=status or None, limit=REGISTRY_PAGE + 1, offset=offset)
        for row in rows:
            row["profile"] = project_profile(services, row["id"])
    else:
        rows = list_batches(
            connection=reader, status=status or None, vintage=vintage, limit=REGISTRY_PAGE + 1, offset=offset
        )
    return page(
        request,
        "registry.html",
        title=LABELS[lang]["registry_title"],
        view=view,
        status=status,
        vintage=vintage,
        rows=rows[:REGISTRY_PAGE],
        more=len(rows) > REGISTRY_PAGE,
        page_number=page_number,
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(
    request: Request,
    project_id: RecordId,
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
) -> HTMLResponse:
    project = get_project(connection=reader, project_id=project_id)
    if project is None:
        raise not_found(f"project {project_id}")
    batches = list_batches(connection=reader, project_id=project_id, limit=500)
    for batch in batches:
        batch["accounting"] = services.state.accounting(batch["evidence_root"])
    profile = project_profile(services, project_id)
    return page(
        request,
        "project.html",
        title=f"{LABELS[lang]['project_title']} #{project_id}" + (f" · {profile['name']}" if profile else ""),
        project=project,
        profile=profile,
        people=people_of(services, reader, [project["owner"]]),
        review=project_review(services, project_id),
        batches=batches,
        listings=search_listings(services, reader, status=None, project_id=project_id, limit=PROJECT_LISTINGS + 1),
        listings_shown=PROJECT_LISTINGS,
    )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    request: Request,
    batch_id: RecordId,
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    record = provenance(services, reader, batch_id, after=parse_cursor(cursor), limit=100, check_chain=True)
    url = f"{services.settings.base_url}/batches/{batch_id}"
    return page(
        request,
        "batch.html",
        title=record["batch"]["serial_prefix"],
        batch=record["batch"],
        project=record["project"],
        evidence=record["evidence"],
        accounting=record["accounting"],
        events=record["events"],
        next_cursor=record["next_cursor"],
        check=record["chain_check"],
        backing=backing(services, record["batch"]),
        status_names=BATCH_STATUS,
        people=people_of(services, reader, _addresses_of(record)),
        qr_svg=_qr_svg(url),
    )


def _addresses_of(record: dict[str, Any]) -> list[str]:
    """Every participant a batch page names: its owner, verifier and issuer, and both sides of each event."""
    batch = record["batch"]
    found = [batch["owner"], batch["verifier"], batch["issuer"]]
    for event in record["events"]:
        found += [v for k, v in event["args"].items() if k in PARTY_ARGS and isinstance(v, str)]
    return found


PARTY_ARGS = ("from", "to", "owner", "holder", "bufferAccount", "regulator")


@router.get("/retirements/{retirement_id}", response_class=HTMLResponse)
def retirement_page(
    request: Request,
    retirement_id: RecordId,
    services: ServicesDep,
    reader: ReaderDep,
    lang: Lang = "zh",
) -> HTMLResponse:
    record = get_retirement(connection=reader, retirement_id=retirement_id)
    if record is None:
        raise not_found(f"retirement {retirement_id}")
    batch = get_batch(connection=reader, batch_id=record["batch_id"])
    assert batch is not None
    chain_check(services, batch)
    region = bytes.fromhex(record["region"][2:]).rstrip(b"\0").decode("ascii", errors="replace")
    url = f"{services.settings.base_url}/retirements/{retirement_id}"
    return page(
        request,
        "retirement.html",
        title=f"#{retirement_id}",
        r=record,
        batch=batch,
        people=people_of(services, reader, [record["holder"]]),
        region=region,
        qr_svg=_qr_svg(url),
    )


def proof_certificate_page(
    request: Request,
    reader: sqlite3.Connection,
    *,
    heading: str,
    verified: bool | None,
    verified_text: str,
    rows: list[tuple[str, str, str]],
    retirements: list[dict[str, Any]],
    proof: dict[str, Any] | None,
    download: str,
    download_name: str,
    url: str,
) -> HTMLResponse:
    """An offset order's or a subscription's certificate: the check in plain words (None: not retired yet),
    the figures, the retirements on chain whose Merkle root holds it, the proof, a JSON download and a QR."""
    serials = {}
    for retired in retirements:
        found = get_batch(connection=reader, batch_id=retired["batch_id"]) if retired.get("batch_id") else None
        if found is not None:
            serials[found["id"]] = found["serial_prefix"]
    return page(
        request,
        "proof_certificate.html",
        title=heading,
        heading=heading,
        verified=verified,
        verified_text=verified_text,
        retirement_numbers=", ".join(f"#{r['retirement_id']}" for r in retirements),
        rows=rows,
        retirements=retirements,
        serials=serials,
        proof_json=orjson.dumps(proof, option=orjson.OPT_INDENT_2).decode() if proof is not None else None,
        download=download,
        download_name=download_name,
        qr_svg=_qr_svg(url),
    )
