"""What other organisations' nodes ask to compare indexes (node.peers): the digest of this index at a block,
its events' running digests in a block range, and the row hashes of one derived table. Public: the index
holds only what the chain says, which every participant can read."""

import threading
from collections import OrderedDict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from node.api.deps import ServicesDep
from node.api.responses import Out
from node.errors import Conflict
from node.index.agreement import COMPARED_TABLES, NotIndexedYet, digest_at, event_digest_at, event_digests, rows_at
from node.index.queries import index_digest
from node.services import Services

router = APIRouter(prefix="/v1/peer", tags=["peers"])
BlockQuery = Annotated[int, Query(ge=0, le=2**62, description="a block this index holds")]
Table = Literal[COMPARED_TABLES]  # type: ignore[valid-type]  (the tuple's names, as an enum in the OpenAPI)

# Re-deriving an older block's state costs seconds on a large index: one at a time, the last few kept.
_derive_lock = threading.Lock()
_digests: OrderedDict[tuple[str, int, str], dict[str, Any]] = OrderedDict()
_KEPT = 8


class IndexDigest(Out):
    block: int
    events: int
    event_digest: str
    tables: dict[str, str]


class EventDigest(Out):
    block: int
    log_index: int
    tx_hash: str
    name: str
    digest: str


class RowHash(Out):
    key: str
    hash: str


def _not_yet(error: NotIndexedYet) -> Conflict:
    return Conflict("not_indexed_yet", str(error))


def _digest(services: Services, block: int) -> dict[str, Any]:
    reader = services.reader()
    try:
        last_block = index_digest(connection=reader)[0]
        # Kept by the event digest too: after a reorg the same block holds other events, and another state.
        key = (str(services.settings.index_location), block, event_digest_at(reader, block)[1])
    except NotIndexedYet as error:
        raise _not_yet(error) from None
    finally:
        reader.close()
    if block >= last_block:  # the index's own tables (they change as it follows): read afresh, never kept
        try:
            return digest_at(services.settings.index_location, block, services.settings.aggregate_timezone)
        except NotIndexedYet as error:
            raise _not_yet(error) from None
    with _derive_lock:
        if key in _digests:
            _digests.move_to_end(key)
            return _digests[key]
        try:
            found = digest_at(services.settings.index_location, block, services.settings.aggregate_timezone)
        except NotIndexedYet as error:
            raise _not_yet(error) from None
        _digests[key] = found
        while len(_digests) > _KEPT:
            _digests.popitem(last=False)
        return found


@router.get("/digest", response_model=IndexDigest, summary="This index's event digest and table digests at a block")
def peer_digest(services: ServicesDep, block: BlockQuery) -> dict[str, Any]:
    return _digest(services, block)


@router.get("/events", response_model=list[EventDigest], summary="Events' running digests in a block range")
def peer_events(
    services: ServicesDep,
    from_block: BlockQuery,
    to_block: BlockQuery,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 5_000,
) -> list[dict[str, Any]]:
    reader = services.reader()
    try:
        return event_digests(reader, from_block, to_block, limit)
    finally:
        reader.close()


@router.get("/rows", response_model=list[RowHash], summary="The hash of every row of one derived table at a block")
def peer_rows(services: ServicesDep, block: BlockQuery, table: Table) -> list[dict[str, str]]:
    with _derive_lock:
        try:
            return rows_at(services.settings.index_location, block, services.settings.aggregate_timezone, table)
        except NotIndexedYet as error:
            raise _not_yet(error) from None
