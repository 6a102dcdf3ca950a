"""The green-space method: worked example A (docs/methodology.md) to the gram, per-stratum deductions, the
buffer from the ledger's setting, refusals that name the field and row, and properties a verifier relies on."""

import copy
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.accounting import (
    AccountingInputError,
    ShrubStratum,
    compute_net_sink,
    parse_monitoring,
    shrub_strata,
    tree_biomass_kg,
)

BUFFER_BPS = 2000  # the registry's default buffer share: 20 %


def compute(data, bps=BUFFER_BPS):
    return compute_net_sink(parse_monitoring(data), buffer_share_bps=bps)


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
}  # fmt: skip


def test_worked_example_a_to_the_gram():
    result = compute(EXAMPLE_A)
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
    result = compute(heavy)
    assert round(result.maintenance["total_tco2e"], 3) == 5.748
    assert round(result.net_tco2, 3) == -1.025
    assert (result.creditable_grams, result.issuable, result.buffer_grams) == (0, False, 0)


def test_a_known_species_without_an_equation_uses_the_generic_one_and_says_so():
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"].append({"species": "Ginkgo biloba", "dbh_cm": 10.0})
    result = compute(data)
    assert not any("generic" in note for note in result.notes), "银杏 is in the generic group by its own row"
    assert tree_biomass_kg("Quercus imaginaria", 10.0)[1:] == ("other_hardwoods", True)


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
    first = compute(EXAMPLE_A)
    assert compute(copy.deepcopy(EXAMPLE_A)).input_hash == first.input_hash
    changed = copy.deepcopy(EXAMPLE_A)
    changed["maintenance"]["diesel_l"] = 151
    assert compute(changed).input_hash != first.input_hash


@given(st.floats(1, 200), st.floats(0, 50), st.integers(1, 500), st.integers(0, 50))
def test_more_trees_or_larger_dbh_never_lower_the_stock(dbh, growth, count, extra):
    def stock(trees):
        data = {"period": {"start": "2025-01-01", "end": "2025-12-31"}, "trees": {"t1": [], "t2": trees}}
        return compute(data).pools["trees"]["stock_t2_tco2"]

    base = stock([{"species": "香樟", "dbh_cm": dbh, "count": count}])
    assert stock([{"species": "香樟", "dbh_cm": min(dbh + growth, 250.0), "count": count}]) >= base
    assert stock([{"species": "香樟", "dbh_cm": dbh, "count": count + extra}]) >= base


# per-stratum deductions ------------------------------------------------------------------------------

SHRUB = {"area_m2": 800, "biomass_kg_m2_t1": 1.60, "biomass_kg_m2_t2": 1.80}


def with_shrubs(*strata):
    data = copy.deepcopy(EXAMPLE_A)
    data["shrubs"] = [dict(s) for s in strata]
    return data


def test_a_good_and_a_noisy_stratum_credit_the_good_one_in_full():
    good, noisy = {**SHRUB, "uncertainty": 0.08}, {**SHRUB, "area_m2": 400, "uncertainty": 0.35}
    alone = compute(with_shrubs(good)).pools["shrubs"]
    both = compute(with_shrubs(good, noisy)).pools["shrubs"]
    assert round(alone["credited_tco2"], 6) == round(alone["delta_tco2"], 6) == 0.386027
    assert both["credited_tco2"] == alone["credited_tco2"], "the noisy stratum must not wipe out the good one"
    assert [s["deduction_share"] for s in both["strata"]] == [0.0, 1.0] and both["strata"][1]["credited_tco2"] == 0
    assert compute(with_shrubs(good, noisy)).creditable_grams == compute(with_shrubs(good)).creditable_grams


def test_a_noisy_stratum_that_loses_counts_its_loss_in_full():
    good = {**SHRUB, "uncertainty": 0.08}
    burnt = {"area_m2": 500, "biomass_kg_m2_t1": 2.0, "biomass_kg_m2_t2": 0.5, "uncertainty": 0.60}
    pool = compute(with_shrubs(good, burnt)).pools["shrubs"]
    loss = pool["strata"][1]["delta_tco2"]
    assert loss < 0 and pool["strata"][1]["credited_tco2"] == loss
    assert pool["credited_tco2"] == pytest.approx(pool["strata"][0]["delta_tco2"] + loss)


def test_a_deducted_stratum_keeps_its_own_share():
    pool = compute(with_shrubs({**SHRUB, "uncertainty": 0.18}, {**SHRUB, "uncertainty": 0.25})).pools["shrubs"]
    assert [round(s["deduction_share"], 2) for s in pool["strata"]] == [0.08, 0.15]
    delta = pool["strata"][0]["delta_tco2"]
    assert pool["credited_tco2"] == pytest.approx(delta * 0.92 + delta * 0.85)


strata = st.builds(
    ShrubStratum,
    st.floats(0, 10_000),
    st.floats(0, 50),
    st.floats(0, 50),
    st.sampled_from([0.0, 0.05, 0.1, 0.18, 0.3, 0.31, 0.5, 1.0]) | st.floats(0, 1),
)


@given(st.lists(strata, max_size=5), strata)
def test_adding_a_stratum_never_lowers_the_credit_of_the_others(others, extra):
    before = shrub_strata(tuple(others))
    after = shrub_strata((*others, extra))
    assert after[: len(others)] == before
    data = parse_monitoring(EXAMPLE_A)
    total = compute_net_sink(type(data)(**{**data.__dict__, "shrubs": tuple(others)}), buffer_share_bps=BUFFER_BPS)
    more = compute_net_sink(type(data)(**{**data.__dict__, "shrubs": (*others, extra)}), buffer_share_bps=BUFFER_BPS)
    added = after[-1]["credited_tco2"]
    assert more.pools["shrubs"]["credited_tco2"] == pytest.approx(total.pools["shrubs"]["credited_tco2"] + added)
    if after[-1]["delta_tco2"] >= 0:
        assert more.pools["shrubs"]["credited_tco2"] >= total.pools["shrubs"]["credited_tco2"] - 1e-9


# the buffer is the registry's setting ----------------------------------------------------------------


@pytest.mark.parametrize(("bps", "buffer"), [(0, 0), (1, 250), (1000, 249_492), (2000, 498_984), (2500, 623_730),
                                             (10_000, 2_494_918)])  # fmt: skip
def test_the_buffer_is_the_callers_share_rounded_up_as_the_ledger_does(bps, buffer):
    result = compute(EXAMPLE_A, bps)
    assert result.creditable_grams == 2_494_918
    assert (result.buffer_grams, result.owner_grams) == (buffer, 2_494_918 - buffer)
    assert buffer == -(-2_494_918 * bps // 10_000)  # Certificates.sol: (q * bps + 9999) / 10000
    assert (result.buffer_share_bps, result.buffer_share) == (bps, bps / 10_000)


@pytest.mark.parametrize("bps", [-1, 10_001, 0.2, True, None])
def test_a_buffer_share_outside_basis_points_is_a_programming_error(bps):
    with pytest.raises(ValueError) as refused:
        compute(EXAMPLE_A, bps)
    assert not isinstance(refused.value, AccountingInputError)


@pytest.mark.parametrize("share", [0.0, 0.2, 0.05])
def test_a_buffer_share_in_the_monitoring_data_is_refused(share):
    data = {**copy.deepcopy(EXAMPLE_A), "buffer_share": share}
    with pytest.raises(AccountingInputError) as refused:
        parse_monitoring(data)
    assert refused.value.where == "buffer_share" and "registry's setting" in str(refused.value)


# bounds ----------------------------------------------------------------------------------------------


def set_(path, value):
    """A change setting data[path...] = value (a path of keys and indexes)."""

    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


BOUNDS = [
    (set_(["baseline_tco2"], -1), "baseline_tco2"),
    (set_(["baseline_tco2"], 1e8), "baseline_tco2"),
    (set_(["leakage_tco2"], -0.1), "leakage_tco2"),
    (set_(["trees", "uncertainty"], -0.1), "trees.uncertainty"),
    (set_(["trees", "uncertainty"], 1.2), "trees.uncertainty"),
    (set_(["shrubs", 0, "uncertainty"], 1.5), "shrubs[0].uncertainty"),
    (set_(["soil", "uncertainty"], 2), "soil.uncertainty"),
    (set_(["soil", "t1"], [{"depth_cm": 30, "bulk_density_g_cm3": 1.3, "soc_pct": 2, "coarse_fraction": 1.2}]),
     "soil.t1[0].coarse_fraction"),
    (set_(["soil", "t2"], [{"depth_cm": 0, "bulk_density_g_cm3": 1.3, "soc_pct": 2}]), "soil.t2[0].depth_cm"),
    (set_(["soil", "t2"], [{"depth_cm": 30, "bulk_density_g_cm3": 3.0, "soc_pct": 2}]),
     "soil.t2[0].bulk_density_g_cm3"),
    (set_(["soil", "t2"], [{"depth_cm": 30, "bulk_density_g_cm3": 1.3, "soc_pct": 70}]), "soil.t2[0].soc_pct"),
    (set_(["soil", "area_m2"], 2e7), "soil.area_m2"),
    (set_(["soil", "modelled_tco2"], 1e7), "soil.modelled_tco2"),
    (set_(["maintenance", "pump_efficiency"], 1.5), "maintenance.pump_efficiency"),
    (set_(["maintenance", "pump_efficiency"], 0), "maintenance.pump_efficiency"),
    (set_(["trees", "t2", 0, "count"], 2**64 - 1), "trees.t2[0].count"),
    (set_(["trees", "t2", 0, "count"], 10**12), "trees.t2[0].count"),
    (set_(["trees", "t2", 0, "count"], 10_000_001), "trees.t2[0].count"),
    (set_(["trees", "t2", 0, "count"], -1), "trees.t2[0].count"),
    (set_(["trees", "t2", 0, "count"], 1.5), "trees.t2[0].count"),
    (set_(["trees", "t2", 0, "count"], 1.8446744073709552e19), "trees.t2[0].count"),
    (set_(["trees", "t2", 0, "count"], True), "trees.t2[0].count"),
    (set_(["trees", "t2", 0, "count"], "40"), "trees.t2[0].count"),
    (set_(["trees", "t2", 3 - 1, "dbh_cm"], 300), "trees.t2[2].dbh_cm"),
    (set_(["trees", "t2", 1, "dbh_cm"], 260.0), "trees.t2[1].dbh_cm"),  # 26.0 cm written in mm
    (set_(["trees", "t1", 0, "dbh_cm"], 0.5), "trees.t1[0].dbh_cm"),
    (set_(["trees", "t1", 0, "dbh_cm"], float("inf")), "trees.t1[0].dbh_cm"),
    (set_(["trees", "t1", 0, "dbh_cm"], float("nan")), "trees.t1[0].dbh_cm"),
    (set_(["trees", "t1", 0, "dbh_cm"], 10**400), "trees.t1[0].dbh_cm"),
    (set_(["trees", "t1", 1, "height_m"], 121), "trees.t1[1].height_m"),
    (set_(["trees", "t1", 1, "height_m"], 0), "trees.t1[1].height_m"),
    (set_(["shrubs", 0, "area_m2"], 10_000_001), "shrubs[0].area_m2"),
    (set_(["shrubs", 0, "biomass_kg_m2_t2"], 51), "shrubs[0].biomass_kg_m2_t2"),
    (set_(["shrubs", 0, "biomass_kg_m2_t1"], float("-inf")), "shrubs[0].biomass_kg_m2_t1"),
    (set_(["herbs", 0, "area_m2"], 2e7), "herbs[0].area_m2"),
    (set_(["maintenance", "diesel_l"], 1e8), "maintenance.diesel_l"),
    (set_(["maintenance", "gasoline_l"], -5), "maintenance.gasoline_l"),
    (set_(["maintenance", "electricity_kwh"], 1e10), "maintenance.electricity_kwh"),
    (set_(["maintenance", "fertiliser_n_kg"], float("inf")), "maintenance.fertiliser_n_kg"),
    (set_(["maintenance", "urea_kg"], 1e8), "maintenance.urea_kg"),
    (set_(["maintenance", "water_m3_unmetered"], 1e9), "maintenance.water_m3_unmetered"),
    (set_(["maintenance", "pump_head_m"], 2000), "maintenance.pump_head_m"),
    (set_(["maintenance", "grid_year"], 2019), "maintenance.grid_year"),
    (set_(["maintenance", "grid_region"], 7), "maintenance.grid_region"),
    (set_(["shrubs"], "abc"), "shrubs"),
    (set_(["herbs"], 5), "herbs"),
    (set_(["trees", "t1"], {"species": "香樟"}), "trees.t1"),
    (set_(["period"], {"start": "1900-01-01", "end": "2100-12-31"}), "period.start"),
    (set_(["period", "end"], "2100-12-31"), "period.end"),
    (set_(["period", "start"], "1989-12-31"), "period.start"),
    (set_(["period"], {"start": "2019-01-01", "end": "2025-12-31"}), "period"),
    (set_(["period", "end"], "2025-13-01"), "period.end"),
    (set_(["period", "start"], "20250101"), "period.start"),
    (set_(["period", "start"], 20250101), "period.start"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "where"), BOUNDS)
def test_every_bound_is_refused_naming_its_field_and_row(change, where):
    data = copy.deepcopy(EXAMPLE_A)
    change(data)
    with pytest.raises(AccountingInputError) as refused:
        parse_monitoring(data, today=date(2026, 12, 1))
    assert refused.value.where == where, str(refused.value)
    assert str(refused.value).startswith(f"{where}: ")


def test_a_value_at_a_bound_is_accepted():
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"].append({"species": "香樟", "dbh_cm": 250, "count": 10_000_000, "height_m": 120})
    data["trees"]["t2"].append({"species": "香樟", "dbh_cm": 1, "count": 0})
    data["shrubs"].append({"area_m2": 10_000_000, "biomass_kg_m2_t1": 50, "biomass_kg_m2_t2": 0, "uncertainty": 1})
    data["maintenance"].update(pump_efficiency=1, grid_year=2021)
    data.update(baseline_tco2=0, leakage_tco2=0)
    parse_monitoring(data, today=date(2025, 12, 31))


def test_no_report_claims_a_stock_beyond_a_gigatonne():
    """Every row within its bounds, but so many that the stock would overflow what the store keeps."""
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"] = [{"species": "香樟", "dbh_cm": 250, "count": 10_000_000}] * 1000
    with pytest.raises(AccountingInputError) as refused:
        compute(data)
    assert refused.value.where == "trees.t2"


def test_the_period_ends_by_today_in_shanghai_and_lasts_at_most_five_years():
    data = copy.deepcopy(EXAMPLE_A)
    assert parse_monitoring(data, today=date(2025, 12, 31)).period_end == date(2025, 12, 31)
    with pytest.raises(AccountingInputError, match=r"period\.end"):
        parse_monitoring(data, today=date(2025, 12, 30))
    data["period"] = {"start": "2020-01-01", "end": "2024-12-31"}
    parse_monitoring(data)
    data["period"]["end"] = "2025-01-01"
    with pytest.raises(AccountingInputError, match="more than 5 years"):
        parse_monitoring(data)
    data["period"] = {"start": "2020-02-29", "end": "2025-02-28"}
    parse_monitoring(data)


# species, tags and regions ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Quercus imaginaria", "香章", "香樟树木", "", "   ", "\u200b"])
def test_an_unknown_species_is_refused_naming_the_row(name):
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"].append({"species": name, "dbh_cm": 10.0})
    with pytest.raises(AccountingInputError) as refused:
        parse_monitoring(data)
    assert refused.value.where == "trees.t2[3].species"


VARIANTS = ["香樟", " 香樟 ", "香\u200b樟", "\ufeff香樟", "Cinnamomum camphora", "cinnamomum  CAMPHORA", "樟树",
            "ＣＩＮＮＡＭＯＭＵＭ　ｃａｍｐｈｏｒａ"]  # fmt: skip


@pytest.mark.parametrize("variant", VARIANTS)
def test_spelling_variants_of_a_species_are_the_same_species_at_both_dates(variant):
    """A zero-width or full-width variant at t2 only once made a second species of the same trees: phantom
    growth of tonnes. Now every variant is the same key, and unchanged trees grow nothing."""
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"] = copy.deepcopy(data["trees"]["t1"])
    data["trees"]["t2"][1]["species"] = variant
    parsed = parse_monitoring(data)
    assert parsed.trees_t2[1].species == parsed.trees_t1[1].species == "香樟"
    assert compute(data).pools["trees"]["delta_tco2"] == 0


def test_latin_and_chinese_names_and_synonyms_share_one_key():
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t1"][0]["species"] = "Sophora japonica"
    data["trees"]["t2"][0]["species"] = "Styphnolobium japonicum"
    assert compute(data).creditable_grams == 2_494_918
    assert set(compute(data).pools["trees"]["biomass_t2_kg_by_species"]) == {"国槐", "香樟", "毛白杨"}


def test_untagged_rows_may_repeat_a_class_and_add_up_as_one_row():
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t1"][1] = {"species": "香樟", "dbh_cm": 25.0, "count": 20}
    data["trees"]["t1"].append({"species": "香樟", "dbh_cm": 25.0, "count": 20})
    assert compute(data).creditable_grams == 2_494_918


def tagged(n, dbh=25.0, first=0):
    return [{"species": "香樟", "dbh_cm": dbh, "tag": f"ZJ-{first + i:04d}"} for i in range(n)]


def test_tagged_trees_are_one_tree_each():
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t1"][1:2] = tagged(40)
    data["trees"]["t2"][1:2] = tagged(40, 26.0)
    parsed = parse_monitoring(data)
    assert [t.tag for t in parsed.trees_t2[1:41]] == [f"ZJ-{i:04d}" for i in range(40)]
    assert all(t.count == 1 for t in parsed.trees_t2 if t.tag)
    assert compute(data).creditable_grams == pytest.approx(2_494_918, abs=2)


@pytest.mark.parametrize(("row", "where", "says"), [
    ({"species": "香樟", "dbh_cm": 25.0, "tag": "A1", "count": 2}, "trees.t2[3].count", "one tree"),
    ({"species": "香樟", "dbh_cm": 25.0, "tag": "A1", "count": 0}, "trees.t2[3].count", "one tree"),
    ({"species": "香樟", "dbh_cm": 25.0, "tag": ""}, "trees.t2[3].tag", "printable"),
    ({"species": "香樟", "dbh_cm": 25.0, "tag": "x" * 65}, "trees.t2[3].tag", "printable"),
    ({"species": "香樟", "dbh_cm": 25.0, "tag": "A\u200b1"}, "trees.t2[3].tag", "printable"),
    ({"species": "香樟", "dbh_cm": 25.0, "tag": "A\n1"}, "trees.t2[3].tag", "printable"),
    ({"species": "香樟", "dbh_cm": 25.0, "tag": 17}, "trees.t2[3].tag", "string"),
])  # fmt: skip
def test_a_bad_tag_is_refused(row, where, says):
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"].append(row)
    with pytest.raises(AccountingInputError) as refused:
        parse_monitoring(data)
    assert refused.value.where == where and says in refused.value.problem


@pytest.mark.parametrize("second", ["ZJ-0001", " ZJ-0001", "ＺＪ-0001"])
def test_a_tag_repeated_in_a_census_is_refused_naming_both_rows(second):
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["t2"] += [*tagged(3), {"species": "国槐", "dbh_cm": 12.0, "tag": second}]
    with pytest.raises(AccountingInputError) as refused:
        parse_monitoring(data)
    assert refused.value.where == "trees.t2[6].tag"
    assert "trees.t2[4]" in refused.value.problem and "trees.t2[6]" in refused.value.problem
    data["trees"]["t2"].pop()
    data["trees"]["t1"] += tagged(3)  # the same tags in the other census are the same trees: fine
    parse_monitoring(data)


@pytest.mark.parametrize(("name", "code"), [
    ("华东", "east"), ("East China", "east"), ("east", "east"), (" EAST  china ", "east"), ("Ｅａｓｔ China", "east"),
    ("华北", "north"), ("东北", "northeast"), ("华中", "central"), ("西北", "northwest"), ("南方", "south"),
    ("South China", "south"), ("西南", "southwest"), ("全国", "national"), ("national", "national"),
    ("National", "national"),
])  # fmt: skip
def test_grid_regions_by_chinese_or_english_name(name, code):
    data = copy.deepcopy(EXAMPLE_A)
    data["maintenance"]["grid_region"] = name
    parsed = parse_monitoring(data)
    assert parsed.maintenance.grid_region == code
    by_code = copy.deepcopy(EXAMPLE_A)
    by_code["maintenance"]["grid_region"] = code
    assert compute(data).maintenance == compute(by_code).maintenance


def test_the_second_stratum_variants_of_example_a_as_the_method_page_gives_them():
    noisy = {"area_m2": 400, "biomass_kg_m2_t1": 1.60, "biomass_kg_m2_t2": 1.80, "uncertainty": 0.35}
    burnt = {"area_m2": 500, "biomass_kg_m2_t1": 2.0, "biomass_kg_m2_t2": 0.5, "uncertainty": 0.60}
    assert compute(with_shrubs(EXAMPLE_A["shrubs"][0], noisy)).creditable_grams == 2_494_918
    result = compute(with_shrubs(EXAMPLE_A["shrubs"][0], burnt))
    assert round(result.pools["shrubs"]["strata"][1]["credited_tco2"], 4) == -1.8095
    assert result.creditable_grams == 685_418


def leaves(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from leaves(value, (*path, i))
    yield path


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
PATHS = [p for p in leaves(EXAMPLE_A) if p]


@given(st.sampled_from(PATHS), json_values)
def test_any_value_anywhere_is_accepted_or_refused_by_name_never_a_crash(path, value):
    data = copy.deepcopy(EXAMPLE_A)
    set_(list(path), value)(data)
    try:
        result = compute(data)
    except AccountingInputError as refused:
        assert refused.where and str(refused).startswith(f"{refused.where}: ")
        return
    assert 0 <= result.creditable_grams <= 10**15 and 0 <= result.buffer_grams <= result.creditable_grams
