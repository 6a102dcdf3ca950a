"""ESG retirement statements over HTTP: an organisation's accounts (or a regulator) ask for one; its PDF, CSV and
canonical JSON are theirs to download; anyone holding a copy checks it, by the public verification page its
QR code leads to or by asking whether the file's SHA-256 is one the node issued."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse, Response

from node.api.deps import CallerDep, ReaderDep, ServicesDep
from node.api.labels import LABELS
from node.api.responses import EsgStatement, StatementCheck
from node.api.schemas import StatementRequest
from node.api.site import Lang, page
from node.reports.esg import issue_statement, parse_period, statement_file, stored_statement, verify_copy

router = APIRouter(tags=["statements"])
StatementHash = Annotated[str, ApiPath(pattern=r"^0x[0-9a-f]{64}$")]
_MEDIA = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8", "json": "application/json"}


@router.post(
    "/v1/statements",
    response_model=EsgStatement,
    status_code=201,
    summary="Issue an organisation's ESG retirement statement for a period (its own accounts or a regulator)",
)
def new_statement(body: StatementRequest, caller: CallerDep, services: ServicesDep, reader: ReaderDep) -> dict:
    first, last = parse_period(body.first_day, body.last_day)
    return issue_statement(services, reader, caller, body.organisation, first, last)


@router.get(
    "/v1/statements/verify",
    response_model=StatementCheck,
    response_model_exclude_unset=True,
    summary="Is the file with this SHA-256 a statement PDF or CSV this node issued? (the file stays with you)",
)
def verify(sha256: Annotated[str, Query(pattern=r"^[0-9a-f]{64}$", description="of the PDF or CSV copy")],
           services: ServicesDep) -> dict[str, Any]:  # fmt: skip
    return verify_copy(services, sha256)


@router.get(
    "/v1/statements/{hash_hex}.{kind}",
    response_class=Response,
    responses={200: {"content": {media: {} for media in _MEDIA.values()}}},
    summary="The statement's PDF, CSV or canonical JSON, exactly as issued",
)
def statement_download(
    hash_hex: StatementHash,
    kind: Annotated[str, ApiPath(pattern=r"^(pdf|csv|json)$")],
    caller: CallerDep,
    services: ServicesDep,
) -> Response:
    content = statement_file(services, caller, hash_hex, kind)
    name = f"statement-{hash_hex[2:14]}.{kind}"
    return Response(content, media_type=_MEDIA[kind], headers={"content-disposition": f'attachment; filename="{name}"'})


@router.get(
    "/v1/statements/{hash_hex}", response_model=EsgStatement, summary="A statement's lines, totals and signature"
)
def statement(hash_hex: StatementHash, services: ServicesDep) -> dict[str, Any]:
    return stored_statement(services, hash_hex)


@router.get("/statements/{hash_hex}", response_class=HTMLResponse, include_in_schema=False)
def statement_page(request: Request, hash_hex: StatementHash, services: ServicesDep, lang: Lang = "zh") -> HTMLResponse:
    found = stored_statement(services, hash_hex)
    return page(request, "statement.html", title=LABELS[lang]["statement_verify_title"], s=found)
