"""The accounting's fast paths (issue 19) give exactly what the straightforward computation gives: the same
records from the same rows, the same kilograms per species to the last bit, the same input hash; and the
optional tree area (trees.area_m2) is parsed, bounded and hashed only when given."""

import copy
import json
from dataclasses import asdict, astuple, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.accounting import (
    AccountingInputError,
    TreeRecord,
    _tree,
    _trees,
    compute_net_sink,
    input_hash,
    inputs_json,
    parse_monitoring,
    tree_biomass_kg,
)
from registry.plausibility import check_plausibility
from tests.unit.registry.test_accounting import EXAMPLE_A

# Spellings as owners write them: keys, Latin, aliases, full-width, zero-width, padded.
NAMES = ["香樟", "樟树", "Cinnamomum camphora", "国槐", "Sophora japonica", "毛白杨", "杨树", "银杏", "Ginkgo biloba",
         "悬铃木", "Platanus × acerifolia", "栾树", " 香樟 ", "ＧＩＮＫＧＯ biloba", "银\u200b杏"]  # fmt: skip
dbh = st.floats(1.0, 250.0) | st.integers(1, 250) | st.sampled_from([20.0, 20.8, 25.0, 26.0, 31.2])
tags = st.text(min_size=1, max_size=12) | st.from_regex(r"[A-Z]{1,3}-\d{1,6}", fullmatch=True)
untagged_row = st.fixed_dictionaries(
    {"species": st.sampled_from(NAMES), "dbh_cm": dbh},
    optional={"count": st.integers(0, 500), "height_m": st.none() | st.floats(0.1, 120.0) | st.integers(1, 120)},
)
tagged_row = st.fixed_dictionaries(
    {"species": st.sampled_from(NAMES), "dbh_cm": dbh, "tag": tags},
    optional={"count": st.just(1), "height_m": st.floats(0.1, 120.0)},
)
rows = st.lists(untagged_row | tagged_row, max_size=40)


def typed(record: TreeRecord) -> tuple:
    """A record's fields with their types: 25 and 25.0 are equal, yet hash (and print) apart."""
    return tuple((type(v), v) for v in astuple(record))


def row_by_row(census: list, where: str = "trees.t1") -> tuple[TreeRecord, ...]:
    """Every row through the field-by-field validation, as before the fast path."""
    tagged: dict[str, int] = {}
    return tuple(_tree(row, where, i, tagged) for i, row in enumerate(census))


def outcome(parse, census):
    try:
        return [typed(r) for r in parse(census)]
    except AccountingInputError as refused:
        return str(refused)


@settings(max_examples=300)
@given(rows)
def test_the_fast_parser_gives_the_records_and_refusals_of_the_row_by_row_one(census):
    assert outcome(lambda c: _trees(c, "trees.t1"), census) == outcome(row_by_row, census)


@settings(max_examples=200)
@given(rows, st.sampled_from(["dbh_cm", "count", "height_m", "tag", "species", "extra"]), st.data())
def test_a_bad_field_anywhere_is_refused_by_both_naming_the_same_field(census, field, data):
    if not census:
        return
    row = census[data.draw(st.integers(0, len(census) - 1))]
    row[field] = data.draw(st.sampled_from([float("nan"), float("inf"), -1.0, 0.5, 300.0, 10**9, True, "x", None,
                                            "", " T-1 ", "\x00", "x" * 65, 2, "Quercus imaginaria"]))  # fmt: skip
    assert outcome(lambda c: _trees(c, "trees.t1"), census) == outcome(row_by_row, census)


def reference_by_species(trees: tuple[TreeRecord, ...]) -> dict[str, float]:
    """The stock's kilograms per species as first written: each row's equation evaluated on its own."""
    by_species: dict[str, float] = {}
    for tree in trees:
        mass, _, _ = tree_biomass_kg(tree.species, tree.dbh_cm)
        by_species[tree.species] = by_species.get(tree.species, 0.0) + mass * tree.count
    return by_species


def reference_json(data) -> str:
    document = asdict(data)
    if document["tree_area_m2"] is None:
        del document["tree_area_m2"]
    return json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))


@settings(max_examples=200)
@given(st.lists(untagged_row, max_size=30), st.lists(untagged_row, max_size=30))
def test_stocks_and_hash_equal_the_straightforward_computation_to_the_bit(t1, t2):
    report = {"period": {"start": "2025-01-01", "end": "2025-12-31"}, "trees": {"t1": t1, "t2": t2}}
    data = parse_monitoring(report)
    result = compute_net_sink(data, buffer_share_bps=2000)
    trees = result.pools["trees"]
    assert trees["biomass_t2_kg_by_species"] == reference_by_species(data.trees_t2)
    assert list(trees["biomass_t2_kg_by_species"]) == list(reference_by_species(data.trees_t2))
    assert trees["stock_t1_tco2"] == sum(reference_by_species(data.trees_t1).values()) * 0.8 * 0.47 * (44 / 12) / 1000
    assert inputs_json(data) == reference_json(data)


@given(st.lists(st.builds(TreeRecord, st.sampled_from(["香樟", "Quercus imaginaria", "x\"y", "€"]),
                          st.floats(allow_nan=True) | st.integers() | st.booleans(),
                          st.integers() | st.booleans(), st.none() | st.floats() | st.integers() | st.text(max_size=3),
                          st.none() | st.text(max_size=5) | st.integers()), max_size=8))  # fmt: skip
def test_the_hash_text_is_json_dumps_of_asdict_for_any_records(records):
    """Records built by hand (not parsed) may hold anything: the text is still json.dumps's, value for value."""
    data = replace(parse_monitoring(EXAMPLE_A), trees_t2=tuple(records))
    assert inputs_json(data) == reference_json(data)


def test_worked_example_a_keeps_its_hash_and_an_area_changes_it():
    data = parse_monitoring(EXAMPLE_A)
    assert data.tree_area_m2 is None and '"tree_area_m2"' not in inputs_json(data)
    with_area = copy.deepcopy(EXAMPLE_A)
    with_area["trees"]["area_m2"] = 12_000
    parsed = parse_monitoring(with_area)
    assert parsed.tree_area_m2 == 12_000.0 and '"tree_area_m2":12000.0' in inputs_json(parsed)
    assert input_hash(parsed) != input_hash(data)
    assert compute_net_sink(parsed, buffer_share_bps=2000).creditable_grams == 2_494_918
    null = copy.deepcopy(EXAMPLE_A)
    null["trees"]["area_m2"] = None
    assert input_hash(parse_monitoring(null)) == input_hash(data)


@pytest.mark.parametrize("area", [0, -5, 10_000_001, "12000", True, float("nan"), [1]])
def test_a_tree_area_out_of_bounds_is_refused_by_name(area):
    data = copy.deepcopy(EXAMPLE_A)
    data["trees"]["area_m2"] = area
    with pytest.raises(AccountingInputError) as refused:
        parse_monitoring(data)
    assert refused.value.where == "trees.area_m2"


def test_an_implausible_density_from_the_reports_own_area_is_flagged():
    """119 trees at t2 on 50 m² are 23,800 stems/ha; on 1 ha, 119: the report's own area is used."""
    crowded = copy.deepcopy(EXAMPLE_A)
    crowded["trees"]["area_m2"] = 50
    flags = check_plausibility(parse_monitoring(crowded)).flags
    assert [f.code for f in flags] == ["stems_per_ha_out_of_range"] and flags[0].field == "trees.area_m2"
    assert flags[0].observed == 23_800.0
    spacious = copy.deepcopy(EXAMPLE_A)
    spacious["trees"]["area_m2"] = 10_000
    assert check_plausibility(parse_monitoring(spacious)).flags == []
    assert check_plausibility(parse_monitoring(EXAMPLE_A)).flags == [], "no area, no density"
