"""One place where errors become HTTP answers: `{"error": {"code", "message"}}`, never a 500 for a known error.

A contract refusal keeps its custom error's name as the code; its status says whose fault it is:
422 for what the request got wrong, 409 for what the current ledger state forbids, 403 for a missing
role, 404 for what does not exist.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.errors import (
    ChainUnavailable,
    ConfigError,
    ContractRevert,
    DeploymentError,
    EvidenceError,
    KeystoreError,
    SinkError,
    TransactionTimeout,
)

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


def status_of(error: SinkError) -> int:
    if isinstance(error, ApiError):
        return error.status
    if isinstance(error, ContractRevert):
        if error.name in INVALID_INPUT:
            return 422
        if error.name in NOT_FOUND:
            return 404
        if error.name in FORBIDDEN:
            return 403
        return 409
    if isinstance(error, EvidenceError):
        return 404 if "no evidence" in error.message else 422
    if isinstance(error, TransactionTimeout):
        return 504
    if isinstance(error, ChainUnavailable | DeploymentError | ConfigError | KeystoreError):
        return 503
    return 422


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SinkError)
    async def _sink_error(_: Request, error: SinkError) -> JSONResponse:
        return JSONResponse(error_body(error.code, error.message), status_code=status_of(error))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse(error_body("validation_error", f"{where}: {first.get('msg')}"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        codes = {
            400: "bad_request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        code = codes.get(error.status_code, "http_error")
        status = 422 if error.status_code == 400 else error.status_code  # a malformed body is bad input
        return JSONResponse(error_body(code, str(error.detail)), status_code=status)
