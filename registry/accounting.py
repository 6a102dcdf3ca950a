"""Net carbon sink of a green space over a monitoring period: the method SL-GS-001 (docs/accounting.md).

    C = Σ_pool ΔC_pool·(1 − u_pool) − PE − BE − LK          (tCO2e; nothing is issuable when C ≤ 0)

Trees by allometry at both dates (dead or removed trees simply drop out of the later inventory),
shrubs from harvest quadrats, herbs and lawn zero after establishment, soil carbon only when measured at
both dates (a modelled change is reported and held back), minus maintenance emissions. Every
intermediate figure is kept, and the result carries a hash of its inputs, the method version and the
factor files, so a verifier recomputes exactly the same grams.
"""

import hashlib
import json
import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from registry import factors
from registry.errors import InputRefused
from registry.units import GRAMS_PER_TONNE

METHOD_VERSION = "SL-GS-001/1.0"
GENERIC_GROUP = "other_hardwoods"
MAX_DBH_CM = 500.0
MAX_HEIGHT_M = 120.0


class AccountingInputError(InputRefused):
    """A refused input, naming the field (and row) at fault."""


# inputs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeRecord:
    species: str
    dbh_cm: float
    count: int = 1
    height_m: float | None = None
    tag: str | None = None  # an individual tree's id (a tagged row is one tree)


@dataclass(frozen=True)
class ShrubStratum:
    area_m2: float
    biomass_kg_m2_t1: float
    biomass_kg_m2_t2: float
    uncertainty: float = 0.0


@dataclass(frozen=True)
class SoilSample:
    depth_cm: float
    bulk_density_g_cm3: float
    soc_pct: float
    coarse_fraction: float = 0.0


@dataclass(frozen=True)
class Soil:
    area_m2: float = 0.0
    t1: tuple[SoilSample, ...] = ()
    t2: tuple[SoilSample, ...] = ()
    modelled_tco2: float | None = None
    uncertainty: float = 0.0


@dataclass(frozen=True)
class Maintenance:
    diesel_l: float = 0.0
    gasoline_l: float = 0.0
    electricity_kwh: float = 0.0
    grid_region: str = "national"
    grid_year: int = 2023
    fertiliser_n_kg: float = 0.0
    urea_kg: float = 0.0
    water_m3_unmetered: float = 0.0
    pump_head_m: float = 0.0
    pump_efficiency: float = 0.7


@dataclass(frozen=True)
class MonitoringData:
    period_start: date
    period_end: date
    trees_t1: tuple[TreeRecord, ...]
    trees_t2: tuple[TreeRecord, ...]
    tree_uncertainty: float = 0.0
    shrubs: tuple[ShrubStratum, ...] = ()
    herb_area_m2: float = 0.0
    soil: Soil = field(default_factory=Soil)
    maintenance: Maintenance = field(default_factory=Maintenance)
    baseline_tco2: float = 0.0
    leakage_tco2: float = 0.0
    buffer_share: float = 0.20


# parsing and validation -----------------------------------------------------------------------------


def _number(value: Any, where: str, *, low: float = 0.0, high: float = math.inf, strict_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccountingInputError(where, f"must be a number (got {value!r})")
    number = float(value)
    if not math.isfinite(number) or number < low or (strict_low and number == low) or number > high:
        bound = f"> {low}" if strict_low else f">= {low}"
        raise AccountingInputError(where, f"must be {bound} and <= {high} (got {value})")
    return number


def _fields(data: Any, where: str, allowed: set[str], required: Collection[str] = ()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise AccountingInputError(where, "must be an object")
    unknown = set(data) - allowed
    if unknown:
        raise AccountingInputError(
            f"{where}.{sorted(unknown)[0]}", "unknown field (units are part of field names: cm, m, m2, kg, kWh, L)"
        )
    missing = set(required) - set(data)
    if missing:
        raise AccountingInputError(f"{where}.{sorted(missing)[0]}", "is required")
    return data


def _trees(rows: Any, where: str) -> tuple[TreeRecord, ...]:
    if not isinstance(rows, list):
        raise AccountingInputError(where, "must be a list of trees")
    out = []
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        row = _fields(row, at, {"species", "dbh_cm", "count", "height_m"}, {"species", "dbh_cm"})
        if not isinstance(row["species"], str) or not row["species"].strip():
            raise AccountingInputError(f"{at}.species", "must name the species")
        count = row.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise AccountingInputError(f"{at}.count", f"must be a whole number >= 0 (got {count!r})")
        height = row.get("height_m")
        out.append(
            TreeRecord(
                species=row["species"].strip(),
                dbh_cm=_number(row["dbh_cm"], f"{at}.dbh_cm", high=MAX_DBH_CM, strict_low=True),
                count=count,
                height_m=None
                if height is None
                else _number(height, f"{at}.height_m", high=MAX_HEIGHT_M, strict_low=True),
            )
        )
    return tuple(out)


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise AccountingInputError(where, f"must be a date YYYY-MM-DD (got {value!r})") from None


def _uncertainty(value: Any, where: str) -> float:
    return _number(value, where, high=1.0)


def parse_monitoring(data: Any) -> MonitoringData:
    """Validates a monitoring report (JSON-like) into MonitoringData; refuses with the field and row named."""
    top = _fields(
        data,
        "monitoring",
        {"period", "trees", "shrubs", "herbs", "soil", "maintenance", "baseline_tco2", "leakage_tco2", "buffer_share"},
        {"period", "trees"},
    )
    period = _fields(top["period"], "period", {"start", "end"}, {"start", "end"})
    start, end = _date(period["start"], "period.start"), _date(period["end"], "period.end")
    if end <= start:
        raise AccountingInputError("period", f"end {end} must come after start {start}")
    trees = _fields(top["trees"], "trees", {"t1", "t2", "uncertainty"}, {"t1", "t2"})
    shrubs = []
    for i, row in enumerate(top.get("shrubs", [])):
        at = f"shrubs[{i}]"
        row = _fields(
            row,
            at,
            {"area_m2", "biomass_kg_m2_t1", "biomass_kg_m2_t2", "uncertainty"},
            {"area_m2", "biomass_kg_m2_t1", "biomass_kg_m2_t2"},
        )
        shrubs.append(
            ShrubStratum(
                _number(row["area_m2"], f"{at}.area_m2"),
                _number(row["biomass_kg_m2_t1"], f"{at}.biomass_kg_m2_t1"),
                _number(row["biomass_kg_m2_t2"], f"{at}.biomass_kg_m2_t2"),
                _uncertainty(row.get("uncertainty", 0.0), f"{at}.uncertainty"),
            )
        )
    herb_area = 0.0
    for i, row in enumerate(top.get("herbs", [])):
        herb_area += _number(_fields(row, f"herbs[{i}]", {"area_m2"}, {"area_m2"})["area_m2"], f"herbs[{i}].area_m2")
    soil = Soil()
    if "soil" in top:
        s = _fields(top["soil"], "soil", {"area_m2", "t1", "t2", "modelled_tco2", "uncertainty"})
        samples = {}
        for when in ("t1", "t2"):
            samples[when] = tuple(
                SoilSample(
                    **{
                        k: _number(v, f"soil.{when}[{i}].{k}", high=100.0 if k == "soc_pct" else 1000.0)
                        for k, v in _fields(
                            r,
                            f"soil.{when}[{i}]",
                            {"depth_cm", "bulk_density_g_cm3", "soc_pct", "coarse_fraction"},
                            {"depth_cm", "bulk_density_g_cm3", "soc_pct"},
                        ).items()
                    }
                )
                for i, r in enumerate(s.get(when, []))
            )
        modelled = s.get("modelled_tco2")
        soil = Soil(
            area_m2=_number(s.get("area_m2", 0.0), "soil.area_m2"),
            t1=samples["t1"],
            t2=samples["t2"],
            modelled_tco2=None if modelled is None else _number(modelled, "soil.modelled_tco2", low=-math.inf),
            uncertainty=_uncertainty(s.get("uncertainty", 0.0), "soil.uncertainty"),
        )
    maintenance = Maintenance()
    if "maintenance" in top:
        m = _fields(top["maintenance"], "maintenance", set(Maintenance.__dataclass_fields__))
        values: dict[str, Any] = {}
        for key, value in m.items():
            if key == "grid_region":
                if not isinstance(value, str):
                    raise AccountingInputError("maintenance.grid_region", "must be a region name")
                values[key] = value
            elif key == "grid_year":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise AccountingInputError("maintenance.grid_year", "must be a year")
                values[key] = value
            else:
                values[key] = _number(
                    value,
                    f"maintenance.{key}",
                    high=1.0 if key == "pump_efficiency" else math.inf,
                    strict_low=key == "pump_efficiency",
                )
        maintenance = Maintenance(**values)
        if (maintenance.grid_region, maintenance.grid_year) not in factors.grid_factors():
            raise AccountingInputError(
                "maintenance.grid_region", f"no grid factor for {maintenance.grid_region} {maintenance.grid_year}"
            )
    return MonitoringData(
        period_start=start,
        period_end=end,
        trees_t1=_trees(trees["t1"], "trees.t1"),
        trees_t2=_trees(trees["t2"], "trees.t2"),
        tree_uncertainty=_uncertainty(trees.get("uncertainty", 0.0), "trees.uncertainty"),
        shrubs=tuple(shrubs),
        herb_area_m2=herb_area,
        soil=soil,
        maintenance=maintenance,
        baseline_tco2=_number(top.get("baseline_tco2", 0.0), "baseline_tco2", low=-math.inf),
        leakage_tco2=_number(top.get("leakage_tco2", 0.0), "leakage_tco2"),
        buffer_share=_number(top.get("buffer_share", 0.20), "buffer_share", high=1.0),
    )


# computation -------------------------------------------------------------------------------------


def tree_biomass_kg(species: str, dbh_cm: float) -> tuple[float, str, bool]:
    """Whole-tree dry mass (kg) by the species' equation; (mass, equation group, used the generic fallback)."""
    row = factors.species().get(species.lower()) or factors.species().get(species)
    group, fallback = (row["equation_group"], False) if row else (GENERIC_GROUP, True)
    return sum(a * dbh_cm**b for _, a, b in factors.allometry()[group]), group, fallback


def uncertainty_deduction(u: float) -> float | None:
    """Share deducted from a pool's gain; None when the pool cannot be credited (U > 30%)."""
    p = factors.parameters()
    if u <= p["uncertainty_free"].value:
        return 0.0
    if u <= p["uncertainty_max"].value:
        return u - p["uncertainty_free"].value
    return None


def _credited(delta: float, u: float) -> tuple[float, float]:
    """(credited change, deduction share): losses count in full, gains are deducted for uncertainty."""
    if delta <= 0:
        return delta, 0.0
    share = uncertainty_deduction(u)
    return (0.0, 1.0) if share is None else (delta * (1 - share), share)


def _soc_tc_per_ha(samples: tuple[SoilSample, ...]) -> float:
    return sum(s.soc_pct * s.bulk_density_g_cm3 * s.depth_cm * (1 - s.coarse_fraction) for s in samples) / len(samples)


@dataclass
class AccountingResult:
    method_version: str
    input_hash: str
    pools: dict[str, dict[str, Any]]
    maintenance: dict[str, float]
    baseline_tco2: float
    leakage_tco2: float
    net_tco2: float
    creditable_grams: int
    buffer_share: float
    buffer_grams: int
    owner_grams: int
    issuable: bool
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def input_hash(data: MonitoringData) -> str:
    body = json.dumps(asdict(data), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{METHOD_VERSION}\n{factors.data_digest()}\n{body}".encode()).hexdigest()


def compute_net_sink(data: MonitoringData) -> AccountingResult:
    p = factors.parameters()
    cf, co2, k_open = p["carbon_fraction"].value, p["co2_per_c"].value, p["open_grown_adjustment"].value
    notes: list[str] = []

    def stock(trees: tuple[TreeRecord, ...]) -> tuple[float, dict[str, float]]:
        by_species: dict[str, float] = {}
        for tree in trees:
            mass, _, fallback = tree_biomass_kg(tree.species, tree.dbh_cm)
            if fallback:
                note = f"{tree.species}: no species equation, generic {GENERIC_GROUP} equation used"
                if note not in notes:
                    notes.append(note)
            by_species[tree.species] = by_species.get(tree.species, 0.0) + mass * tree.count
        kg = sum(by_species.values())
        return kg * k_open * cf * co2 / 1000, by_species

    stock_t1, _ = stock(data.trees_t1)
    stock_t2, species_t2 = stock(data.trees_t2)
    tree_delta = stock_t2 - stock_t1
    tree_credit, tree_deduction = _credited(tree_delta, data.tree_uncertainty)
    pools: dict[str, dict[str, Any]] = {
        "trees": {
            "stock_t1_tco2": stock_t1,
            "stock_t2_tco2": stock_t2,
            "delta_tco2": tree_delta,
            "uncertainty": data.tree_uncertainty,
            "deduction_share": tree_deduction,
            "credited_tco2": tree_credit,
            "biomass_t2_kg_by_species": species_t2,
        }
    }

    shrub_delta = sum(s.area_m2 * (s.biomass_kg_m2_t2 - s.biomass_kg_m2_t1) for s in data.shrubs)
    shrub_delta *= (1 + p["shrub_root_shoot"].value) * cf * co2 / 1000
    shrub_u = max((s.uncertainty for s in data.shrubs), default=0.0)
    shrub_credit, shrub_deduction = _credited(shrub_delta, shrub_u)
    pools["shrubs"] = {
        "delta_tco2": shrub_delta,
        "uncertainty": shrub_u,
        "deduction_share": shrub_deduction,
        "credited_tco2": shrub_credit,
    }
    pools["herbs"] = {
        "area_m2": data.herb_area_m2,
        "delta_tco2": 0.0,
        "credited_tco2": 0.0,
        "note": "clippings turn over yearly: no lasting change after establishment (IPCC Tier 1)",
    }

    soil = data.soil
    if soil.t1 and soil.t2:
        soil_delta = (_soc_tc_per_ha(soil.t2) - _soc_tc_per_ha(soil.t1)) * soil.area_m2 / 10_000 * co2
        soil_credit, soil_deduction = _credited(soil_delta, soil.uncertainty)
        pools["soil"] = {
            "delta_tco2": soil_delta,
            "measured": True,
            "deduction_share": soil_deduction,
            "credited_tco2": soil_credit,
            "held_back_tco2": 0.0,
        }
    else:
        modelled = soil.modelled_tco2 or 0.0
        pools["soil"] = {"delta_tco2": modelled, "measured": False, "credited_tco2": 0.0, "held_back_tco2": modelled}
        if modelled:
            notes.append("soil carbon is modelled: held back until measured again")

    m = data.maintenance
    grid = factors.grid_factors()[(m.grid_region, m.grid_year)].value
    pumping_kwh = m.water_m3_unmetered * p["pump_kwh_per_m3_per_m_head"].value * m.pump_head_m / m.pump_efficiency
    n2o_kg = (
        m.fertiliser_n_kg
        * (
            p["n2o_ef1"].value
            + p["n2o_frac_gasf"].value * p["n2o_ef4"].value
            + p["n2o_frac_leach"].value * p["n2o_ef5"].value
        )
        * 44
        / 28
    )
    maintenance = {
        "diesel_tco2": m.diesel_l * p["diesel"].value / 1000,
        "gasoline_tco2": m.gasoline_l * p["gasoline"].value / 1000,
        "electricity_tco2": m.electricity_kwh * grid / 1000,
        "pumping_tco2": pumping_kwh * grid / 1000,
        "n2o_kg": n2o_kg,
        "n2o_tco2e": n2o_kg * p["gwp_n2o"].value / 1000,
        "urea_tco2": m.urea_kg * p["urea_carbon"].value * co2 / 1000,
    }
    maintenance["total_tco2e"] = sum(v for k, v in maintenance.items() if k != "n2o_kg")

    credited = sum(pool["credited_tco2"] for pool in pools.values())
    net = credited - maintenance["total_tco2e"] - data.baseline_tco2 - data.leakage_tco2
    creditable = math.floor(net * GRAMS_PER_TONNE) if net > 0 else 0  # never round a claim up
    if creditable == 0:
        notes.append("net sink is not positive: nothing is issuable for this period")
    buffer = math.ceil(creditable * data.buffer_share)
    return AccountingResult(
        method_version=METHOD_VERSION,
        input_hash=input_hash(data),
        pools=pools,
        maintenance=maintenance,
        baseline_tco2=data.baseline_tco2,
        leakage_tco2=data.leakage_tco2,
        net_tco2=net,
        creditable_grams=creditable,
        buffer_share=data.buffer_share,
        buffer_grams=buffer,
        owner_grams=creditable - buffer,
        issuable=creditable > 0,
        notes=notes,
    )
