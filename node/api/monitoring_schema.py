"""The monitoring report's JSON schema, for the OpenAPI document only.

POST /v1/projects/{project_id}/monitoring hands the raw JSON body to registry.accounting.parse_monitoring,
the one validator of the format and the one source of its refusal messages (422 `invalid_monitoring`,
naming the field and the row). These models never parse a request: they describe that format, field for
field, with the bounds of docs/methodology.md ("Bounds of the monitoring data") read from the parser's own
constants, so clients and the schema fuzzer (tests/api/test_fuzz_monitoring.py) see what the parser accepts.
tests/api/test_monitoring_schema.py holds the two to each other: the same fields, required alike, the same
bounds, and bodies valid by the schema accepted by the parser.

What a JSON schema cannot say is left to the descriptions (and checked by the parser alone):
- the period ends after it starts, by today (Asia/Shanghai), and lasts under five years;
- a tag appears once per census;
- `maintenance.grid_year` is a year grid.csv has for the region (every region has 2023);
- the stocks and the net sink computed from rows within bounds stay within 10^9 tCO2e;
- names are compared normalised (Unicode NFKC, case, spacing, invisible characters): the enums list each
  accepted spelling once, and the parser also takes their width, case and spacing variants.
"""

import csv
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from registry import accounting as acc
from registry.factors import DATA

REF_TEMPLATE = "#/components/schemas/{model}"


def _column(name: str, *columns: str) -> list[str]:
    with (DATA / name).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return list(dict.fromkeys(row[column] for row in rows for column in columns))


SPECIES_SPELLINGS = tuple(_column("species.csv", "species", "name_zh") + _column("species_aliases.csv", "alias"))
GRID_REGION_SPELLINGS = tuple(_column("grid.csv", "region", "name_zh", "name_en"))
GRID_YEARS = tuple(sorted({int(year) for year in _column("grid.csv", "year")}))
# A tag the parser accepts whatever its normalisation: ASCII letters, digits and CJK ideographs, which NFKC
# leaves alone, and a few separators; no spaces. The parser takes any 1 to 64 printable characters.
TAG_PATTERN = r"^[0-9A-Za-z\u4e00-\u9fa5][0-9A-Za-z\u4e00-\u9fa5._:/#-]*$"


def _range(low: float, high: float, description: str = "", **more: Any) -> Any:
    return Field(ge=low, le=high, description=description or None, **more)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Species = Annotated[
    str,
    Field(
        json_schema_extra={"enum": list(SPECIES_SPELLINGS)},
        description="a species of registry/data/species.csv by its Latin or Chinese name, or an alias of "
        "species_aliases.csv (width, case and spacing do not matter)",
    ),
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Area = Annotated[float, Field(ge=0.0, le=acc.MAX_AREA_M2, description="m², per stratum (at most 10 km²)")]


class MonitoringPeriod(Body):
    """Whole days, both included: from 1990-01-01 on, ended by today (Asia/Shanghai), end after start, at most
    five years (end before the same day five years after start)."""

    start: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", json_schema_extra={"format": "date"})]
    end: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", json_schema_extra={"format": "date"})]


class MonitoringTreeRow(Body):
    """Untagged trees of one species and DBH class: rows may repeat and add up as one merged row would."""

    species: Species
    dbh_cm: float = _range(*acc.DBH_CM, "diameter at breast height, cm")
    count: int = Field(1, ge=0, le=acc.MAX_TREES_PER_ROW, description="whole trees (a JSON integer, not 1.0)")
    height_m: float | None = _range(*acc.HEIGHT_M, "m (optional)", default=None)


class MonitoringTaggedTree(Body):
    """One individual tree: its tag appears once per census; the same tag at t1 and t2 is the same tree."""

    species: Species
    dbh_cm: float = _range(*acc.DBH_CM, "diameter at breast height, cm")
    count: Literal[1] = Field(1, description="a tagged row is one tree")
    height_m: float | None = _range(*acc.HEIGHT_M, "m (optional)", default=None)
    tag: str = Field(
        min_length=1,
        max_length=acc.MAX_TAG_CHARS,
        pattern=TAG_PATTERN,
        description=f"the tree's id: 1 to {acc.MAX_TAG_CHARS} printable characters after NFKC, surrounding "
        "spaces trimmed (this pattern is a safe subset of what is accepted)",
    )


TreeRow = MonitoringTreeRow | MonitoringTaggedTree


class MonitoringTrees(Body):
    """The tree census at both dates: one stratum with one uncertainty. A tree that died or was removed
    drops out of t2."""

    t1: list[TreeRow]
    t2: list[TreeRow]
    uncertainty: Fraction = Field(0.0, description="the census' relative uncertainty (a fraction)")
    area_m2: float | None = Field(
        None, gt=0.0, le=acc.MAX_AREA_M2, description="m² the trees stand on, for stems per hectare (optional)"
    )


class MonitoringShrubStratum(Body):
    area_m2: Area
    biomass_kg_m2_t1: float = _range(*acc.SHRUB_BIOMASS_KG_M2, "harvest quadrats, kg dry matter per m²")
    biomass_kg_m2_t2: float = _range(*acc.SHRUB_BIOMASS_KG_M2, "harvest quadrats, kg dry matter per m²")
    uncertainty: Fraction = 0.0


class MonitoringHerbStratum(Body):
    area_m2: Area


class MonitoringSoilSample(Body):
    depth_cm: float = _range(*acc.SOIL_DEPTH_CM)
    bulk_density_g_cm3: float = _range(*acc.SOIL_BULK_DENSITY_G_CM3, "2.65 is the density of quartz")
    soc_pct: float = _range(*acc.SOIL_SOC_PCT, "organic carbon, % of mass")
    coarse_fraction: Fraction = 0.0


class MonitoringSoil(Body):
    """Soil carbon counts only when measured at both dates; a modelled change is reported and held back."""

    area_m2: Area = 0.0
    t1: list[MonitoringSoilSample] = []
    t2: list[MonitoringSoilSample] = []
    modelled_tco2: float | None = _range(
        -acc.MAX_MODELLED_SOIL_TCO2, acc.MAX_MODELLED_SOIL_TCO2, "held back in any case", default=None
    )
    uncertainty: Fraction = 0.0


class MonitoringMaintenance(Body):
    """The period's maintenance emissions, deducted from the sink."""

    diesel_l: float = _range(0.0, acc.MAINTENANCE_MAX["diesel_l"], default=0.0)
    gasoline_l: float = _range(0.0, acc.MAINTENANCE_MAX["gasoline_l"], default=0.0)
    electricity_kwh: float = _range(0.0, acc.MAINTENANCE_MAX["electricity_kwh"], default=0.0)
    grid_region: str = Field(
        "national",
        json_schema_extra={"enum": list(GRID_REGION_SPELLINGS)},
        description="a region of registry/data/grid.csv by its code, Chinese or English name",
    )
    grid_year: int = Field(
        2023,
        json_schema_extra={"enum": list(GRID_YEARS)},
        description="a year registry/data/grid.csv has for the region (2023 for every region)",
    )
    fertiliser_n_kg: float = _range(0.0, acc.MAINTENANCE_MAX["fertiliser_n_kg"], default=0.0)
    urea_kg: float = _range(0.0, acc.MAINTENANCE_MAX["urea_kg"], default=0.0)
    water_m3_unmetered: float = _range(0.0, acc.MAINTENANCE_MAX["water_m3_unmetered"], default=0.0)
    pump_head_m: float = _range(0.0, acc.MAINTENANCE_MAX["pump_head_m"], default=0.0)
    pump_efficiency: float = _range(*acc.PUMP_EFFICIENCY, "a fraction; 0 would divide by zero", default=0.7)


class MonitoringBody(Body):
    """A monitoring report (method SL-GS-001, docs/methodology.md): validated by the node's accounting parser,
    which refuses with 422 `invalid_monitoring` naming the field and row (`trees.t2[3].dbh_cm: must be >= 1
    and <= 250 (got 300)`). Numbers are finite JSON numbers (no strings, booleans, NaN or 1e999); units are
    part of the field names, and an unknown field is refused. `buffer_share` is refused: the buffer is the
    registry's setting."""

    period: MonitoringPeriod
    trees: MonitoringTrees
    shrubs: list[MonitoringShrubStratum] = []
    herbs: list[MonitoringHerbStratum] = Field([], description="herbs and lawn: zero change after establishment")
    soil: MonitoringSoil = MonitoringSoil()
    maintenance: MonitoringMaintenance = MonitoringMaintenance()
    baseline_tco2: float = _range(0.0, acc.MAX_BASELINE_TCO2, default=0.0)
    leakage_tco2: float = _range(0.0, acc.MAX_BASELINE_TCO2, default=0.0)


def monitoring_components() -> dict[str, Any]:
    """MonitoringBody and the models it refers to, as OpenAPI components (refs to #/components/schemas)."""
    schema = MonitoringBody.model_json_schema(ref_template=REF_TEMPLATE)
    defs = schema.pop("$defs", {})
    return {**defs, "MonitoringBody": schema}


MONITORING_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="MonitoringBody")}}},
    }
}


def install_monitoring_schema(app: FastAPI) -> None:
    """The app's OpenAPI document gets the monitoring models among its components (FastAPI only collects the
    models its routes parse with)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in monitoring_components().items():
            if name in schemas and schemas[name] != schema:
                raise RuntimeError(f"OpenAPI component {name} is already another model")
            schemas[name] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
