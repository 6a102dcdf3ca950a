"""Plausibility checks: every refusal and flag names its field and row; the ranges file loads and is sane."""

import dataclasses
from datetime import date

import pytest

from registry import factors
from registry.accounting import AccountingInputError, MonitoringData, ShrubStratum, TreeRecord, parse_monitoring
from registry.plausibility import (
    PlausibilityRefused,
    census_summary,
    check_plausibility,
    group_of,
    ranges,
    require_plausible,
    species_groups,
)
from tests.unit.registry.test_accounting import EXAMPLE_A

YEAR = (date(2025, 1, 1), date(2025, 12, 31))
NEXT = (date(2026, 1, 1), date(2026, 12, 31))


def tree(tag: str | None, species: str, dbh: float, count: int = 1) -> TreeRecord:
    return TreeRecord(species=species, dbh_cm=dbh, count=count, tag=tag)


def data(t1, t2, period=YEAR, **extra) -> MonitoringData:
    return MonitoringData(period_start=period[0], period_end=period[1], trees_t1=tuple(t1), trees_t2=tuple(t2), **extra)


def park(n: int = 10, grow: float = 1.0, period=YEAR, start: float = 25.0) -> MonitoringData:
    return data(
        [tree(f"T{i}", "香樟", start + i / 10) for i in range(n)],
        [tree(f"T{i}", "香樟", start + i / 10 + grow) for i in range(n)],
        period,
    )


def codes(result) -> list[str]:
    return [f.code for f in result.flags]


# the data ----------------------------------------------------------------------------------------


def test_ranges_load_with_a_source_for_every_row_and_are_sane():
    table = ranges()
    groups = {g for g, _ in table} - {"shrub"}
    assert {"fast_broadleaf", "broadleaf", "slow_broadleaf", "conifer", "palm", "bamboo", "generic"} <= groups
    for group in groups:
        inc, top, stems = table[(group, "dbh_increment")], table[(group, "max_dbh")], table[(group, "stems_per_ha")]
        assert 0 <= inc.low < inc.high <= 3.0 and inc.unit == "cm/yr"
        assert 20 <= top.high <= 300 and 0 < stems.low < stems.high
    assert table[("fast_broadleaf", "dbh_increment")].high > table[("slow_broadleaf", "dbh_increment")].high
    assert table[("bamboo", "dbh_increment")].high < table[("palm", "dbh_increment")].high
    shrub = table[("shrub", "biomass")]
    assert 0 < shrub.low < 1.6 and 1.8 < shrub.high <= 20 and shrub.unit == "kg/m2"
    assert all(r.source.strip() and r.tag in ("V", "R", "A") for r in table.values())


def test_every_species_maps_to_a_group_with_ranges():
    groups = {g for g, _ in ranges()}
    assert set(species_groups().values()) <= groups
    assert all(group_of(name) in groups for name in factors.species())
    assert group_of("香樟") == "broadleaf" and group_of("Populus tomentosa") == "fast_broadleaf"
    assert group_of("Unknownia") == "generic"


def test_worked_example_a_raises_no_flag():
    result = check_plausibility(parse_monitoring(EXAMPLE_A))
    assert result.refusals == [] and result.flags == []


# refusals ----------------------------------------------------------------------------------------


def refused(result, code: str):
    found = [r for r in result.refusals if r.code == code]
    assert found, result.refusals
    assert all(r.message_zh and r.message_en for r in found)
    return found[0]


def test_a_tagged_tree_changing_species_is_refused():
    d = park()
    t2 = list(d.trees_t2)
    t2[3] = dataclasses.replace(t2[3], species="银杏")
    r = refused(check_plausibility(dataclasses.replace(d, trees_t2=tuple(t2))), "species_changed")
    assert (r.field, r.row) == ("trees.t2[3].species", "T3")
    with pytest.raises(PlausibilityRefused) as caught:
        require_plausible(dataclasses.replace(d, trees_t2=tuple(t2)))
    assert isinstance(caught.value, AccountingInputError) and caught.value.code == "species_changed"
    assert "trees.t2[3].species" in caught.value.where and "T3" in caught.value.where


def test_tags_dropped_within_a_period_is_refused():
    d = park()
    untagged = tuple(dataclasses.replace(t, tag=None) for t in d.trees_t2)
    r = refused(check_plausibility(dataclasses.replace(d, trees_t2=untagged)), "tags_dropped")
    assert r.field == "trees.t2"


def test_a_unit_slip_is_refused_both_ways():
    d = park(grow=0)
    mm = tuple(dataclasses.replace(t, dbh_cm=t.dbh_cm * 10) for t in d.trees_t2)
    r = refused(check_plausibility(dataclasses.replace(d, trees_t2=mm)), "unit_slip")
    assert r.field == "trees.t2[*].dbh_cm" and "×10" in r.message_en
    small = tuple(dataclasses.replace(t, dbh_cm=t.dbh_cm / 10) for t in d.trees_t2)
    refused(check_plausibility(dataclasses.replace(d, trees_t2=small)), "unit_slip")
    rows = data([tree(None, "香樟", 25.0, 40)], [tree(None, "香樟", 260.0, 40)])
    refused(check_plausibility(rows), "unit_slip")


def test_a_later_period_must_open_with_the_last_issued_closing_census():
    first = park()
    follows = park(start=26.0, period=NEXT)
    assert check_plausibility(follows, first).refusals == []
    within = dataclasses.replace(follows, trees_t1=tuple(dataclasses.replace(t, dbh_cm=t.dbh_cm + 0.1)
                                                         for t in follows.trees_t1))  # fmt: skip
    assert check_plausibility(within, first).refusals == []

    t1 = list(follows.trees_t1)
    t1[2] = dataclasses.replace(t1[2], dbh_cm=t1[2].dbh_cm + 0.5)
    r = refused(check_plausibility(dataclasses.replace(follows, trees_t1=tuple(t1)), first), "census_discontinuity")
    assert (r.field, r.row) == ("trees.t1[2].dbh_cm", "T2")
    t1 = list(follows.trees_t1)
    t1[4] = dataclasses.replace(t1[4], species="银杏")
    r = refused(check_plausibility(dataclasses.replace(follows, trees_t1=tuple(t1)), first), "census_discontinuity")
    assert (r.field, r.row) == ("trees.t1[4].species", "T4")
    t1 = list(follows.trees_t1)
    t1[5] = dataclasses.replace(t1[5], tag="X99")
    result = check_plausibility(dataclasses.replace(follows, trees_t1=tuple(t1)), first)
    r = refused(result, "census_discontinuity")
    assert (r.field, r.row) == ("trees.t1[5]", "X99") and result.refusals[-1].row == "T5"
    # The same census relabelled as the next period opens with the old t1, not the issued t2.
    relabelled = dataclasses.replace(first, period_start=NEXT[0], period_end=NEXT[1])
    refused(check_plausibility(relabelled, first), "census_discontinuity")


def test_an_untagged_census_continues_as_a_multiset():
    first = parse_monitoring(EXAMPLE_A)
    closing = first.trees_t2
    grown = tuple(dataclasses.replace(t, dbh_cm=t.dbh_cm + 0.8) for t in closing)
    follows = data(reversed(closing), grown, NEXT)
    assert check_plausibility(follows, first).refusals == []
    fewer = data([dataclasses.replace(closing[0], count=38), *closing[1:]], grown, NEXT)
    r = refused(check_plausibility(fewer, first), "census_discontinuity")
    assert (r.field, r.row) == ("trees.t1", "国槐")
    zero_rows = data([*closing, tree(None, "香樟", 99.0, 0)], grown, NEXT)
    assert check_plausibility(zero_rows, first).refusals == [], "a row of no trees is no tree"


def test_an_opening_census_copied_row_for_row_passes_and_any_change_in_it_is_still_found():
    """The copied census is recognised by comparing rows in order; every other census is compared in full."""
    first = parse_monitoring(EXAMPLE_A)
    closing = first.trees_t2
    grown = tuple(dataclasses.replace(t, dbh_cm=t.dbh_cm + 0.8) for t in closing)
    assert check_plausibility(data(closing, grown, NEXT), first).refusals == []
    one_more = data([*closing[:2], dataclasses.replace(closing[2], count=41)], grown, NEXT)
    assert refused(check_plausibility(one_more, first), "census_discontinuity").row == "毛白杨"
    tagged = park()
    same = [tree(t.tag, t.species, t.dbh_cm) for t in tagged.trees_t2]
    assert check_plausibility(data(same, same, NEXT), tagged).refusals == []
    assert check_plausibility(data(same[::-1], same, NEXT), tagged).refusals == []
    moved = [*same[:3], tree(same[3].tag, same[3].species, same[3].dbh_cm + 0.3), *same[4:]]
    r = refused(check_plausibility(data(moved, same, NEXT), tagged), "census_discontinuity")
    assert (r.field, r.row) == ("trees.t1[3].dbh_cm", "T3")


def test_a_tagged_project_must_stay_tagged():
    first = park()
    follows = park(start=26.0, period=NEXT)
    untagged = dataclasses.replace(
        follows,
        trees_t1=tuple(dataclasses.replace(t, tag=None) for t in follows.trees_t1),
        trees_t2=tuple(dataclasses.replace(t, tag=None) for t in follows.trees_t2),
    )
    r = refused(check_plausibility(untagged, first), "tags_dropped")
    assert r.field == "trees.t1"


def test_a_census_issued_before_is_refused_under_any_period():
    first = park()
    issued = [(census_summary(first.trees_t1), census_summary(first.trees_t2))]
    earlier = dataclasses.replace(first, period_start=date(2024, 1, 1), period_end=date(2024, 12, 31))
    r = refused(check_plausibility(earlier, first, issued_censuses=issued), "census_discontinuity")
    assert r.field == "trees"
    shuffled = dataclasses.replace(earlier, trees_t2=tuple(reversed(earlier.trees_t2)))
    refused(check_plausibility(shuffled, first, issued_censuses=issued), "census_discontinuity")
    other = dataclasses.replace(earlier, trees_t2=earlier.trees_t2[1:])
    assert check_plausibility(other, first, issued_censuses=issued).refusals == []


def test_census_summary_ignores_order_and_empty_rows():
    rows = [tree(None, "香樟", 25.0, 3), tree("A", "香樟", 26.04), tree(None, "国槐", 20.0, 0)]
    assert census_summary(rows) == census_summary(list(reversed(rows)))
    assert census_summary(rows) == {"香樟": [4, 3 * 2500 + 2604, 3 * 2500**2 + 2604**2]}


# flags -------------------------------------------------------------------------------------------


def flag(result, code: str):
    found = [f for f in result.flags if f.code == code]
    assert found, codes(result)
    f = found[0]
    assert f.message_zh and f.message_en and f.unit
    assert result.flag_counts[code] == len(found)
    return f


def test_growth_beyond_the_group_range_is_flagged_with_field_row_value_and_range():
    d = park()
    t2 = list(d.trees_t2)
    t2[7] = dataclasses.replace(t2[7], dbh_cm=d.trees_t1[7].dbh_cm + 4.0)
    result = check_plausibility(dataclasses.replace(d, trees_t2=tuple(t2)))
    assert result.refusals == []
    f = flag(result, "growth_out_of_range")
    assert (f.field, f.row, f.observed) == ("trees.t2[7].dbh_cm", "T7", 4.0)
    years = 364 / 365.25
    assert f.allowed == (-1.0, round(2.0 * years + 0.1, 4))
    assert result.as_dict()["flags"][0]["allowed"] == [-1.0, f.allowed[1]]


def test_growth_range_scales_with_the_period():
    two_years = (date(2025, 1, 1), date(2026, 12, 31))
    assert check_plausibility(park(grow=3.5, period=two_years)).flags == []
    assert codes(check_plausibility(park(grow=3.5))) == ["growth_out_of_range"] * 10


def test_a_shrinking_dbh_is_flagged():
    d = park()
    t2 = list(d.trees_t2)
    t2[1] = dataclasses.replace(t2[1], dbh_cm=d.trees_t1[1].dbh_cm - 1.5)
    f = flag(check_plausibility(dataclasses.replace(d, trees_t2=tuple(t2))), "dbh_shrank")
    assert (f.field, f.row, f.observed, f.allowed) == ("trees.t2[1].dbh_cm", "T1", -1.5, (-1.0, None))
    t2[1] = dataclasses.replace(t2[1], dbh_cm=d.trees_t1[1].dbh_cm - 0.5)
    assert check_plausibility(dataclasses.replace(d, trees_t2=tuple(t2))).flags == []


def test_a_dbh_above_the_group_maximum_is_flagged():
    giant = data([tree(None, "毛白杨", 199.0, 2)], [tree(None, "毛白杨", 201.0, 2)])
    f = flag(check_plausibility(giant), "dbh_above_maximum")
    assert (f.field, f.row, f.observed, f.allowed) == ("trees.t2[0].dbh_cm", "毛白杨", 201.0, (0.0, 200.0))


def test_untagged_growth_is_judged_on_each_species_mean():
    d = data([tree(None, "银杏", 20.0, 10)], [tree(None, "银杏", 22.0, 10)])
    f = flag(check_plausibility(d), "growth_out_of_range")
    assert f.row == "银杏" and f.field.startswith("trees.t2") and f.observed == 2.0


def test_stems_per_hectare_beyond_range_are_flagged_when_an_area_is_given():
    d = park(n=10)
    assert check_plausibility(d, tree_area_m2=1000).flags == []  # 100 stems/ha
    f = flag(check_plausibility(d, tree_area_m2=10), "stems_per_ha_out_of_range")  # 10,000 stems/ha
    assert (f.field, f.observed, f.unit) == ("trees.area_m2", 10_000.0, "stems/ha") and f.allowed == (5.0, 2000.0)
    assert codes(check_plausibility(d, tree_area_m2=100_000)) == ["stems_per_ha_out_of_range"]  # 1 stem/ha


def test_shrub_biomass_beyond_range_is_flagged_per_stratum():
    d = dataclasses.replace(
        park(),
        shrubs=(ShrubStratum(800, 1.6, 1.8), ShrubStratum(100, 0.0, 0.8), ShrubStratum(50, 1600.0, 1800.0)),
    )
    result = check_plausibility(d)
    assert codes(result) == ["shrub_biomass_out_of_range"] * 2
    f = result.flags[0]
    assert (f.field, f.row, f.observed, f.allowed) == ("shrubs[2].biomass_kg_m2_t1", "2", 1600.0, (0.05, 12.0))


def test_flags_are_listed_up_to_a_cap_and_counted_in_full():
    result = check_plausibility(park(n=250, grow=5.0))
    assert result.flag_counts == {"growth_out_of_range": 250} and len(result.flags) == 100
    section = result.as_dict()
    assert section["flags_total"] == 250 and section["flag_counts"] == {"growth_out_of_range": 250}
