"""Limits on request bodies, applied before anything reads or parses them: a pure ASGI middleware, outermost.

Each route takes bodies up to a size (`BODY_KINDS` below is the one table of routes that differ from ordinary
JSON): a `Content-Length` over it is refused 413 `payload_too_large` before a byte is read, and a streamed
(chunked) body is counted as it arrives and refused the moment it passes the size, so nothing past the limit
is ever held. A JSON body (what the app would parse as JSON) is read whole, within its size, and scanned for
its nesting depth without parsing (node.api.json_depth): deeper than the limit is refused 422
`too_deeply_nested`, since a parser recursing that deep can crash the process. A body that passes goes on to
the app unchanged. Other bodies (multipart uploads) stream through, counted, never buffered here.
"""

import re
from dataclasses import dataclass
from enum import Enum

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.api.json_depth import deeper_than
from node.settings import Settings


class BodyKind(Enum):
    JSON = "json"
    BULK_JSON = "bulk JSON"
    UPLOAD = "upload"


# Routes whose bodies are not ordinary JSON, by path template; every other route takes ordinary JSON.
BODY_KINDS: dict[str, BodyKind] = {
    "/v1/offsets/logistics": BodyKind.BULK_JSON,
    "/v1/campaigns/{campaign_id}/subscriptions": BodyKind.BULK_JSON,
    "/v1/evidence": BodyKind.UPLOAD,
}

_TEMPLATES = [
    (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"), kind)
    for template, kind in BODY_KINDS.items()
]
# An upload's limit (max_upload_bytes) counts its files' bytes; the multipart framing around them (boundaries,
# part headers, the form fields) gets this much more, so a body refused here is one the route would refuse too.
MULTIPART_FRAMING_BYTES = 64 << 10
# Scanning a bigger body than this on the event loop would hold up every other request for milliseconds.
_SCAN_IN_THREAD_BYTES = 1 << 20


def body_kind(path: str) -> BodyKind:
    return next((kind for template, kind in _TEMPLATES if template.match(path)), BodyKind.JSON)


@dataclass(frozen=True)
class BodyLimits:
    json_bytes: int
    bulk_json_bytes: int
    upload_bytes: int
    json_depth: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "BodyLimits":
        return cls(
            json_bytes=settings.max_json_bytes,
            bulk_json_bytes=settings.max_bulk_json_bytes,
            upload_bytes=settings.max_upload_bytes + MULTIPART_FRAMING_BYTES,
            json_depth=settings.max_json_depth,
        )

    def bytes_for(self, kind: BodyKind) -> int:
        return {BodyKind.JSON: self.json_bytes, BodyKind.BULK_JSON: self.bulk_json_bytes}.get(kind, self.upload_bytes)


def parsed_as_json(kind: BodyKind, content_type: str) -> bool:
    """Whether the app would parse this body as JSON: FastAPI does for `application/json`, `application/*+json`
    and no content type at all; the bulk routes read their raw bytes as JSON whatever the type says."""
    media = content_type.partition(";")[0].strip().lower()
    if kind is BodyKind.BULK_JSON:
        return True
    if not media:
        return kind is BodyKind.JSON
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    # Connection: close, since the rest of a refused body is never read: the connection cannot be reused.
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> tuple[int, str, str]:
    return 413, "payload_too_large", f"the request body is over this route's limit of {limit} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # the last of a repeated header wins; the server refuses those anyway
        length_header = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if length_header is None and not chunked:
            await self.app(scope, receive, send)  # no body (a GET): nothing to limit, nothing buffered
            return
        kind = body_kind(scope["path"])
        limit = self.limits.bytes_for(kind)
        if length_header is not None and length_header.strip().isdigit() and int(length_header) > limit:
            await _refuse(send, *_too_large(limit))
            return
        if parsed_as_json(kind, headers.get(b"content-type", b"").decode("latin-1")):
            await self._json(scope, receive, send, limit)
        else:
            await self._counted(scope, receive, send, limit)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, *_too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        depth = self.limits.json_depth
        too_deep = (
            await run_in_threadpool(deeper_than, body, depth)
            if len(body) > _SCAN_IN_THREAD_BYTES
            else deeper_than(body, depth)
        )
        if too_deep:
            message = f"the JSON body nests arrays and objects more than {depth} deep"
            await _refuse(send, 422, "too_deeply_nested", message)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Streams the body to the app, counting it; past the limit, answers 413 itself if the app has not begun
        to answer, tells the app the client left, and drops whatever the app then sends."""
        received = 0
        started = refused = False

        async def counting() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = not started
                    if refused:
                        await _refuse(send, *_too_large(limit))
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except Exception:
            if not refused:
                raise
            # The app failed on the body cut short; the client already has its 413.


def _replay(body: bytes, receive: Receive) -> Receive:
    """The receive the app gets: the body already read, once, then the client's own (for its disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
