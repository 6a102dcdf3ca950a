"""Parcel footprints: worked example B (docs/accounting.md), refusals, and additivity."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.footprint import FootprintInputError, order_footprint, parse_order

EXAMPLE_B = {
    "order_id": "ORD-1",
    "legs": [{"mode": "road", "distance_km": 1200, "weight_kg": 2.0, "dims_cm": [30, 20, 15]},
             {"mode": "van", "distance_km": 15, "weight_kg": 2.0}],
    "packaging": [{"material": "corrugated_board", "mass_kg": 0.3}],
}  # fmt: skip


def test_worked_example_b():
    footprint = order_footprint(parse_order(EXAMPLE_B))
    assert [round(g) for g in footprint.legs_g] == [257, 18]
    assert [round(g) for g in footprint.packaging_g] == [147]
    assert footprint.grams == 422  # 421.8 g, rounded up: an offset never falls short


def test_the_volumetric_weight_is_charged_when_larger():
    bulky = {"order_id": "B", "legs": [{"mode": "road", "distance_km": 100, "weight_kg": 1.0, "dims_cm": [60, 50, 40]}]}
    assert order_footprint(parse_order(bulky)).legs_g[0] == pytest.approx(20 * 100 * 0.107)  # 20 kg chargeable


@pytest.mark.parametrize(("leg", "where"), [
    ({"mode": "air", "distance_km": 1000, "weight_kg": 1}, "order.legs[0].mode"),
    ({"mode": "teleport", "distance_km": 1, "weight_kg": 1}, "order.legs[0].mode"),
    ({"mode": "road", "distance_km": -5, "weight_kg": 1}, "order.legs[0].distance_km"),
    ({"mode": "road", "distance_km": 5, "weight_kg": 0}, "order.legs[0].weight_kg"),
])  # fmt: skip
def test_bad_legs_are_refused_naming_the_field(leg, where):
    with pytest.raises(FootprintInputError) as refused:
        parse_order({"order_id": "X", "legs": [leg]})
    assert refused.value.where == where


@given(
    st.lists(
        st.tuples(st.sampled_from(["road", "van", "rail", "ship"]), st.integers(1, 5000), st.integers(1, 50)),
        min_size=1,
        max_size=4,
    )
)
def test_doubling_every_leg_mass_doubles_the_footprint(legs):
    def grams(scale):
        order = {"order_id": "P", "legs": [{"mode": m, "distance_km": d, "weight_kg": w * scale} for m, d, w in legs]}
        return sum(order_footprint(parse_order(order)).legs_g)

    assert grams(2) == pytest.approx(2 * grams(1))
