"""Monitoring bodies for the schema tests: the documented schema as the OpenAPI document has it, a report using
every field it lists, its numeric fields, and the rules between fields that a JSON schema cannot state."""

import copy
import tempfile
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from node.api.app import create_app
from node.settings import load_settings
from registry import factors
from registry.accounting import AccountingInputError, grid_region_code, parse_monitoring

PERIOD = {"start": "2025-01-01", "end": "2025-12-31"}
TODAY = date(2026, 1, 1)  # parse_monitoring's `today` in these tests: PERIOD has ended
ROUTE = "/v1/projects/{project_id}/monitoring"

Path_ = tuple[str | int, ...]


@cache
def openapi() -> dict[str, Any]:
    app = create_app(load_settings(home=Path(tempfile.gettempdir()) / "sinkledger-schema"))
    return app.openapi()


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its `$ref` (one of the app's components) followed."""
    while "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix), schema["$ref"]
        schema = openapi()["components"]["schemas"][schema["$ref"].removeprefix(prefix)]
    return schema


def body_schema() -> dict[str, Any]:
    return resolve(openapi()["paths"][ROUTE]["post"]["requestBody"]["content"]["application/json"]["schema"])


@cache
def parser_has_trees_area() -> bool:
    """Whether registry.accounting already accepts `trees.area_m2` (the schema documents it; it is being added
    to the parser): until it does, the tests leave it out of the bodies they send."""
    body = {"period": PERIOD, "trees": {"t1": [], "t2": [], "area_m2": 1.0}}
    try:
        parse_monitoring(body, today=TODAY)
    except AccountingInputError as refused:
        assert refused.where == "trees.area_m2" and refused.problem.startswith("unknown field"), refused
        return False
    return True


def full_body() -> dict[str, Any]:
    """A valid report that gives every field the schema lists (untagged and tagged tree rows at both dates)."""
    samples = [{"depth_cm": 30, "bulk_density_g_cm3": 1.3, "soc_pct": 2.0, "coarse_fraction": 0.1}]
    body: dict[str, Any] = {
        "period": dict(PERIOD),
        "trees": {
            "t1": [
                {"species": "香樟", "dbh_cm": 25.0, "count": 10, "height_m": 12.0},
                {"species": "Ginkgo biloba", "dbh_cm": 20.0, "count": 1, "height_m": 9.0, "tag": "银杏-1"},
            ],
            "t2": [
                {"species": "樟树", "dbh_cm": 26.0, "count": 10, "height_m": 12.5},
                {"species": "银杏", "dbh_cm": 21.0, "count": 1, "height_m": 9.5, "tag": "银杏-1"},
            ],
            "uncertainty": 0.05,
            "area_m2": 5000.0,
        },
        "shrubs": [{"area_m2": 100.0, "biomass_kg_m2_t1": 1.0, "biomass_kg_m2_t2": 1.5, "uncertainty": 0.1}],
        "herbs": [{"area_m2": 500.0}],
        "soil": {
            "area_m2": 1000.0,
            "t1": samples,
            "t2": copy.deepcopy(samples),
            "modelled_tco2": 0.5,
            "uncertainty": 0.1,
        },
        "maintenance": {
            "diesel_l": 10.0,
            "gasoline_l": 5.0,
            "electricity_kwh": 100.0,
            "grid_region": "east",
            "grid_year": 2023,
            "fertiliser_n_kg": 1.0,
            "urea_kg": 1.0,
            "water_m3_unmetered": 10.0,
            "pump_head_m": 20.0,
            "pump_efficiency": 0.7,
        },
        "baseline_tco2": 0.1,
        "leakage_tco2": 0.1,
    }
    return sendable(body)


def sendable(body: Any) -> Any:
    """A body without the fields the parser does not have yet (trees.area_m2, until it lands)."""
    if not parser_has_trees_area() and isinstance(body, dict) and isinstance(body.get("trees"), dict):
        body["trees"].pop("area_m2", None)
    return body


def variant(schema: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    """The object schema (of an anyOf of objects, the first) whose fields fit the value's keys."""
    options = [resolve(option) for option in schema.get("anyOf", [schema])]
    for option in options:
        if option.get("type") == "object" and set(option.get("required", [])) <= set(value) <= set(
            option["properties"]
        ):
            return option
    raise AssertionError(f"no schema in {options} fits {sorted(value)}")


def leaves(body: Any, schema: dict[str, Any], at: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """Every scalar of the body with its schema, by path (keys and indexes)."""
    schema = resolve(schema)
    if isinstance(body, dict):
        option = variant(schema, body)
        for key, value in body.items():
            yield from leaves(value, option["properties"][key], (*at, key))
    elif isinstance(body, list):
        for i, item in enumerate(body):
            yield from leaves(item, schema["items"], (*at, i))
    else:
        yield at, schema


def numeric(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The number or integer schema of a leaf (of `number | null`, the number), or None."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") in ("number", "integer"):
            return option
    return None


def numeric_leaves(body: dict[str, Any]) -> list[tuple[Path_, dict[str, Any]]]:
    return [(path, number) for path, schema in leaves(body, body_schema()) if (number := numeric(schema))]


def where(path: Path_) -> str:
    """A path as the parser names it: trees.t1[0].dbh_cm."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def with_value(body: Any, path: Path_, value: Any) -> Any:
    body = copy.deepcopy(body)
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


def objects(body: Any, at: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """Every object in the body, by path."""
    if isinstance(body, dict):
        yield at, body
        for key, value in body.items():
            yield from objects(value, (*at, key))
    elif isinstance(body, list):
        for i, item in enumerate(body):
            yield from objects(item, (*at, i))


def whole_numbers(body: Any) -> Any:
    """Counts and grid years written 3.0 made 3: JSON Schema's integer takes 3.0, the parser only 3."""
    for path, value in objects(body):
        for key in ("count", "grid_year"):
            item = value.get(key)
            if isinstance(item, float) and item.is_integer() and path[:1] in (("trees",), ("maintenance",)):
                value[key] = int(item)
    return body


def satisfy_cross_field_rules(body: Any) -> Any:
    """A body valid by the schema made valid for the parser too, for what a JSON schema cannot say: a period
    over by TODAY, in order, under five years; each tag once per census; a grid year the region has; counts and
    years written without a fraction."""
    if not isinstance(body, dict):
        return body
    body = whole_numbers(sendable(copy.deepcopy(body)))
    if isinstance(body.get("period"), dict):
        body["period"] = dict(PERIOD)
    trees = body.get("trees")
    if isinstance(trees, dict):
        for census in ("t1", "t2"):
            tagged = [row for row in trees.get(census, []) if isinstance(row, dict) and "tag" in row]
            if len({row["tag"] for row in tagged}) < len(tagged):
                for i, row in enumerate(tagged):
                    row["tag"] = f"row{i}"
    maintenance = body.get("maintenance")
    if isinstance(maintenance, dict):
        region = grid_region_code(maintenance.get("grid_region", "national"))
        if (region, maintenance.get("grid_year", 2023)) not in factors.grid_factors():
            maintenance["grid_year"] = 2023
    return body
