"""Needs-based discovery: which disclosed listings fit what a buyer says it needs, and how they add up.

The buyer states a need (a quantity, optionally a budget, regions, a vintage range, project kinds and a date by
which it must retire). A listing fits when every stated condition holds for it on its own. The fitting listings
are put in the order the buyer chooses (price, vintage, region, quantity; ties by listing id) and nothing
else: the platform does not rank, recommend, price or match. For each order the buyer asks for, a combination
is the fill in that order: from each listing in turn, as much as the need still lacks, never less than the
listing's minimum lot nor more than it has left. Its totals say whether it covers the quantity and stays
within the budget; the buyer decides, and any deal is still negotiated with each seller.

Quantities are grams and prices fen per tonne, as everywhere in the registry; a part's cost is
`registry.units.deal_total_fen`, the one rounding rule a deal's total follows.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from registry.units import deal_total_fen

# What a buyer may order by, each ascending unless the buyer says otherwise.
ORDERS = ("price", "vintage", "region", "quantity")


@dataclass(frozen=True, slots=True)
class Need:
    grams: int
    budget_fen: int | None = None
    regions: tuple[str, ...] = ()  # region codes or prefixes ("CN-GD" fits "CN-GD-SZ"); empty: any
    vintage_from: int | None = None
    vintage_to: int | None = None
    kinds: tuple[str, ...] = ()  # empty: any
    retire_by: int | None = None  # unix time: the listing must open for offers before it
    max_price_fen: int | None = None  # per tonne

    def __post_init__(self) -> None:
        if self.grams <= 0:
            raise ValueError("a need is for a positive quantity")
        if self.vintage_from is not None and self.vintage_to is not None and self.vintage_from > self.vintage_to:
            raise ValueError("the vintage range is empty")


@dataclass(frozen=True, slots=True)
class Offer:
    """A listing as discovery sees it: what is left of it and the facts a buyer filters and orders by."""

    listing_id: int
    available: int  # grams still offered (listed less delivered and promised)
    min_lot: int
    price_fen: int  # per tonne
    vintage: int
    region: str
    kind: str
    project_id: int
    valid_from: int
    valid_until: int


@dataclass(frozen=True, slots=True)
class Part:
    listing_id: int
    grams: int
    cost_fen: int


@dataclass(frozen=True)
class Combination:
    order: tuple[tuple[str, bool], ...]  # (criterion, descending)
    parts: tuple[Part, ...]
    grams: int
    cost_fen: int
    covers: bool  # at least the quantity needed
    within_budget: bool  # no budget, or cost within it
    surplus_grams: int  # taken beyond the need because a minimum lot asked for more
    regions: tuple[str, ...] = field(default=())
    vintages: tuple[int, ...] = field(default=())
    projects: tuple[int, ...] = field(default=())

    @property
    def average_price_fen(self) -> int | None:
        """Cost per tonne of the whole combination, rounded half up; None when it holds nothing."""
        if not self.grams:
            return None
        return (self.cost_fen * 1_000_000 + self.grams // 2) // self.grams


def _region_fits(region: str, wanted: tuple[str, ...]) -> bool:
    return not wanted or any(region == w or region.startswith(w + "-") for w in wanted)


def fits(need: Need, offer: Offer, now: int) -> bool:
    """Whether one listing meets every condition of the need on its own."""
    return (
        offer.available >= offer.min_lot
        and offer.available > 0
        and offer.valid_until > now
        and (need.retire_by is None or offer.valid_from < need.retire_by)
        and (need.max_price_fen is None or offer.price_fen <= need.max_price_fen)
        and (need.vintage_from is None or offer.vintage >= need.vintage_from)
        and (need.vintage_to is None or offer.vintage <= need.vintage_to)
        and (not need.kinds or offer.kind in need.kinds)
        and _region_fits(offer.region, need.regions)
    )


def _key(criterion: str, offer: Offer) -> int | str:
    if criterion == "price":
        return offer.price_fen
    if criterion == "vintage":
        return offer.vintage
    if criterion == "region":
        return offer.region
    if criterion == "quantity":
        return offer.available
    raise ValueError(f"unknown order {criterion!r}: one of {', '.join(ORDERS)}")


def in_order(offers: Iterable[Offer], order: Sequence[tuple[str, bool]]) -> list[Offer]:
    """Offers sorted by the buyer's criteria in turn, then by listing id (stable and the same for everyone)."""
    result = sorted(offers, key=lambda o: o.listing_id)
    for criterion, descending in reversed(order):
        result.sort(key=lambda o, c=criterion: _key(c, o), reverse=descending)  # type: ignore[misc]
    return result


def combine(need: Need, ordered: Iterable[Offer], order: Sequence[tuple[str, bool]] = ()) -> Combination:
    """The fill of `ordered` (fitting offers in the buyer's order) up to the need; it reads `ordered` only as
    far as the need takes it."""
    parts: list[Part] = []
    chosen: list[Offer] = []
    lacking = need.grams
    for offer in ordered:
        if lacking <= 0:
            break
        take = min(max(lacking, offer.min_lot), offer.available)
        if take < offer.min_lot or take <= 0:
            continue
        parts.append(Part(offer.listing_id, take, deal_total_fen(offer.price_fen, take)))
        chosen.append(offer)
        lacking -= take
    grams = sum(p.grams for p in parts)
    cost = sum(p.cost_fen for p in parts)
    return Combination(
        order=tuple(order),
        parts=tuple(parts),
        grams=grams,
        cost_fen=cost,
        covers=grams >= need.grams,
        within_budget=need.budget_fen is None or cost <= need.budget_fen,
        surplus_grams=max(grams - need.grams, 0),
        regions=tuple(sorted({o.region for o in chosen})),
        vintages=tuple(sorted({o.vintage for o in chosen})),
        projects=tuple(sorted({o.project_id for o in chosen})),
    )


@dataclass(frozen=True)
class Discovery:
    fitting: list[Offer]  # in the first order asked for
    combinations: list[Combination]  # one per order asked for
    fitting_grams: int  # everything the fitting listings offer together


def discover(need: Need, offers: Iterable[Offer], now: int,
             orders: Sequence[Sequence[tuple[str, bool]]] = ((("price", False),),)) -> Discovery:  # fmt: skip
    """The fitting listings and, for each order the buyer asks for, the combination that fills the need."""
    fitting = [o for o in offers if fits(need, o, now)]
    sorted_by = [in_order(fitting, order) for order in orders]
    return Discovery(
        fitting=sorted_by[0] if sorted_by else fitting,
        combinations=[combine(need, ordered, order) for ordered, order in zip(sorted_by, orders, strict=True)],
        fitting_grams=sum(o.available for o in fitting),
    )
