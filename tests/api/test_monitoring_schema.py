"""The documented monitoring body (node.api.monitoring_schema, in the OpenAPI document) and the parser that
really validates it (registry.accounting.parse_monitoring) agree: the same fields in every object, required
alike; the same bounds, to the last float; the same names; and bodies generated from the schema (schemathesis'
own generation) are accepted, once the rules between fields a JSON schema cannot state are met."""

import json
import math
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from node.api.monitoring_schema import GRID_REGION_SPELLINGS, GRID_YEARS, SPECIES_SPELLINGS
from registry import accounting, factors
from registry.accounting import AccountingInputError, grid_region_code, parse_monitoring, species_key
from tests.api.monitoring_bodies import (
    ROUTE,
    TODAY,
    Path_,
    body_schema,
    full_body,
    leaves,
    numeric_leaves,
    objects,
    openapi,
    parser_has_trees_area,
    resolve,
    satisfy_cross_field_rules,
    where,
    with_value,
)

# The schema documents trees.area_m2 (optional); the parser is getting it. Until then it is the one field the
# schema may list and the parser not.
PENDING = {"trees": {"area_m2"}} if not parser_has_trees_area() else {}


def parse(body: Any) -> Any:
    return parse_monitoring(body, today=TODAY)


def refused_at(body: Any) -> str:
    with pytest.raises(AccountingInputError) as refused:
        parse(body)
    return refused.value.where


def test_the_request_body_is_the_documented_schema_and_every_ref_resolves():
    document = openapi()
    body = document["paths"][ROUTE]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/MonitoringBody"}
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(document))
    assert refs and all(resolve({"$ref": ref}) for ref in refs)
    assert "buffer_share" not in body_schema()["properties"]


# --- the same fields ------------------------------------------------------------------------------------------


def parser_fields() -> dict[str, tuple[set[str], set[str]]]:
    """Each object's allowed and required fields as the parser checks them, recorded from its `_fields` calls
    while it parses a report using every object (rows as `trees.t1[]`, the top level as "")."""
    seen: dict[str, tuple[set[str], set[str]]] = {}
    original = accounting._fields

    def recording(data: Any, at: str, allowed: set[str], required: Any = ()) -> Any:
        name = "" if at == "monitoring" else re.sub(r"\[\d+\]", "[]", at)
        assert seen.setdefault(name, (set(allowed), set(required))) == (set(allowed), set(required)), name
        return original(data, at, allowed, required)

    accounting._fields = recording
    try:
        parse(full_body())
    finally:
        accounting._fields = original
    return seen


def where_pattern(path: Path_) -> str:
    return re.sub(r"\[\d+\]", "[]", where(path))


def schema_fields(schema: dict[str, Any], at: str = "") -> dict[str, tuple[set[str], set[str]]]:
    """Each object's fields and required fields as the schema lists them (a row that is one of several objects:
    the fields of any, required those all require)."""
    schema = resolve(schema)
    objects = [resolve(o) for o in schema.get("anyOf", [schema]) if resolve(o).get("type") == "object"]
    out: dict[str, tuple[set[str], set[str]]] = {}
    if objects:
        fields = set().union(*(o["properties"] for o in objects))
        required = set.intersection(*(set(o.get("required", [])) for o in objects))
        out[at] = (fields, required)
        for o in objects:
            for key, sub in o["properties"].items():
                out.update(schema_fields(sub, f"{at}.{key}" if at else key))
    for option in [schema, *schema.get("anyOf", [])]:
        if resolve(option).get("type") == "array":
            out.update(schema_fields(resolve(option)["items"], f"{at}[]"))
    return out


def test_every_object_lists_exactly_the_fields_the_parser_allows_and_requires():
    """By the sets the parser checks objects against (recorded from `_fields`; the report's tagged rows have
    non-ASCII tags, which no fast path of the parser takes)."""
    parser, schema = parser_fields(), schema_fields(body_schema())
    assert set(schema) == set(parser), "the same objects (a missing one: its fields were not seen checked)"
    for name, (fields, required) in schema.items():
        allowed, needed = parser[name]
        assert fields - PENDING.get(name, set()) == allowed, name
        assert required == needed, name


def test_the_report_used_here_gives_every_field_the_schema_lists():
    given_fields = {where_pattern(path) for path, _ in leaves(full_body(), body_schema())}
    listed = set()
    for name, (fields, _) in schema_fields(body_schema()).items():
        listed |= {f"{name}.{f}" if name else f for f in fields - PENDING.get(name, set())}
    objects = set(schema_fields(body_schema()))
    containers = objects | {name.removesuffix("[]") for name in objects}  # objects and lists of them
    assert listed - containers == given_fields


def test_every_object_refuses_an_unknown_field_and_a_missing_required_one_as_its_schema_says():
    """The same, by behaviour alone: whatever path the parser takes through an object."""
    body, schema = full_body(), schema_fields(body_schema())
    for path, value in objects(body):
        name = where_pattern(path)
        fields, required = schema[name]
        assert set(value) <= fields - PENDING.get(name, set()), name
        at = where(path) if path else "monitoring"  # how the parser names the object
        unknown = with_value(body, (*path, "dbh_in"), 1) if path else {**body, "dbh_in": 1}
        assert refused_at(unknown) == f"{at}.dbh_in", name
        for key in value:
            fewer = {k: v for k, v in value.items() if k != key}
            smaller = with_value(body, path, fewer) if path else fewer
            if key in required:
                assert refused_at(smaller) == f"{at}.{key}", (name, key)
            else:
                parse(smaller)


# --- the same bounds ------------------------------------------------------------------------------------------


NUMERIC = [(path, schema) for path, schema in numeric_leaves(full_body())]


@pytest.mark.parametrize(("path", "schema"), NUMERIC, ids=[where(path) for path, _ in NUMERIC])
def test_each_bound_is_the_parsers_to_the_last_float(path, schema):
    body = full_body()
    if "const" in schema:  # a tagged row's count
        parse(with_value(body, path, schema["const"]))
        for value in (schema["const"] - 1, schema["const"] + 1):
            assert refused_at(with_value(body, path, value)) == where(path)
        return
    if "enum" in schema:  # maintenance.grid_year
        for year in schema["enum"]:
            parse(with_value(with_value(body, ("maintenance", "grid_region"), "national"), path, year))
        assert refused_at(with_value(body, path, max(schema["enum"]) + 1)) == where(path)
        return
    high = schema["maximum"]
    if "exclusiveMinimum" in schema:  # trees.area_m2: more than 0
        low = schema["exclusiveMinimum"]
        assert refused_at(with_value(body, path, low)) == where(path)
        parse(with_value(body, path, math.nextafter(low, math.inf)))
    else:
        low = schema["minimum"]
        parse(with_value(body, path, low))
    parse(with_value(body, path, high))
    if schema["type"] == "integer":
        outside = [low - 1, high + 1, float(low), 2**64 - 1]
    else:
        outside = [math.nextafter(low, -math.inf), math.nextafter(high, math.inf), 1e308, -1e308]
        if low == 0 and "minimum" in schema:
            parse(with_value(body, path, -0.0))
            parse(with_value(body, path, 5e-324))
    for value in [*outside, "1", True, [], {}]:
        assert refused_at(with_value(body, path, value)) == where(path), value


@pytest.mark.parametrize(("path", "schema"), NUMERIC, ids=[where(path) for path, _ in NUMERIC])
def test_null_is_accepted_exactly_where_the_schema_allows_it(path, schema):
    body, nullable = (
        full_body(),
        any(option.get("type") == "null" for option in dict(leaves(full_body(), body_schema()))[path].get("anyOf", [])),
    )
    if nullable:
        parse(with_value(body, path, None))
    else:
        assert refused_at(with_value(body, path, None)) == where(path)


# --- the same names -------------------------------------------------------------------------------------------


def test_the_enums_are_the_names_the_parser_knows():
    assert all(species_key(name) for name in SPECIES_SPELLINGS)
    assert {factors.normalise_name(name) for name in SPECIES_SPELLINGS} == set(factors.species_names())
    assert all(grid_region_code(name) for name in GRID_REGION_SPELLINGS)
    assert {factors.normalise_name(name) for name in GRID_REGION_SPELLINGS} == set(factors.grid_regions())
    assert set(GRID_YEARS) == {year for _, year in factors.grid_factors()}
    assert all((region, 2023) in factors.grid_factors() for region in set(factors.grid_regions().values()))


# --- generated bodies are accepted ----------------------------------------------------------------------------

OPERATION = schemathesis.openapi.from_dict(openapi())[ROUTE]["POST"]


@given(case=OPERATION.as_strategy(generation_mode=GenerationMode.POSITIVE))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_bodies_generated_from_the_schema_are_accepted_by_the_parser(case):
    parse(satisfy_cross_field_rules(case.body))


def test_the_cross_field_rules_are_what_the_parser_refuses_beyond_the_schema():
    """The rules the fix-up above applies are real refusals, not leniency of the test."""
    body = full_body()
    assert refused_at(with_value(body, ("period", "end"), "2024-12-31")) == "period"
    twice = with_value(body, ("trees", "t2"), [*body["trees"]["t2"], body["trees"]["t2"][1]])
    assert refused_at(twice) == "trees.t2[2].tag"
    assert refused_at(with_value(body, ("maintenance", "grid_year"), 2021)) == "maintenance.grid_year"
