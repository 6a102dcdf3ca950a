"""What every page of the node's site shares: the language and its labels, numbers and times written for
people, the layout's links, and the HTML error page a browser gets where an API client gets the JSON error."""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from node.api.labels import LABELS, LANGUAGES
from node.index.queries import organisations_of
from node.projects.profiles import display_names
from registry.units import format_co2e, format_tonnes

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
Lang = Annotated[str, Query(pattern=r"^(zh|en)$")]  # a page's ?lang= (language_of reads it for the layout)
DEFAULT_ZONE = "Asia/Shanghai"
# Paths that only ever answer machines: an error there is JSON whatever the client accepts.
API_PREFIXES = ("/v1/", "/static/", "/docs", "/openapi.json", "/healthz", "/qr/")


def language_of(request: Request) -> str:
    """The page's language: `?lang=zh|en`, Chinese when absent or unknown."""
    lang = request.query_params.get("lang", "zh")
    return lang if lang in LANGUAGES else "zh"


def zone_of(request: Request) -> ZoneInfo:
    """The calendar of the node's aggregates, in which its pages give times."""
    services = getattr(request.app.state, "services", None)
    name = services.settings.aggregate_timezone if services is not None else DEFAULT_ZONE
    return ZoneInfo(name)


def local_time(ts: int | None, zone: ZoneInfo) -> str:
    """A time as people read it, with its zone: 2026-12-02 08:00 UTC+8."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts, zone)
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"{moment:%Y-%m-%d %H:%M} UTC{sign}{hours}{f':{rest:02d}' if rest else ''}"


def local_day(ts: int | None, zone: ZoneInfo) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d")


def share(bps: int | None) -> str:
    """Basis points as an exact percentage: 2000 → "20 %", 1250 → "12.5 %"."""
    if bps is None:
        return ""
    whole, rest = divmod(int(bps), 100)
    return f"{whole}.{rest:02d}".rstrip("0").rstrip(".") + " %"


def percent(fraction: str | float) -> str:
    """A fraction as an exact percentage, trailing zeros trimmed: "0.250000" → "25 %", "0.1234565" → "12.34565 %"."""
    digits = f"{Decimal(str(fraction)) * 100:f}"
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return f"{digits} %"


def with_query(request: Request, **changes: str | None) -> str:
    """This page's path and query with some parameters set (None drops one): links that keep the filters."""
    params = {key: value for key, value in request.query_params.items()}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return request.url.path + (f"?{urlencode(params)}" if params else "")


def who(address: str | None, people: dict[str, dict[str, Any]], labels: dict[str, Any], short: bool = True) -> Markup:
    """A participant as people read it: its display name with the address second, or, for an account this
    node has no name for, the address and the organisation the ledger gives it. `short`: the address cut to
    its ends (in tables), whole in a title; else whole. (A function, not a template macro: a batch page
    names hundreds of participants.)"""
    if not address:
        return Markup("")
    known = people.get(address.lower()) or {}
    name, organisation = known.get("name"), known.get("organisation")
    parts = [Markup('<span class="who">{}</span> ').format(name)] if name else []
    if short:
        parts.append(Markup('<span class="mono" title="{}">{}…{}</span>').format(address, address[:8], address[-6:]))
    else:
        parts.append(Markup('<span class="mono address">{}</span>').format(address))
    if not name and organisation:
        parts.append(Markup(" <small>({})</small>").format(labels["organisation_n"].format(n=organisation)))
    return Markup("").join(parts)


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page of the site in the request's language, with the layout's links and the formatting helpers."""
    lang = language_of(request)
    zone = zone_of(request)
    other = "en" if lang == "zh" else "zh"
    people = context.pop("people", {})
    labels = LABELS[lang]
    return templates.TemplateResponse(
        request,
        template,
        {
            "who": lambda address, short=True: who(address, people, labels, short),
            "lang": lang,
            "t": LABELS[lang],
            "other_language_url": with_query(request, lang=other),
            "here": with_query,
            "link": lambda path: f"{path}{'&' if '?' in path else '?'}lang={lang}" if lang != "zh" else path,
            "co2e": lambda grams: "" if grams is None else format_co2e(int(grams)),
            "tonnes": lambda grams: "" if grams is None else format_tonnes(int(grams)),
            "share": share,
            "day": lambda ts: local_day(ts, zone),
            "time": lambda ts: local_time(ts, zone),
            "number": lambda n: f"{int(n):,}",
            "percent": percent,
            # A label with markup in its fields (an address's span): the label is trusted, a plain field escaped.
            "fmt": lambda label, **fields: Markup(label).format(**fields),
            **context,
        },
        status_code=status_code,
    )


def wants_page(request: Request) -> bool:
    """A browser asking for a page or sending one of the site's forms (not an API client, not an asset): its
    errors are pages too."""
    if request.method not in ("GET", "HEAD", "POST") or request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status_code: int, code: str, message: str) -> HTMLResponse:
    """The site's error page: what happened in the page's language, the node's own message, a way home."""
    return page(request, "error.html", status_code=status_code, title=str(status_code), status=status_code,
                code=code, message=message)  # fmt: skip


def people_of(services: Any, reader: Any, addresses: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What a page knows of each participant it shows: the display name this node holds and the organisation
    the ledger gives it (either may be missing)."""
    wanted = [address.lower() for address in addresses if address]
    names = display_names(services, wanted)
    organisations = organisations_of(connection=reader, addresses=wanted)
    return {a: {"name": names.get(a), "organisation": organisations.get(a)} for a in set(wanted)}
