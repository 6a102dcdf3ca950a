"""The green-space method: worked example A (docs/accounting.md) to the gram, refusals that name the field, and
properties a verifier relies on."""

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.accounting import AccountingInputError, compute_net_sink, parse_monitoring, tree_biomass_kg

EXAMPLE_A = {
    "period": {"start": "2025-01-01", "end": "2025-12-31"},
    "trees": {
        "t1": [{"species": "国槐", "dbh_cm": 20.0, "count": 40}, {"species": "香樟", "dbh_cm": 25.0, "count": 40},
               {"species": "毛白杨", "dbh_cm": 30.0, "count": 40}],
        "t2": [{"species": "国槐", "dbh_cm": 20.8, "count": 39}, {"species": "香樟", "dbh_cm": 26.0, "count": 40},
               {"species": "毛白杨", "dbh_cm": 31.2, "count": 40}],
    },
    "shrubs": [{"area_m2": 800, "biomass_kg_m2_t1": 1.60, "biomass_kg_m2_t2": 1.80, "uncertainty": 0.18}],
    "herbs": [{"area_m2": 5000}],
    "soil": {"modelled_tco2": 0.52},
    "maintenance": {"diesel_l": 150, "gasoline_l": 250, "electricity_kwh": 1500, "fertiliser_n_kg": 68.5,
                    "urea_kg": 100},
    "buffer_share": 0.20,
}  # fmt: skip


def test_worked_example_a_to_the_gram():
    result = compute_net_sink(parse_monitoring(EXAMPLE_A))
    trees = result.pools["trees"]
    assert round(trees["stock_t1_tco2"], 2) == 45.80 and round(trees["stock_t2_tco2"], 2) == 50.17
    assert round(trees["delta_tco2"], 3) == 4.368
    assert round(result.pools["shrubs"]["delta_tco2"], 3) == 0.386
    assert round(result.pools["shrubs"]["credited_tco2"], 3) == 0.355
    assert result.pools["soil"]["held_back_tco2"] == 0.52 and result.pools["soil"]["credited_tco2"] == 0
    m = result.maintenance
    assert (round(m["diesel_tco2"], 3), round(m["gasoline_tco2"], 3), round(m["electricity_tco2"], 3)) == (
        0.402,
        0.568,
        0.796,
    )
    assert round(m["n2o_kg"], 3) == 1.426 and round(m["n2o_tco2e"], 3) == 0.389 and round(m["urea_tco2"], 3) == 0.073
    assert round(m["total_tco2e"], 3) == 2.228
    assert result.creditable_grams == 2_494_918
    assert (result.buffer_grams, result.owner_grams) == (498_984, 1_995_934)
    assert result.issuable and "held back" in " ".join(result.notes)


def test_per_tree_biomass_matches_the_table():
    assert round(tree_biomass_kg("国槐", 20.0)[0], 1) == 187.1
    assert round(tree_biomass_kg("Cinnamomum camphora", 26.0)[0], 1) == 317.7
    assert round(tree_biomass_kg("毛白杨", 31.2)[0], 1) == 392.5


def test_the_heavy_maintenance_variant_is_a_net_source_and_issues_nothing():
    """A rounded "≈ −0.55 t" was once quoted for this variant; its own formulas give PE = 5.748 t and a net of
    −1.025 t (−0.505 t only if the held-back modelled soil were counted). Either way: issue nothing."""
    heavy = copy.deepcopy(EXAMPLE_A)
    heavy["maintenance"].update(diesel_l=300, gasoline_l=400, electricity_kwh=6000, fertiliser_n_kg=137)
    result = compute_net_sink(parse_monitoring(heavy))
    assert round(result.maintenance["total_tco2e"], 3) == 5.748
    assert round(result.net_tco2, 3) == -1.025
    assert (result.creditable_grams, result.issuable, result.buffer_grams) == (0, False, 0)


def test_an_unknown_species_falls_back_to_the_generic_equation_and_says_so():
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"].append({"species": "Quercus imaginaria", "dbh_cm": 10.0})
    result = compute_net_sink(parse_monitoring(data))
    assert any("Quercus imaginaria" in note and "generic" in note for note in result.notes)


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d["trees"]["t2"][1].update(dbh_cm=-3), "trees.t2[1].dbh_cm"),
    (lambda d: d["trees"]["t1"][2].update(height_m=500), "trees.t1[2].height_m"),
    (lambda d: d["period"].update(start="2026-01-01"), "period"),
    (lambda d: d["trees"]["t1"][0].update(dbh_in=8), "trees.t1[0].dbh_in"),
    (lambda d: d["shrubs"][0].update(area_m2="800"), "shrubs[0].area_m2"),
    (lambda d: d["maintenance"].update(diesel_gal=3), "maintenance.diesel_gal"),
    (lambda d: d["maintenance"].update(grid_region="mars"), "maintenance.grid_region"),
])  # fmt: skip
def test_bad_input_is_refused_naming_the_field_and_row(change, where):
    data = copy.deepcopy(EXAMPLE_A)
    change(data)
    with pytest.raises(AccountingInputError) as refused:
        parse_monitoring(data)
    assert refused.value.where == where


def test_the_same_inputs_give_the_same_hash_and_any_change_another():
    first = compute_net_sink(parse_monitoring(EXAMPLE_A))
    assert compute_net_sink(parse_monitoring(copy.deepcopy(EXAMPLE_A))).input_hash == first.input_hash
    changed = copy.deepcopy(EXAMPLE_A)
    changed["maintenance"]["diesel_l"] = 151
    assert compute_net_sink(parse_monitoring(changed)).input_hash != first.input_hash


@given(st.floats(1, 200), st.floats(0, 50), st.integers(1, 500), st.integers(0, 50))
def test_more_trees_or_larger_dbh_never_lower_the_stock(dbh, growth, count, extra):
    def stock(trees):
        data = {"period": {"start": "2025-01-01", "end": "2025-12-31"}, "trees": {"t1": [], "t2": trees}}
        return compute_net_sink(parse_monitoring(data)).pools["trees"]["stock_t2_tco2"]

    base = stock([{"species": "香樟", "dbh_cm": dbh, "count": count}])
    assert stock([{"species": "香樟", "dbh_cm": min(dbh + growth, 500.0), "count": count}]) >= base
    assert stock([{"species": "香樟", "dbh_cm": dbh, "count": count + extra}]) >= base
