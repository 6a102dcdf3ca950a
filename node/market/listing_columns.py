"""The store's listings held in memory as columns, for discovery.

A need is answered over every open listing: counting, summing and ordering tens of thousands of rows in SQL
for each request took 100 ms to over a second. Here the listings, with what deals and campaigns hold of each
taken off, are read once into arrays and read again only when the market's counter has moved (triggers on
every table behind a listing's availability and status raise it: node.store.migrations). Each request then
masks, sorts and sums arrays. What changes without the store changing is applied at every request: the
clock (a listing's window), the index's frozen batches and frozen participants.
"""

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from node.market.deals import CAMPAIGN_HOLDING, CAMPAIGN_HOLDS, RESERVING
from node.store import Store
from node.supervision.oversight import APPROVED_PROJECTS
from registry.discovery import Need

# What deals and campaigns hold of each listing (the rule of node.market.deals.reserved).
_HELD = (
    f"SELECT listing_id, SUM(q) AS q FROM (SELECT listing_id, quantity AS q FROM deal WHERE state IN {RESERVING}"
    f" UNION ALL SELECT c.listing_id, {CAMPAIGN_HOLDS} AS q FROM campaign c WHERE {CAMPAIGN_HOLDING}) held"
    " GROUP BY listing_id"
)
_COLUMNS = (
    "id, seller, title, batch_id, quantity, min_lot, price_fen_per_tonne, vintage, region, kind, project_id,"
    " verifier, bundle, valid_from, valid_until"
)

_BLACKLISTED = "SELECT account FROM blacklist WHERE lifted_at IS NULL"


def _array(values: list[Any]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _exact(previous: np.ndarray | None, values: list[int]) -> np.ndarray:
    """Grams as int64 while no running total over them can reach 2**62, as Python integers beyond (sums exact)."""
    count = len(values) + (len(previous) if previous is not None else 0)
    largest = max(values, default=0)
    if previous is not None and len(previous):
        largest = max(largest, int(previous.max()))
    dtype = np.int64 if largest * count < 2**62 else object
    added = np.array(values, dtype=dtype)
    return added if previous is None else np.concatenate((previous.astype(dtype), added))


def _positions(ids: np.ndarray, wanted: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `wanted` sits in the sorted `ids`, and which of them are there at all."""
    found = np.searchsorted(ids, np.array(wanted, dtype=np.int64))
    inside = found < len(ids)
    inside[inside] = ids[found[inside]] == np.array(wanted, dtype=np.int64)[inside]
    return found, inside


@dataclass(frozen=True)
class ListingColumns:
    """Every listing of the store, one array per fact, in order of id; `available` and `live` say what each still
    offers and whether it could be open (not withdrawn, enough left for a lot, seller not blacklisted, project
    approved when listings are reviewed)."""

    version: tuple[int, bool]  # the market's counter, and whether listings are reviewed
    rows: list[dict[str, Any]]  # each listing's own row
    id: np.ndarray
    seller: np.ndarray  # codes into `sellers`
    sellers: dict[str, int]
    batch_id: np.ndarray
    project_id: np.ndarray
    quantity: np.ndarray
    min_lot: np.ndarray
    price: np.ndarray
    vintage: np.ndarray
    region: np.ndarray  # codes into `regions`
    regions: list[str]
    kind: np.ndarray  # codes into `kinds`
    kinds: dict[str, int]
    valid_from: np.ndarray
    valid_until: np.ndarray
    bundles_of: dict[int, list[int]]  # batch → positions of the bundle listings holding it
    available: np.ndarray
    live: np.ndarray
    region_rank: np.ndarray  # a region code's rank in code point order (Python's, as registry.discovery sorts)

    def fitting(self, need: Need, now: int, inactive_batches: Sequence[int], frozen: Sequence[str]) -> np.ndarray:
        """Positions of the open listings that meet every condition of the need (registry.discovery.fits)."""
        mask = self.live & (self.valid_from <= now) & (self.valid_until > now)
        if inactive_batches:
            mask &= ~np.isin(self.batch_id, list(inactive_batches))
            for batch in inactive_batches:
                mask[self.bundles_of.get(batch, [])] = False
        codes = [self.sellers[account] for account in frozen if account in self.sellers]
        if codes:
            mask &= ~np.isin(self.seller, codes)
        if need.retire_by is not None:
            mask &= self.valid_from < need.retire_by
        if need.max_price_fen is not None:
            mask &= self.price <= need.max_price_fen
        if need.vintage_from is not None:
            mask &= self.vintage >= need.vintage_from
        if need.vintage_to is not None:
            mask &= self.vintage <= need.vintage_to
        if need.kinds:
            mask &= np.isin(self.kind, [self.kinds[k] for k in need.kinds if k in self.kinds])
        if need.regions:  # a code, or a prefix ending at a segment: CN-GD fits CN-GD-SZ
            wanted = [
                code
                for code, region in enumerate(self.regions)
                if any(region == w or region.startswith(w + "-") for w in need.regions)
            ]
            mask &= np.isin(self.region, wanted)
        return np.flatnonzero(mask)

    def in_order(self, positions: np.ndarray, order: Sequence[tuple[str, bool]]) -> np.ndarray:
        """`positions` sorted by the buyer's criteria in turn, then by listing id (registry.discovery.in_order)."""
        keys = [self.id[positions]]
        for criterion, descending in reversed(order):
            if criterion == "region":
                values = self.region_rank[self.region[positions]]
            else:
                column = {"price": self.price, "vintage": self.vintage, "quantity": self.available}[criterion]
                values = column[positions]
            if values.dtype == object:  # grams beyond int64: ranks, equal for equal values
                values = np.unique(values, return_inverse=True)[1].astype(np.int64)
            keys.append(-values if descending else values)
        return positions[np.lexsort(keys)]

    def filled(self, ordered: np.ndarray, grams: int) -> np.ndarray:
        """The first positions of `ordered` a fill of `grams` reads: those with less than the need before them."""
        before = np.cumsum(self.available[ordered]) - self.available[ordered]
        return ordered[: int(np.searchsorted(before, grams, side="left"))]

    def total(self, positions: np.ndarray) -> int:
        return int(self.available[positions].sum())  # a sum of Python integers when the column holds them

    def available_of(self, listing_id: int) -> int:
        """What a listing still offers, 0 when it cannot be open (withdrawn, its seller or project barred)."""
        position = int(np.searchsorted(self.id, listing_id))
        if position == len(self.id) or self.id[position] != listing_id or not self.live[position]:
            return 0
        return int(self.available[position])

    def row(self, position: int) -> dict[str, Any]:
        """The listing's row with what it still offers (`available`)."""
        return {**self.rows[position], "available": int(self.available[position])}

    @classmethod
    def read(cls, store: Store, version: tuple[int, bool], previous: "ListingColumns | None") -> "ListingColumns":
        """The columns at `version`: the listings `previous` lacks appended to its own (a listing's facts never
        change once listed, only whether it is withdrawn), then what each still offers and whether it is live."""
        known = int(previous.id[-1]) if previous is not None and len(previous.id) else 0
        # Ids arrive in commit order: the store commits one writer at a time (a lock, on either engine).
        new = store.rows(f"SELECT {_COLUMNS} FROM listing WHERE id > ? ORDER BY id", (known,))
        rows = (previous.rows if previous is not None else []) + new
        sellers = dict(previous.sellers) if previous is not None else {}
        kinds = dict(previous.kinds) if previous is not None else {}
        region_codes = {region: code for code, region in enumerate(previous.regions if previous is not None else [])}
        added = {
            "id": _array([r["id"] for r in new]),
            "seller": _array([sellers.setdefault(r["seller"], len(sellers)) for r in new]),
            "batch_id": _array([r["batch_id"] for r in new]),
            "project_id": _array([r["project_id"] for r in new]),
            "price": _array([r["price_fen_per_tonne"] for r in new]),  # at most 12 digits (node.api.schemas)
            "vintage": _array([r["vintage"] for r in new]),
            "region": _array([region_codes.setdefault(r["region"], len(region_codes)) for r in new]),
            "kind": _array([kinds.setdefault(r["kind"], len(kinds)) for r in new]),
            "valid_from": _array([r["valid_from"] for r in new]),
            "valid_until": _array([r["valid_until"] for r in new]),
        }
        columns = {
            name: np.concatenate((getattr(previous, name), values)) if previous is not None else values
            for name, values in added.items()
        }
        columns["quantity"] = _exact(previous.quantity if previous else None, [r["quantity"] for r in new])
        columns["min_lot"] = _exact(previous.min_lot if previous else None, [r["min_lot"] for r in new])
        ids = columns["id"]
        holdings = store.rows(_HELD)
        held = np.zeros(len(ids), dtype=columns["quantity"].dtype)
        found, inside = _positions(ids, [r["listing_id"] for r in holdings])
        amounts = np.array([int(r["q"]) for r in holdings], dtype=object)
        np.add.at(held, found[inside], amounts[inside].astype(held.dtype))
        available = columns["quantity"] - held
        withdrawn = [r["id"] for r in store.rows("SELECT id FROM listing WHERE withdrawn = 1")]
        barred = [sellers[r["account"]] for r in store.rows(_BLACKLISTED) if r["account"] in sellers]
        live = (available > 0) & (available >= columns["min_lot"]) & ~np.isin(ids, withdrawn)
        live &= ~np.isin(columns["seller"], barred)
        if version[1]:
            live &= np.isin(columns["project_id"], [r["project_id"] for r in store.rows(APPROVED_PROJECTS)])
        bundles_of: dict[int, list[int]] = {}
        parts = store.rows("SELECT listing_id, batch_id FROM bundle_part")
        found, inside = _positions(ids, [part["listing_id"] for part in parts])
        for part, position, there in zip(parts, found.tolist(), inside.tolist(), strict=True):
            if there:
                bundles_of.setdefault(int(part["batch_id"]), []).append(position)
        regions = sorted(region_codes, key=region_codes.__getitem__)
        region_rank = np.empty(len(regions), dtype=np.int64)
        region_rank[sorted(range(len(regions)), key=regions.__getitem__)] = np.arange(len(regions))
        return cls(
            version=version, rows=rows, sellers=sellers, regions=regions, kinds=kinds, bundles_of=bundles_of,
            available=available, live=np.asarray(live, dtype=bool), region_rank=region_rank, **columns,
        )  # fmt: skip


def market_version(store: Store) -> int:
    return int(store.rows("SELECT n FROM market_change WHERE id = 1")[0]["n"])


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.columns: ListingColumns | None = None


_CACHES: "weakref.WeakKeyDictionary[Store, _Cache]" = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def listing_columns(store: Store, *, listing_review: bool) -> ListingColumns:
    """The store's listings as columns, read again when the market's counter has moved since the last read.
    The counter is read before the listings, so a change committed in between is read now and read again
    next time: never a stale answer under a newer counter."""
    with _CACHES_LOCK:
        cache = _CACHES.setdefault(store, _Cache())
    version = (market_version(store), listing_review)
    columns = cache.columns
    if columns is not None and columns.version == version:
        return columns
    with cache.lock:  # one reader loads; the others wait for its columns rather than load them again
        columns = cache.columns
        if columns is None or columns.version != version:
            previous = columns if columns is not None and columns.version[1] == listing_review else None
            columns = ListingColumns.read(store, version, previous)
            cache.columns = columns
        return columns
