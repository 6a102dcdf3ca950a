"""Security headers on every answer the node sends: JSON, pages, errors, 404s, /docs and its files.

A pure ASGI middleware that only touches `http.response.start`, so bodies stream as before and the answers of
middleware inside it (429s, 500s, 413s) get the headers too. The policy allows no inline script or style: the
pages link their CSS from /static and /docs starts Swagger UI from a file (node.api.docs).
"""

from collections.abc import Callable

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Swagger UI's icons are data: URIs in its CSS
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
# A year, as browsers' preload lists ask; sent only when the node is reached over https (see `headers_for`).
HSTS = "max-age=31536000; includeSubDomains"


def headers_for(public_url: str | None) -> list[tuple[str, str]]:
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers that predate it
    ]
    # Over plain http the header is ignored at best, and pins a dev host name to https at worst.
    if (public_url or "").lower().startswith("https://"):
        headers.append(("Strict-Transport-Security", HSTS))
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, headers: list[tuple[str, str]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers.setdefault(name, value)  # a route that needs a narrower policy keeps its own
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI, public_url: str | None) -> None:
    """Wraps the whole middleware stack, the request-id and server-error layers included: `add_middleware` can
    only go inside the latter, whose 500s would then leave without the headers. Called last, it is outermost."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack
    headers = headers_for(public_url)
    app.build_middleware_stack = lambda: SecurityHeaders(build(), headers)  # type: ignore[method-assign]
