"""Needs-based discovery: which listings fit, in the buyer's order only, and how the fill adds up."""

import dataclasses
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.discovery import ORDERS, Need, Offer, combine, discover, fits, in_order
from registry.units import GRAMS_PER_TONNE, deal_total_fen

NOW = 1_800_000_000
T = GRAMS_PER_TONNE


def offer(listing_id: int, **fields) -> Offer:
    base = dict(listing_id=listing_id, available=10 * T, min_lot=T, price_fen=5_000, vintage=2024, region="CN-GD-SZ",
                kind="park", project_id=1, valid_from=NOW - 100, valid_until=NOW + 10_000)  # fmt: skip
    return Offer(**{**base, **fields})


def test_every_condition_of_a_need_excludes_on_its_own():
    need = Need(grams=5 * T, regions=("CN-GD",), vintage_from=2023, vintage_to=2024, kinds=("park", "street"),
                retire_by=NOW + 500, max_price_fen=6_000)  # fmt: skip
    assert fits(need, offer(1), NOW)
    refused = {
        "region": offer(1, region="CN-GX-NN"),
        "region prefix is by segment": offer(1, region="CN-GDX"),
        "vintage too old": offer(1, vintage=2022),
        "vintage too new": offer(1, vintage=2025),
        "kind": offer(1, kind="wetland"),
        "opens after the deadline": offer(1, valid_from=NOW + 500),
        "expired": offer(1, valid_until=NOW),
        "too dear": offer(1, price_fen=6_001),
        "less left than its minimum lot": offer(1, available=T - 1),
        "nothing left": offer(1, available=0, min_lot=0),
    }
    for why, candidate in refused.items():
        assert not fits(need, candidate, NOW), why
    assert fits(Need(grams=1), offer(1, region="CN-GX-NN", kind="wetland", vintage=1999, price_fen=0), NOW)


def test_the_order_is_the_buyers_criteria_in_turn_then_the_listing_id():
    offers = [offer(1, price_fen=5_000, vintage=2023), offer(2, price_fen=4_000, vintage=2024),
              offer(3, price_fen=5_000, vintage=2024), offer(4, price_fen=4_000, vintage=2024)]  # fmt: skip
    ids = lambda ordered: [o.listing_id for o in ordered]  # noqa: E731
    assert ids(in_order(offers, [("price", False)])) == [2, 4, 1, 3]
    assert ids(in_order(offers, [("price", False), ("vintage", True)])) == [2, 4, 3, 1]
    assert ids(in_order(offers, [("vintage", True), ("price", True)])) == [3, 2, 4, 1]
    for shuffled in permutations(offers):  # the input order never matters
        assert ids(in_order(shuffled, [("price", False)])) == [2, 4, 1, 3]
    with pytest.raises(ValueError, match="unknown order"):
        in_order(offers, [("popularity", False)])


def test_the_fill_takes_what_the_need_lacks_respecting_minimum_lots_and_reports_the_budget():
    need = Need(grams=7 * T + 500_000, budget_fen=40_000)
    offers = [offer(1, available=3 * T, price_fen=4_000), offer(2, available=10 * T, min_lot=5 * T, price_fen=5_000)]
    combination = combine(need, offers, [("price", False)])
    # 3 t from the first; 4.5 t lacking but the second sells no less than 5 t: 0.5 t surplus.
    assert [(p.listing_id, p.grams) for p in combination.parts] == [(1, 3 * T), (2, 5 * T)]
    assert combination.cost_fen == 12_000 + 25_000
    assert combination.covers and combination.within_budget and combination.surplus_grams == 500_000
    assert combination.average_price_fen == 4_625  # 37,000 fen for 8 t
    tight = combine(dataclasses.replace(need, budget_fen=36_999), offers)
    assert tight.covers and not tight.within_budget
    short = combine(Need(grams=20 * T), offers)
    assert not short.covers and short.grams == 13 * T and short.surplus_grams == 0
    assert combine(Need(grams=T), []).average_price_fen is None


def test_a_zero_price_listing_costs_nothing_and_a_part_rounds_like_a_deal():
    combination = combine(Need(grams=T + 1), [offer(1, price_fen=0, available=T), offer(2, price_fen=333, min_lot=1)])
    assert [(p.grams, p.cost_fen) for p in combination.parts] == [(T, 0), (1, deal_total_fen(333, 1))]


_offers = st.lists(
    st.builds(
        Offer,
        listing_id=st.integers(1, 10**6),
        available=st.integers(0, 50 * T),
        min_lot=st.integers(0, 10 * T),
        price_fen=st.integers(0, 20_000),
        vintage=st.integers(2018, 2026),
        region=st.sampled_from(["CN-GD-SZ", "CN-GD-GZ", "CN-BJ", "CN-GDX"]),
        kind=st.sampled_from(["park", "street", "wetland"]),
        project_id=st.integers(1, 5),
        valid_from=st.integers(NOW - 1_000, NOW + 1_000),
        valid_until=st.integers(NOW - 1_000, NOW + 100_000),
    ),
    max_size=40,
    unique_by=lambda o: o.listing_id,
)
_orders = st.lists(st.tuples(st.sampled_from(ORDERS), st.booleans()), min_size=1, max_size=3, unique_by=lambda o: o[0])


@settings(max_examples=300, deadline=None)
@given(offers=_offers, grams=st.integers(1, 100 * T), budget=st.none() | st.integers(0, 10**7),
       regions=st.sampled_from([(), ("CN-GD",), ("CN-BJ", "CN-GD-SZ")]), order=_orders)  # fmt: skip
def test_discovery_agrees_with_a_brute_force_reading_of_the_need(offers, grams, budget, regions, order):
    need = Need(grams=grams, budget_fen=budget, regions=regions, vintage_from=2020, kinds=("park", "street"))
    found = discover(need, offers, NOW, [order])

    def by_hand(o: Offer) -> bool:
        region_ok = not regions or any(o.region == r or o.region.startswith(r + "-") for r in regions)
        return (o.available > 0 and o.available >= o.min_lot and o.valid_until > NOW and o.vintage >= 2020
                and o.kind in ("park", "street") and region_ok)  # fmt: skip

    expected = [o for o in offers if by_hand(o)]
    assert sorted(o.listing_id for o in found.fitting) == sorted(o.listing_id for o in expected)
    # The buyer's order: each neighbouring pair is in order by the first criterion that tells them apart.
    for a, b in zip(found.fitting, found.fitting[1:], strict=False):
        for criterion, descending in order:
            ka, kb = (getattr(x, {"price": "price_fen", "quantity": "available"}.get(criterion, criterion))
                      for x in (a, b))  # fmt: skip
            if ka != kb:
                assert (ka > kb) if descending else (ka < kb)
                break
        else:
            assert a.listing_id < b.listing_id
    (combination,) = found.combinations
    by_id = {o.listing_id: o for o in expected}
    assert combination.grams == sum(p.grams for p in combination.parts)
    assert combination.cost_fen == sum(
        deal_total_fen(by_id[p.listing_id].price_fen, p.grams) for p in combination.parts
    )
    for part in combination.parts:
        listing = by_id[part.listing_id]
        assert listing.min_lot <= part.grams <= listing.available
    assert combination.covers == (combination.grams >= grams)
    assert combination.covers == (found.fitting_grams >= grams or combination.grams >= grams)
    assert combination.within_budget == (budget is None or combination.cost_fen <= budget)
    # Parts follow the order, and a listing is skipped only once the need is met.
    positions = [found.fitting.index(by_id[p.listing_id]) for p in combination.parts]
    assert positions == list(range(len(positions)))
