"""One place where errors become HTTP answers: `{"error": {"code", "message"}}`, never a 500 for a known error.

A contract refusal keeps its custom error's name as the code; its status says whose fault it is:
422 for what the request got wrong, 409 for what the current ledger state forbids, 403 for a missing
role, 404 for what does not exist. Anything else is a 500 `internal_error` whose message gives only the
request id: the traceback goes to the log under that id, never to the client. Every response carries
its request id in `X-Request-Id` (the client's own if it sent a sane one).
"""

import logging
import re
import uuid
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.api.site import error_page, wants_page
from node.errors import (
    ChainUnavailable,
    CodedError,
    ConfigError,
    Conflict,
    ContractRevert,
    DeploymentError,
    EvidenceError,
    EvidenceTooLarge,
    Forbidden,
    InvalidRequest,
    KeystoreError,
    NotFound,
    SinkError,
    TransactionPending,
    TransactionTimeout,
    Unauthenticated,
    Unavailable,
)
from node.writes.runner import IntentAccepted

INVALID_INPUT = {
    "InvalidPeriod",
    "PeriodNotEnded",
    "ZeroAmount",
    "LengthMismatch",
    "EmptyTransfer",
    "DuplicateBatch",
    "QuantityTooLarge",
    "SelfTransfer",
    "BeneficiaryRequired",
    "BeneficiaryAmbiguous",
    "InvalidConsumptionPeriod",
    "SignerNotVerifier",
    "StatementExpired",
    "InvalidAccount",
    "InvalidOrganisation",
    "UnknownRoles",
    "BufferShareTooHigh",
    "InvalidProjectStatus",
    "ParticipantNotRegistered",
    "ECDSAInvalidSignature",
    "ECDSAInvalidSignatureLength",
    "ECDSAInvalidSignatureS",
    "CannotChangeOwnRoles",
}
NOT_FOUND = {"ProjectNotFound", "BatchNotFound"}
FORBIDDEN = {"MissingRole"}

REQUEST_ID_HEADER = "X-Request-Id"
# A client's id is echoed only if it cannot forge a log line or a header: a short token, nothing else.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

log = logging.getLogger("sinknode.api")


class ApiError(SinkError):
    """A refusal decided by the API itself."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self._code = code

    @property
    def code(self) -> str:  # type: ignore[override]
        return self._code


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} does not exist")


_CODED_STATUS = {InvalidRequest: 422, Conflict: 409, Forbidden: 403, NotFound: 404, Unavailable: 503,
                 Unauthenticated: 401}  # fmt: skip


def status_of(error: SinkError) -> int:
    if isinstance(error, ApiError):
        return error.status
    if isinstance(error, CodedError):
        return next((status for kind, status in _CODED_STATUS.items() if isinstance(error, kind)), 422)
    if isinstance(error, IntentAccepted | TransactionPending):
        return 202
    if isinstance(error, ContractRevert):
        if error.name in INVALID_INPUT:
            return 422
        if error.name in NOT_FOUND:
            return 404
        if error.name in FORBIDDEN:
            return 403
        return 409
    if isinstance(error, EvidenceTooLarge):
        return 413
    if isinstance(error, EvidenceError):
        return 404 if "no evidence" in error.message else 422
    if isinstance(error, TransactionTimeout):
        return 504
    if isinstance(error, ChainUnavailable | DeploymentError | ConfigError | KeystoreError):
        return 503
    return 422


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def request_id_of(scope: Scope) -> str:
    """The id the request-id middleware gave this request (a fresh one if it never ran)."""
    return str(scope.setdefault("state", {}).setdefault("request_id", uuid.uuid4().hex))


class RequestIds:
    """Pure ASGI middleware (nothing buffered, so streaming bodies stream): gives each request an id, kept in
    the scope's state for handlers and logs, and sets it on the response's `X-Request-Id` header.

    It wraps Starlette's ServerErrorMiddleware, which calls the `Exception` handler, sends its answer and then
    re-raises for the server to log: once that answer went out whole, the exception stops here (it is logged
    with its request id already), so the server neither logs it a second time nor drops the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = finished = False

        async def send_with_id(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if finished:
                return
            if started:
                raise  # a body cut short: only the server can end the connection
            response = await internal_error(Request(scope), exc)
            await response(scope, receive, send_with_id)


def install_request_ids(app: FastAPI) -> None:
    """Puts `RequestIds` outside every other middleware, the server-error one included (see its docstring):
    `add_middleware` can only go inside that one."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestIds(build())  # type: ignore[method-assign]


async def internal_error(request: Request, error: Exception) -> Response:
    """The catch-all: the traceback to the log under the request id, the id alone to the client."""
    request_id = request_id_of(request.scope)
    log.error(
        "internal error, request id %s: %s %s",
        request_id,
        request.method,
        request.url.path,
        exc_info=error,
        extra={"request_id": request_id},
    )
    message = f"an internal error happened; it is logged under request id {request_id}"
    if wants_page(request):
        answer: Response = error_page(request, 500, "internal_error", message)
        answer.headers[REQUEST_ID_HEADER] = request_id
        return answer
    return JSONResponse(error_body("internal_error", message), status_code=500, headers={REQUEST_ID_HEADER: request_id})


def install_error_handlers(app: FastAPI) -> None:
    """Every error handler, and the request ids they and the logs refer to."""
    install_request_ids(app)
    app.add_exception_handler(Exception, internal_error)

    def answer(request: Request, status: int, code: str, message: str) -> Response:
        """The error as JSON, or as the site's error page for a browser asking for a page."""
        if wants_page(request):
            return error_page(request, status, code, message)
        return JSONResponse(error_body(code, message), status_code=status)

    @app.exception_handler(SinkError)
    async def _sink_error(request: Request, error: SinkError) -> Response:
        if isinstance(error, IntentAccepted):
            # Not an error: the write is journalled and may still be mined; its intent tells its fate.
            return JSONResponse(error.view, status_code=202)
        return answer(request, status_of(error), error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return answer(request, 422, "validation_error", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        codes = {
            400: "bad_request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        code = codes.get(error.status_code, "http_error")
        status = 422 if error.status_code == 400 else error.status_code  # a malformed body is bad input
        return answer(request, status, code, str(error.detail))
