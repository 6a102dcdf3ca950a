"""Request dependencies: the services, the index reader, and who is calling with which roles."""

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from node.actors import Caller
from node.api.errors import ApiError
from node.chain.registry import ROLE_ADMIN, ROLE_BANK, ROLE_ISSUER, ROLE_REGULATOR, ROLE_VERIFIER
from node.index.queries import decode_cursor, get_participant
from node.services import Services

_bearer = HTTPBearer(auto_error=False, description="a participant's API token (sinknode keys token NAME)")
ROLE_NAMES = {ROLE_ADMIN: "admin", ROLE_ISSUER: "issuer", ROLE_VERIFIER: "verifier", ROLE_REGULATOR: "regulator",
              ROLE_BANK: "bank"}  # fmt: skip


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_reader(services: ServicesDep) -> Iterator[sqlite3.Connection]:
    connection = services.reader()
    try:
        yield connection
    finally:
        connection.close()


ReaderDep = Annotated[sqlite3.Connection, Depends(get_reader)]


def current_caller(
    services: ServicesDep,
    reader: ReaderDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None:
        raise ApiError(401, "unauthenticated", "this endpoint needs a participant's API token (Authorization: Bearer)")
    owner = services.state.owner_of(credentials.credentials)
    if owner is None:
        raise ApiError(401, "unauthenticated", "unknown or revoked API token")
    participant = get_participant(connection=reader, address=owner.account)
    if participant is None:
        return Caller(owner, 0, None, False)
    return Caller(owner, participant["roles"], participant["organisation"], bool(participant["frozen"]))


CallerDep = Annotated[Caller, Depends(current_caller)]


def require_role(role: int):  # type: ignore[no-untyped-def]
    def gate(caller: CallerDep) -> Caller:
        if not caller.has(role):
            raise ApiError(403, "forbidden", f"{caller.account} does not hold the {ROLE_NAMES[role]} role")
        return caller

    return Depends(gate)


IssuerDep = Annotated[Caller, require_role(ROLE_ISSUER)]
VerifierDep = Annotated[Caller, require_role(ROLE_VERIFIER)]
RegulatorDep = Annotated[Caller, require_role(ROLE_REGULATOR)]
BankDep = Annotated[Caller, require_role(ROLE_BANK)]
AdminDep = Annotated[Caller, require_role(ROLE_ADMIN)]


CursorQuery = Annotated[
    str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the previous page")
]


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """A page cursor back into its chain position; a cursor this API never gave out is bad input."""
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise ApiError(422, "validation_error", "cursor: not a cursor this API gave out") from None


@dataclass(frozen=True)
class EventFilters:
    """The filters of an event search (the regulator's, and an auditor's within its scope)."""

    name: str | None
    batch_id: int | None
    project_id: int | None
    account: str | None
    since: int | None
    until: int | None
    cursor: str | None
    limit: int

    def search(self) -> dict[str, Any]:
        """The filters as node.index.queries.search_events takes them."""
        return {"name": self.name, "batch_id": self.batch_id, "project_id": self.project_id,
                "account": self.account, "since": self.since, "until": self.until,
                "after": parse_cursor(self.cursor), "limit": self.limit}  # fmt: skip


def event_filters(
    name: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z]+$")] = None,
    batch_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    project_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    account: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    since: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    until: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> EventFilters:
    return EventFilters(name, batch_id, project_id, account, since, until, cursor, limit)


EventFiltersDep = Annotated[EventFilters, Depends(event_filters)]
