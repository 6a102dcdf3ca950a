"""The `Idempotency-Key` header on writes, as a pure ASGI middleware (it never buffers a GET).

For a POST carrying the header: the key is scoped to the caller's token (the SHA-256 of the Authorization
header, so a key never crosses callers) and the request is identified by its method, path, query and body
(a JSON body compared as canonical JSON: key order and spacing do not matter). Then:
- a new key runs the request and keeps its answer (status and body) for at least 24 hours;
- the same key with the same request gets that answer again, without acting again (`Idempotent-Replayed:
  true`); if that answer was a 202, the write's intent is read again and its current answer given;
- the same key with another request is refused, 422 `idempotency_key_reused`;
- the same key while the first request is still running is refused, 409 `request_in_progress`;
- a key whose request was cut short by a crash is answered from the intent it created; if it created none
  but changed the store (the key is marked applied in that change's own commit), 409 `request_applied`
  says it happened and its answer was lost; if it changed nothing, it runs again.
A 5xx that created no intent is not kept: nothing happened, and a retry under the key runs afresh.
"""

import hashlib
import re
import uuid
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.store import Store
from node.store.context import CURRENT_KEY
from node.store.idempotency import Claim
from node.store.intents import LIVE
from node.writes.runner import intent_view

HEADER = b"idempotency-key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"error": {"code": code, "message": message}})


def request_hash(method: str, path: str, query: bytes, body: bytes, content_type: str = "") -> str:
    """What identifies a request under its key: method, path, query, and the body as canonical JSON, or for a
    multipart upload its parts (a client that retries draws a new boundary: the parts are what it sends)."""
    boundary = _boundary(content_type)
    if boundary is not None:
        canonical = _multipart_parts(body, boundary)
    else:
        try:
            canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
        except orjson.JSONDecodeError:
            canonical = body  # neither JSON nor multipart: compared byte for byte
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _boundary(content_type: str) -> bytes | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip().strip('"').encode("latin-1")
    return None


def _multipart_parts(body: bytes, boundary: bytes) -> bytes:
    """The parts of a multipart body, each as its lower-cased, sorted headers and its content, in order."""
    digest = hashlib.sha256()
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = sorted(line.strip().lower() for line in head.split(b"\r\n") if line.strip())
        content = content.removesuffix(b"\r\n")
        for item in (*headers, b"", content):
            digest.update(len(item).to_bytes(8, "big") + item)
    return digest.digest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, store_of: Any) -> None:
        self.app = app
        self.store_of = store_of  # () -> Store, read when the first request comes (the store opens at startup)
        self.boot = uuid.uuid4().hex  # claims of this process; a claim of another boot is orphaned

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not _KEY.match(key):
            await _answer(send, *_error(422, "validation_error", "Idempotency-Key: 1 to 255 visible ASCII characters"))
            return
        body = await _read_body(receive)
        scope_id = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        fingerprint = request_hash(scope["method"], scope["path"], scope.get("query_string", b""), body, content_type)
        store: Store = self.store_of()
        # With several workers, a claim names the worker (the store knows which are alive); alone, this boot.
        boot = store.worker_id or self.boot
        claim = await run_in_threadpool(store.claim_key, scope=scope_id, key=key, request_hash=fingerprint, boot=boot)
        if claim.outcome == "mismatch":
            await _answer(send, *_error(422, "idempotency_key_reused",
                                        "this Idempotency-Key was used with another request"))  # fmt: skip
            return
        if claim.outcome == "running":
            message = "a request with this Idempotency-Key is still running; retry later"
            await _answer(send, *_error(409, "request_in_progress", message))
            return
        if claim.outcome in ("replay", "orphaned"):
            replayed = await run_in_threadpool(_from_intent, store, scope_id, key, claim)
            if replayed is not None:
                status, content = replayed
                if claim.outcome == "orphaned":
                    await run_in_threadpool(store.finish_key, scope=scope_id, key=key, status=status, body=content,
                                            content_type="application/json")  # fmt: skip
                await _answer(send, status, content, replayed=True)
                return
            if claim.outcome == "replay":
                assert claim.row is not None
                await _answer(send, claim.row["status"], claim.row["body"], replayed=True,
                              content_type=claim.row["content_type"])  # fmt: skip
                return
            assert claim.row is not None
            if claim.row["applied"]:
                # It wrote before the node stopped, but its answer was lost: running it again would refuse
                # (the state moved on) or repeat it; say what happened instead.
                message = "carried out before the node restarted, but its answer was not kept: read what it changed"
                status, content = _error(409, "request_applied", message)
                await run_in_threadpool(store.finish_key, scope=scope_id, key=key, status=status, body=content,
                                        content_type="application/json")  # fmt: skip
                await _answer(send, status, content, replayed=True)
                return
            # orphaned, nothing written: the request never reached a write; it runs now under the key.
        await self._run(scope, body, send, store, scope_id, key)

    async def _run(self, scope: Scope, body: bytes, send: Send, store: Store, scope_id: str, key: str) -> None:
        """Runs the request; its answer is kept under the key before the client gets it, so a retry sent the
        moment the answer arrives finds it (and never `request_in_progress`)."""
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        token = CURRENT_KEY.set((scope_id, key))
        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            # The error answer is written further out; keep it only if the request created an intent.
            await run_in_threadpool(_keep, store, scope_id, key, 500, b"", "application/json")
            raise
        finally:
            CURRENT_KEY.reset(token)
        status = int(started.get("status", 500))
        headers = started.get("headers", [])
        content_type = next((v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), "")
        content = b"".join(chunks)
        await run_in_threadpool(_keep, store, scope_id, key, status, content, content_type or "application/json")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _keep(store: Store, scope_id: str, key: str, status: int, body: bytes, content_type: str) -> None:
    if status >= 500 and store.intent_for_key(scope_id, key) is None:
        store.release_key(scope=scope_id, key=key)
    else:
        store.finish_key(scope=scope_id, key=key, status=status, body=body, content_type=content_type)


def _from_intent(store: Store, scope_id: str, key: str, claim: Claim) -> tuple[int, bytes] | None:
    """The current answer of the write this key started: its final answer once settled, else a 202."""
    if claim.outcome == "replay" and claim.row is not None and claim.row["status"] != 202:
        return None
    intent = store.intent_for_key(scope_id, key)
    if intent is None:
        return None
    if intent["state"] in LIVE:
        return 202, orjson.dumps(intent_view(store, intent["id"]))
    return int(intent["status"]), orjson.dumps(intent["answer"])


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _answer(
    send: Send, status: int, body: bytes, *, replayed: bool = False, content_type: str = "application/json"
) -> None:
    headers = [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
