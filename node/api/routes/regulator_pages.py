"""The regulator in a browser: sign in with an API token (a session cookie: HttpOnly, SameSite=Strict, for
/regulator only, expiring; a CSRF token in every form), then the alerts with their handling forms and the
supervision report with its date range, and sign out. The report page also still takes a bearer token."""

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ValidationError

from node.actors import Caller
from node.api.deps import ReaderDep, ServicesDep, current_caller
from node.api.errors import ApiError, status_of
from node.api.labels import LABELS
from node.api.routes.supervision import new_measure
from node.api.schemas import MEASURE_KINDS, AlertAction, MeasureRequest, ReviewDecision, SqlRequest
from node.api.site import Lang, page, people_of
from node.chain.registry import ROLE_REGULATOR
from node.errors import CodedError
from node.index.queries import get_participant, get_project, list_projects
from node.projects.profiles import project_profile
from node.risk.config import RULES
from node.services import Services
from node.supervision.charts import bar_chart
from node.supervision.oversight import (
    APPROVED_PROJECTS,
    act_on_alert,
    list_alerts,
    measures_of,
    project_review,
    review_project,
    supervision_report,
)
from node.supervision.reconcile import reconcile
from node.supervision.sqlschema import index_schema

router = APIRouter(include_in_schema=False)
ModelT = TypeVar("ModelT", bound=BaseModel)
SESSION_COOKIE = "sl_session"
SIGN_IN_COOKIE = "sl_sign_in"  # the sign-in form's CSRF token (double submit), before there is a session
SESSION_S = 8 * 3600
REPORT_DAYS = 30
FormLang = Annotated[str, Form(pattern=r"^(zh|en)$")]


def _cookie(response: Response, services: Services, name: str, value: str, max_age: int) -> None:
    secure = services.settings.base_url.startswith("https://")
    response.set_cookie(name, value, max_age=max_age, path="/regulator", httponly=True, samesite="strict",
                        secure=secure)  # fmt: skip


def signed_in(request: Request, services: Services, reader: Any) -> tuple[Caller, str] | None:
    """The regulator this browser signed in as, and the session's CSRF token; None without a live session of
    a regulator's unrevoked token."""
    cookie = request.cookies.get(SESSION_COOKIE)
    found = services.state.session(cookie) if cookie else None
    if found is None:
        return None
    owner, csrf = found
    participant = get_participant(connection=reader, address=owner.account)
    if participant is None:
        return None
    caller = Caller(owner, participant["roles"], participant["organisation"], bool(participant["frozen"]))
    return (caller, csrf) if caller.has(ROLE_REGULATOR) else None


def _to_sign_in(request: Request, lang: str) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _back(f"/regulator/sign-in?next={quote(here, safe='')}", lang)


def _check_csrf(expected: str | None, given: str) -> None:
    if not expected or not secrets.compare_digest(expected.encode(), given.encode()):
        raise ApiError(403, "csrf_failed", "the form's CSRF token does not match this session: reload the page")


def _session_or_sign_in(request: Request, services: Services, reader: Any, lang: str) -> tuple[Caller, str] | Response:
    """A regulator page's session, or the way to the sign-in form (and back)."""
    found = signed_in(request, services, reader)
    return found if found is not None else _to_sign_in(request, lang)


def _form_caller(request: Request, services: Services, reader: Any, csrf: str) -> tuple[Caller, str]:
    """Who sent a regulator's form, its CSRF token checked against the session's: (caller, that token)."""
    found = signed_in(request, services, reader)
    if found is None:
        raise ApiError(401, "unauthenticated", "sign in again: the session is over")
    _check_csrf(found[1], csrf)
    return found


def _back(target: str, lang: str) -> RedirectResponse:
    """After a form: 303 to a regulator page (whose query `target` carries), in the form's language."""
    return RedirectResponse(target + ("&lang=en" if lang == "en" else ""), status_code=303)


def _regulator_page(request: Request, services: Services, reader: Any, template: str, caller: Caller, csrf: str,
                    addresses: list[str] | None = None, **context: Any) -> HTMLResponse:  # fmt: skip
    """A signed-in regulator's page: the bar with who is signed in and the sign-out form, and the names of
    the participants it shows."""
    people = people_of(services, reader, [caller.account, *(addresses or [])])
    return page(request, template, caller=caller, csrf=csrf, people=people, **context)


def _checked(model: type[ModelT], **fields: Any) -> ModelT:
    """A form's fields through the API's own request model: its refusals are 422, as the API's are."""
    try:
        return model(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise ApiError(422, "validation_error", f"{where}: {first.get('msg')}") from None


def _safe_next(target: str) -> str:
    """Only a regulator page of this site (no open redirect)."""
    return target if target.startswith("/regulator/") and not target.startswith("//") else "/regulator/alerts"


@router.get("/regulator", response_class=HTMLResponse)
def regulator_home(lang: Lang = "zh") -> RedirectResponse:
    return RedirectResponse("/regulator/alerts" + ("?lang=en" if lang == "en" else ""), status_code=303)


@router.get("/regulator/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    next_page: Annotated[str, Query(alias="next", max_length=500)] = "/regulator/alerts",
    lang: Lang = "zh",
) -> Response:
    if signed_in(request, services, reader) is not None:  # already signed in: where the form would lead
        return RedirectResponse(_safe_next(next_page) + ("?lang=en" if lang == "en" and "?" not in next_page else ""),
                                status_code=303)  # fmt: skip
    csrf = secrets.token_urlsafe(24)
    response = page(request, "signin.html", title=LABELS[lang]["sign_in_title"], csrf=csrf, next=_safe_next(next_page),
                    failed=False)  # fmt: skip
    _cookie(response, services, SIGN_IN_COOKIE, csrf, 600)
    return response


@router.post("/regulator/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    token: Annotated[str, Form(min_length=1, max_length=200)],
    csrf: Annotated[str, Form(max_length=100)],
    next_page: Annotated[str, Form(alias="next", max_length=500)] = "/regulator/alerts",
    lang: FormLang = "zh",
) -> Response:
    _check_csrf(request.cookies.get(SIGN_IN_COOKIE), csrf)
    owner = services.state.owner_of(token)
    participant = get_participant(connection=reader, address=owner.account) if owner else None
    opened = (
        services.state.open_session(token, SESSION_S) if participant and participant["roles"] & ROLE_REGULATOR else None
    )
    if opened is None:
        fresh = secrets.token_urlsafe(24)
        response = page(request, "signin.html", status_code=401, title=LABELS[lang]["sign_in_title"], csrf=fresh,
                        next=_safe_next(next_page), failed=True)  # fmt: skip
        _cookie(response, services, SIGN_IN_COOKIE, fresh, 600)
        return response
    session, _ = opened
    target = _safe_next(next_page)
    if lang == "en" and "lang=" not in target:
        target += ("&" if "?" in target else "?") + "lang=en"
    response = RedirectResponse(target, status_code=303)
    _cookie(response, services, SESSION_COOKIE, session, SESSION_S)
    response.delete_cookie(SIGN_IN_COOKIE, path="/regulator")
    return response


@router.post("/regulator/sign-out", response_class=HTMLResponse)
def sign_out(
    request: Request, services: ServicesDep, reader: ReaderDep, csrf: Annotated[str, Form(max_length=100)]
) -> Response:
    found = signed_in(request, services, reader)
    if found is not None:
        _check_csrf(found[1], csrf)
        services.state.close_session(request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/regulator")
    return response


@router.get("/regulator/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    rule: Annotated[str, Query(pattern="^(|" + "|".join(RULES) + ")$")] = "",
    severity: Annotated[str, Query(pattern=r"^(|low|medium|high)$")] = "",
    status: Annotated[str, Query(pattern=r"^(|open|acknowledged|escalated|closed|false_positive)$")] = "open",
    done: Annotated[str, Query(pattern=r"^(|acknowledged|escalated|closed|false_positive)$")] = "",
    lang: Lang = "zh",
) -> Response:
    found = _session_or_sign_in(request, services, reader, lang)
    if isinstance(found, Response):
        return found
    caller, csrf = found
    rows = list_alerts(services, reader, rule=rule or None, severity=severity or None, status=status or None,
                       participant=None, since=None, until=None, limit=100, offset=0)  # fmt: skip
    services.state.log_query(account=caller.account, endpoint="alerts page",
                             params={"rule": rule, "severity": severity, "status": status},
                             outcome=f"{len(rows)} alerts")  # fmt: skip
    named = [p for row in rows for p in row["participants"]]
    filters = {"rule": rule, "severity": severity, "status": status}
    return _regulator_page(request, services, reader, "alerts.html", caller, csrf, named,
                           title=LABELS[lang]["alerts_title"], alerts=rows, f=filters, done=done)  # fmt: skip


OUTCOME = {
    "acknowledge": "acknowledged",
    "escalate": "escalated",
    "close": "closed",
    "false_positive": "false_positive",
}


@router.post("/regulator/alerts/{key}/action", response_class=HTMLResponse)
def alert_action_form(
    request: Request,
    key: Annotated[str, ApiPath(pattern=r"^[0-9a-f]{32}$")],
    services: ServicesDep,
    reader: ReaderDep,
    action: Annotated[str, Form(pattern=r"^(acknowledge|escalate|close|false_positive)$")],
    note: Annotated[str, Form(min_length=1, max_length=2000)],
    csrf: Annotated[str, Form(max_length=100)],
    lang: FormLang = "zh",
) -> Response:
    caller, _ = _form_caller(request, services, reader, csrf)
    checked = _checked(AlertAction, action=action, note=note)  # the API's own rules for the note (control characters)
    act_on_alert(services, reader, caller, key, checked.action, checked.note)
    return _back(f"/regulator/alerts?done={OUTCOME[action]}", lang)


@router.get("/regulator/report", response_class=HTMLResponse)
def report_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    since: Annotated[str, Query(pattern=r"^(|\d{4}-\d{2}-\d{2})$")] = "",
    until: Annotated[str, Query(pattern=r"^(|\d{4}-\d{2}-\d{2})$")] = "",
    lang: Lang = "zh",
) -> Response:
    """The supervision report for a date range, the last 30 days (in the aggregates' calendar) by default;
    for a signed-in regulator, or a request with a regulator's bearer token."""
    found = signed_in(request, services, reader)
    caller, csrf = found if found is not None else (None, "")
    if caller is None:
        if "authorization" not in request.headers:
            return _to_sign_in(request, lang)
        bearer = request.headers["authorization"].removeprefix("Bearer ").strip()
        caller = current_caller(services, reader, HTTPAuthorizationCredentials(scheme="Bearer", credentials=bearer))
        if not caller.has(ROLE_REGULATOR):
            raise ApiError(403, "forbidden", f"{caller.account} does not hold the regulator role")
    today = datetime.now(ZoneInfo(services.settings.aggregate_timezone)).date()
    until = until or today.isoformat()
    since = since or (today - timedelta(days=REPORT_DAYS - 1)).isoformat()
    data = supervision_report(services, reader, since, until)
    services.state.log_query(account=caller.account, endpoint="report page", params={"since": since, "until": until},
                             outcome=f"{len(data['alerts'])} rules alerted")  # fmt: skip
    t = LABELS[lang]
    days = [v["day"] for v in data["volumes"]]
    series = {
        t[f"{kind}_series"]: [v[kind] / 1e6 for v in data["volumes"]] for kind in ("issued", "transferred", "retired")
    }
    volumes = bar_chart(t["volumes_chart"], days, series, unit=" t")
    outcomes = ("open", "acknowledged", "escalated", "closed", "false_positive")
    rules = [t["rules"].get(a["rule"], a["rule"]) for a in data["alerts"]]
    by_outcome = {t["alert_statuses"][o]: [a.get(o, 0) for a in data["alerts"]] for o in outcomes}
    alerts = bar_chart(t["alerts_chart"], rules, by_outcome, whole=True)
    return page(request, "report.html", title=t["report_title"], caller=caller if found else None, csrf=csrf,
                since=since, until=until, data=data, volumes_svg=volumes, alerts_svg=alerts,
                people=people_of(services, reader, [caller.account]))  # fmt: skip


@router.get("/regulator/sql", response_class=HTMLResponse)
def sql_page(request: Request, services: ServicesDep, reader: ReaderDep, lang: Lang = "zh") -> Response:
    found = _session_or_sign_in(request, services, reader, lang)
    if isinstance(found, Response):
        return found
    caller, csrf = found
    return _regulator_page(request, services, reader, "sql.html", caller, csrf, title=LABELS[lang]["sql_title"],
                           query="", result=None, refused=None, schema=index_schema(reader))  # fmt: skip


@router.post("/regulator/sql", response_class=HTMLResponse)
def sql_run(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    query: Annotated[str, Form(min_length=1, max_length=10_000)],
    csrf: Annotated[str, Form(max_length=100)],
    lang: FormLang = "zh",
) -> Response:
    """The API's console (POST /v1/regulator/sql) from a form: the same worker, limits and audit log."""
    caller, expected = _form_caller(request, services, reader, csrf)
    checked = _checked(SqlRequest, query=query)
    result, refused, status = None, None, 200
    try:
        answer = services.sql_pool().run(checked.query)
        result = orjson.loads(answer.body)
        outcome = f"{answer.rows} rows"
    except (ApiError, CodedError) as error:
        refused, status = {"code": error.code, "message": error.message}, status_of(error)
        outcome = f"refused: {error.code}"
    services.state.log_query(account=caller.account, endpoint="sql page", params={"query": checked.query},
                             outcome=outcome)  # fmt: skip
    return _regulator_page(request, services, reader, "sql.html", caller, expected, status_code=status,
                           title=LABELS[lang]["sql_title"], query=checked.query, result=result, refused=refused,
                           schema=index_schema(reader))  # fmt: skip


@router.get("/regulator/reconciliation", response_class=HTMLResponse)
def reconciliation_page(request: Request, services: ServicesDep, reader: ReaderDep, lang: Lang = "zh") -> Response:
    found = _session_or_sign_in(request, services, reader, lang)
    if isinstance(found, Response):
        return found
    caller, csrf = found
    report = reconcile(services, reader)
    outcome = f"{len(report['differences'])} differences in {report['checks']} checks"
    services.state.log_query(account=caller.account, endpoint="reconciliation page", params={}, outcome=outcome)
    return _regulator_page(request, services, reader, "reconciliation.html", caller, csrf,
                           title=LABELS[lang]["reconciliation_section"], report=report)  # fmt: skip


REVIEW_PAGE = 100


@router.get("/regulator/reviews", response_class=HTMLResponse)
def reviews_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    done: Annotated[str, Query(pattern=r"^(|\d{1,10})$")] = "",
    lang: Lang = "zh",
) -> Response:
    """The projects whose review has not approved them (pending or rejected), oldest first, with a form each."""
    found = _session_or_sign_in(request, services, reader, lang)
    if isinstance(found, Response):
        return found
    caller, csrf = found
    approved = {row["project_id"] for row in services.state.rows(APPROVED_PROJECTS)}
    waiting = [p for p in list_projects(connection=reader, limit=5_000) if p["id"] not in approved][:REVIEW_PAGE]
    for project in waiting:
        project["profile"] = project_profile(services, project["id"])
        project["review"] = project_review(services, project["id"])
    return _regulator_page(request, services, reader, "reviews.html", caller, csrf, [p["owner"] for p in waiting],
                           title=LABELS[lang]["reviews_title"], projects=waiting, done=done)  # fmt: skip


@router.post("/regulator/reviews/{project_id}", response_class=HTMLResponse)
def review_form(
    request: Request,
    project_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)],
    services: ServicesDep,
    reader: ReaderDep,
    decision: Annotated[str, Form(pattern=r"^(approved|rejected)$")],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    csrf: Annotated[str, Form(max_length=100)],
    lang: FormLang = "zh",
) -> Response:
    caller, _ = _form_caller(request, services, reader, csrf)
    checked = _checked(ReviewDecision, decision=decision, reason=reason)  # the API's own rules for the reason
    if get_project(connection=reader, project_id=project_id) is None:
        raise ApiError(404, "not_found", f"project {project_id} does not exist")
    review_project(services, caller, project_id, checked.decision, checked.reason)
    return _back(f"/regulator/reviews?done={project_id}", lang)


Number = Annotated[str, Form(pattern=r"^(|\d{1,20})$")]  # a form's optional number: blank is none


@router.get("/regulator/measures", response_class=HTMLResponse)
def measures_page(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    participant: Annotated[str, Query(pattern=r"^(|0x[0-9a-fA-F]{40})$")] = "",
    done: Annotated[str, Query(pattern="^(|" + "|".join(MEASURE_KINDS) + ")$")] = "",
    lang: Lang = "zh",
) -> Response:
    """The measure form, and the measures already taken on a participant (after one is taken)."""
    found = _session_or_sign_in(request, services, reader, lang)
    if isinstance(found, Response):
        return found
    caller, csrf = found
    history = measures_of(services, participant.lower()) if participant else []
    return _regulator_page(request, services, reader, "measures.html", caller, csrf,
                           title=LABELS[lang]["measures_section"], done=done, participant=participant,
                           history=history)  # fmt: skip


@router.post("/regulator/measures", response_class=HTMLResponse)
def measure_form(
    request: Request,
    services: ServicesDep,
    reader: ReaderDep,
    participant: Annotated[str, Form(max_length=42)],
    kind: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    csrf: Annotated[str, Form(max_length=100)],
    batch_id: Number = "",
    amount: Number = "",
    loss_project_id: Number = "",
    lang: FormLang = "zh",
) -> Response:
    """The API's measure (POST /v1/regulator/measures) from a form: the same checks, ledger calls and log."""
    caller, _ = _form_caller(request, services, reader, csrf)
    body = _checked(
        MeasureRequest,
        participant=participant, kind=kind, reason=reason, batch_id=int(batch_id) if batch_id else None,
        amount=int(amount) if amount else None, loss_project_id=int(loss_project_id) if loss_project_id else None,
    )  # fmt: skip
    new_measure(body, caller, services, reader)
    return _back(f"/regulator/measures?done={kind}&participant={participant.lower()}", lang)
