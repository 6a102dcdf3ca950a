"""Net carbon sink of a green space over a monitoring period: the method SL-GS-001 (docs/methodology.md).

    C = Σ_stratum ΔC_stratum·(1 − u_stratum) − PE − BE − LK   (tCO2e; nothing is issuable when C ≤ 0)

Trees by allometry at both dates (dead or removed trees simply drop out of the later inventory),
shrubs from harvest quadrats, herbs and lawn zero after establishment, soil carbon only when measured at
both dates (a modelled change is reported and held back), minus maintenance emissions. Each stratum that
reports its own uncertainty is deducted (or dropped) on its own, and a stratum that loses stock counts its
loss in full. The buffer share is the registry's setting, passed in by the caller, never read from the
owner's data. Every intermediate figure is kept, and the result carries a hash of its inputs, the method
version and the factor files, so a verifier recomputes exactly the same grams.
"""

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from functools import reduce
from json.encoder import encode_basestring_ascii
from operator import add, attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from registry import factors
from registry.errors import InputRefused
from registry.units import GRAMS_PER_TONNE

METHOD_VERSION = "SL-GS-001/1.1"
GENERIC_GROUP = "other_hardwoods"
PERIOD_ZONE = ZoneInfo("Asia/Shanghai")  # a report's dates are days of this calendar

# Bounds of the monitoring data (docs/methodology.md, "Bounds"): a value outside is refused, naming it.
DBH_CM = (1.0, 250.0)  # the largest urban trees are about 2 m across; 300 cm or a DBH in mm is a slip
HEIGHT_M = (0.1, 120.0)
MAX_TREES_PER_ROW = 10_000_000  # one tree per m² over a whole 10 km² stratum
MAX_TAG_CHARS = 64
MAX_AREA_M2 = 10_000_000.0  # 10 km² per stratum
SHRUB_BIOMASS_KG_M2 = (0.0, 50.0)
SOIL_DEPTH_CM = (1.0, 100.0)
SOIL_BULK_DENSITY_G_CM3 = (0.05, 2.65)  # 2.65: the density of quartz, above any soil
SOIL_SOC_PCT = (0.0, 60.0)  # peat is about 50 % organic carbon
MAX_MODELLED_SOIL_TCO2 = 1_000_000.0
MAINTENANCE_MAX = {  # field -> largest value for one period
    "diesel_l": 10_000_000.0,
    "gasoline_l": 10_000_000.0,
    "electricity_kwh": 1_000_000_000.0,
    "fertiliser_n_kg": 10_000_000.0,
    "urea_kg": 10_000_000.0,
    "water_m3_unmetered": 100_000_000.0,
    "pump_head_m": 1_000.0,
}
PUMP_EFFICIENCY = (0.1, 1.0)
MAX_BASELINE_TCO2 = 10_000_000.0  # baseline and leakage, each
EARLIEST_PERIOD_START = date(1990, 1, 1)
MAX_PERIOD_YEARS = 5
# No stock, no change and no net sink of a report may exceed a gigatonne (10^15 g): far beyond any green
# space, and well inside what the node's store and the ledger hold.
MAX_QUANTITY_TCO2 = 1_000_000_000.0


class AccountingInputError(InputRefused):
    """A refused input, naming the field (and row) at fault."""


# inputs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)  # slots: a census holds hundreds of thousands (half the memory, no __dict__)
class TreeRecord:
    species: str  # the species' key (its Chinese name in registry/data/species.csv), whatever spelling came in
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
    grid_region: str = "national"  # a region's code in registry/data/grid.csv, whatever name came in
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
    tree_area_m2: float | None = None  # the area the trees stand on (trees.area_m2), for stems per hectare


# parsing and validation -----------------------------------------------------------------------------


def _number(value: Any, where: str, *, low: float = 0.0, high: float, strict_low: bool = False) -> float:
    """A finite number in [low, high] ((low, high] when strict_low)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccountingInputError(where, f"must be a number (got {value!r})")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        raise AccountingInputError(where, f"must be >= {low:g} and <= {high:g} (got {value})") from None
    if not math.isfinite(number) or number < low or (strict_low and number == low) or number > high:
        bound = f"> {low:g}" if strict_low else f">= {low:g}"
        raise AccountingInputError(where, f"must be {bound} and <= {high:g} (got {value})")
    return number


def _fraction(value: Any, where: str) -> float:
    return _number(value, where, high=1.0)


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


def _list(value: Any, where: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise AccountingInputError(where, f"must be a list of {what}")
    return value


def species_key(name: str) -> str | None:
    """The species' key for any accepted spelling of its name (Latin, Chinese, an alias; full-width letters,
    invisible characters, case and spacing do not matter); None for a species the registry does not know."""
    return factors.species_names().get(factors.normalise_name(name))


def grid_region_code(name: str) -> str | None:
    """A grid region's code for its code, Chinese or English name (华东, East China, east; 全国, national)."""
    return factors.grid_regions().get(factors.normalise_name(name))


def _tag(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise AccountingInputError(where, f"must be a string id (got {value!r})")
    tag = unicodedata.normalize("NFKC", value).strip()
    if not 1 <= len(tag) <= MAX_TAG_CHARS or not tag.isprintable():
        raise AccountingInputError(where, f"must be 1 to {MAX_TAG_CHARS} printable characters (got {value!r})")
    return tag


TREE_FIELDS = frozenset({"species", "dbh_cm", "count", "height_m", "tag"})


def _trees(rows: Any, where: str) -> tuple[TreeRecord, ...]:
    """One census. Untagged rows may repeat a species and DBH class (a plot-scaled stratum does): they add
    up exactly as one merged row would. A tag is one tree, so a tag may appear once per census.

    Most rows of a large census are alike (a known species, float DBH and height, a plain ASCII tag): they go
    through `_plain_tree`, which checks them in one go; any other row is validated field by field by
    `_tree`, which names the first fault exactly as it always has."""
    out = []
    tagged: dict[str, int] = {}
    # Each spelling of a species normalised once per census (not per row), and only the spellings this
    # report holds: no cache outlives the report, so no one's names accumulate in the node's memory.
    names: dict[str, str] = {}
    for i, row in enumerate(_list(rows, where, "trees")):
        tree = _plain_tree(row, names)
        if tree is None:
            tree = _tree(row, where, i, tagged)
        elif tree.tag is not None:
            if tree.tag in tagged:
                _tag_twice(tree.tag, where, tagged[tree.tag], i)
            tagged[tree.tag] = i
        out.append(tree)
    return tuple(out)


def _plain_tree(row: Any, names: dict[str, str]) -> TreeRecord | None:
    """The row as a TreeRecord when every field is of the plain kind and within its bounds; None otherwise
    (the row then goes through `_tree`, which refuses or accepts it naming the field). A row accepted here
    gives the very record `_tree` would: a float is kept as is, an ASCII tag without surrounding spaces is
    its own NFKC form, and the species key is the same lookup (remembered in `names`). Only a repeated tag is
    left to the caller."""
    if type(row) is not dict or not row.keys() <= TREE_FIELDS:
        return None
    name, dbh = row.get("species"), row.get("dbh_cm")
    if type(name) is not str or type(dbh) is not float or not DBH_CM[0] <= dbh <= DBH_CM[1]:
        return None  # NaN fails the comparison too
    species = names.get(name)
    if species is None:
        species = species_key(name)
        if species is None:
            return None
        names[name] = species
    count = row.get("count", 1)
    height = row.get("height_m")
    if (
        type(count) is not int
        or not 0 <= count <= MAX_TREES_PER_ROW
        or (height is not None and (type(height) is not float or not HEIGHT_M[0] <= height <= HEIGHT_M[1]))
    ):
        return None
    tag = None
    if "tag" in row:
        tag = row["tag"]
        if (
            type(tag) is not str
            or count != 1
            or not 1 <= len(tag) <= MAX_TAG_CHARS
            or not (tag.isascii() and tag.isprintable())
            or tag[0] == " "
            or tag[-1] == " "
        ):
            return None
    return TreeRecord(species, dbh, count, height, tag)


def _tag_twice(tag: str, where: str, first: int, again: int) -> None:
    raise AccountingInputError(
        f"{where}[{again}].tag", f"tag {tag!r} appears twice in the census: {where}[{first}] and {where}[{again}]"
    )


def _tree(row: Any, where: str, i: int, tagged: dict[str, int]) -> TreeRecord:
    """One row validated field by field, refusing with the first field at fault (and recording its tag)."""
    at = f"{where}[{i}]"
    row = _fields(row, at, TREE_FIELDS, {"species", "dbh_cm"})
    name = row["species"]
    if not isinstance(name, str) or not factors.normalise_name(name):
        raise AccountingInputError(f"{at}.species", "must name the species")
    species = species_key(name)
    if species is None:
        raise AccountingInputError(
            f"{at}.species",
            f"unknown species {name!r}: name one of registry/data/species.csv (Latin or Chinese) or its aliases",
        )
    count = row.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_TREES_PER_ROW:
        raise AccountingInputError(
            f"{at}.count", f"must be a whole number from 0 to {MAX_TREES_PER_ROW} (got {count!r})"
        )
    tag = None
    if "tag" in row:
        tag = _tag(row["tag"], f"{at}.tag")
        if count != 1:
            raise AccountingInputError(f"{at}.count", f"a tagged row is one tree: count must be 1 (got {count})")
        if tag in tagged:
            _tag_twice(tag, where, tagged[tag], i)
        tagged[tag] = i
    height = row.get("height_m")
    return TreeRecord(
        species=species,
        dbh_cm=_number(row["dbh_cm"], f"{at}.dbh_cm", low=DBH_CM[0], high=DBH_CM[1]),
        count=count,
        height_m=None if height is None else _number(height, f"{at}.height_m", low=HEIGHT_M[0], high=HEIGHT_M[1]),
        tag=tag,
    )


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(value: Any, where: str) -> date:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise AccountingInputError(where, f"must be a date YYYY-MM-DD (got {value!r})")


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return date(day.year + years, 3, 1)


def today_in_period_zone() -> date:
    return datetime.now(PERIOD_ZONE).date()


def _period(value: Any, today: date) -> tuple[date, date]:
    """Whole days, both included: a real range from 1990 on, that has ended by today (Asia/Shanghai) and lasts
    at most five years."""
    period = _fields(value, "period", {"start", "end"}, {"start", "end"})
    start, end = _date(period["start"], "period.start"), _date(period["end"], "period.end")
    if start < EARLIEST_PERIOD_START:
        raise AccountingInputError("period.start", f"must be {EARLIEST_PERIOD_START} or later (got {start})")
    if end > today:
        raise AccountingInputError(
            "period.end", f"must have passed: a report covers days already over (got {end}, today is {today})"
        )
    if end <= start:
        raise AccountingInputError("period", f"end {end} must come after start {start}")
    if end >= _years_later(start, MAX_PERIOD_YEARS):
        raise AccountingInputError("period", f"lasts more than {MAX_PERIOD_YEARS} years ({start} to {end})")
    return start, end


def _shrubs(rows: Any) -> tuple[ShrubStratum, ...]:
    out = []
    for i, row in enumerate(_list(rows, "shrubs", "shrub strata")):
        at = f"shrubs[{i}]"
        row = _fields(
            row,
            at,
            {"area_m2", "biomass_kg_m2_t1", "biomass_kg_m2_t2", "uncertainty"},
            {"area_m2", "biomass_kg_m2_t1", "biomass_kg_m2_t2"},
        )
        low, high = SHRUB_BIOMASS_KG_M2
        out.append(
            ShrubStratum(
                _number(row["area_m2"], f"{at}.area_m2", high=MAX_AREA_M2),
                _number(row["biomass_kg_m2_t1"], f"{at}.biomass_kg_m2_t1", low=low, high=high),
                _number(row["biomass_kg_m2_t2"], f"{at}.biomass_kg_m2_t2", low=low, high=high),
                _fraction(row.get("uncertainty", 0.0), f"{at}.uncertainty"),
            )
        )
    return tuple(out)


def _soil(value: Any) -> Soil:
    s = _fields(value, "soil", {"area_m2", "t1", "t2", "modelled_tco2", "uncertainty"})
    bounds = {"depth_cm": SOIL_DEPTH_CM, "bulk_density_g_cm3": SOIL_BULK_DENSITY_G_CM3, "soc_pct": SOIL_SOC_PCT,
              "coarse_fraction": (0.0, 1.0)}  # fmt: skip
    samples = {}
    for when in ("t1", "t2"):
        rows = []
        for i, r in enumerate(_list(s.get(when, []), f"soil.{when}", "soil samples")):
            at = f"soil.{when}[{i}]"
            r = _fields(r, at, set(bounds), {"depth_cm", "bulk_density_g_cm3", "soc_pct"})
            rows.append(
                SoilSample(**{k: _number(v, f"{at}.{k}", low=bounds[k][0], high=bounds[k][1]) for k, v in r.items()})
            )
        samples[when] = tuple(rows)
    modelled = s.get("modelled_tco2")
    return Soil(
        area_m2=_number(s.get("area_m2", 0.0), "soil.area_m2", high=MAX_AREA_M2),
        t1=samples["t1"],
        t2=samples["t2"],
        modelled_tco2=None
        if modelled is None
        else _number(modelled, "soil.modelled_tco2", low=-MAX_MODELLED_SOIL_TCO2, high=MAX_MODELLED_SOIL_TCO2),
        uncertainty=_fraction(s.get("uncertainty", 0.0), "soil.uncertainty"),
    )


def _maintenance(value: Any) -> Maintenance:
    m = _fields(value, "maintenance", set(Maintenance.__dataclass_fields__))
    values: dict[str, Any] = {}
    for key, item in m.items():
        where = f"maintenance.{key}"
        if key == "grid_region":
            code = grid_region_code(item) if isinstance(item, str) else None
            if code is None:
                names = sorted({r for r in factors.grid_regions().values()})
                raise AccountingInputError(
                    where, f"unknown grid region {item!r}: a code ({', '.join(names)}) or its Chinese or English name"
                )
            values[key] = code
        elif key == "grid_year":
            if isinstance(item, bool) or not isinstance(item, int):
                raise AccountingInputError(where, f"must be a year (got {item!r})")
            values[key] = item
        elif key == "pump_efficiency":
            values[key] = _number(item, where, low=PUMP_EFFICIENCY[0], high=PUMP_EFFICIENCY[1])
        else:
            values[key] = _number(item, where, high=MAINTENANCE_MAX[key])
    maintenance = Maintenance(**values)
    if (maintenance.grid_region, maintenance.grid_year) not in factors.grid_factors():
        years = sorted(y for r, y in factors.grid_factors() if r == maintenance.grid_region)
        raise AccountingInputError(
            "maintenance.grid_year" if "grid_year" in m else "maintenance.grid_region",
            f"no grid factor for {maintenance.grid_region} {maintenance.grid_year} (years: {years})",
        )
    return maintenance


BUFFER_REFUSAL = (
    "is not part of the monitoring data: the buffer is the registry's setting, held on the ledger, and the "
    "report, the statement and the issuance all use that one share"
)


def parse_monitoring(data: Any, *, today: date | None = None) -> MonitoringData:
    """Validates a monitoring report (JSON-like) into MonitoringData; refuses with the field and row named.
    `today` (default: today in Asia/Shanghai) is the last day a period may cover."""
    if isinstance(data, dict) and "buffer_share" in data:
        raise AccountingInputError("buffer_share", BUFFER_REFUSAL)
    top = _fields(
        data,
        "monitoring",
        {"period", "trees", "shrubs", "herbs", "soil", "maintenance", "baseline_tco2", "leakage_tco2"},
        {"period", "trees"},
    )
    start, end = _period(top["period"], today or today_in_period_zone())
    trees = _fields(top["trees"], "trees", {"t1", "t2", "uncertainty", "area_m2"}, {"t1", "t2"})
    herb_area = 0.0
    for i, row in enumerate(_list(top.get("herbs", []), "herbs", "herb strata")):
        at = f"herbs[{i}]"
        herb_area += _number(_fields(row, at, {"area_m2"}, {"area_m2"})["area_m2"], f"{at}.area_m2", high=MAX_AREA_M2)
    return MonitoringData(
        period_start=start,
        period_end=end,
        trees_t1=_trees(trees["t1"], "trees.t1"),
        trees_t2=_trees(trees["t2"], "trees.t2"),
        tree_uncertainty=_fraction(trees.get("uncertainty", 0.0), "trees.uncertainty"),
        shrubs=_shrubs(top.get("shrubs", [])),
        herb_area_m2=herb_area,
        soil=_soil(top["soil"]) if "soil" in top else Soil(),
        maintenance=_maintenance(top["maintenance"]) if "maintenance" in top else Maintenance(),
        baseline_tco2=_number(top.get("baseline_tco2", 0.0), "baseline_tco2", high=MAX_BASELINE_TCO2),
        leakage_tco2=_number(top.get("leakage_tco2", 0.0), "leakage_tco2", high=MAX_BASELINE_TCO2),
        tree_area_m2=None
        if trees.get("area_m2") is None
        else _number(trees["area_m2"], "trees.area_m2", high=MAX_AREA_M2, strict_low=True),
    )


# computation -------------------------------------------------------------------------------------


def tree_biomass_kg(species: str, dbh_cm: float) -> tuple[float, str, bool]:
    """Whole-tree dry mass (kg) by the species' equation; (mass, equation group, used the generic fallback).
    A known species without an equation of its own is in the generic group by its row in species.csv."""
    group, fallback = _equation_group(species)
    return _biomass(group, dbh_cm), group, fallback


def _equation_group(species: str) -> tuple[str, bool]:
    """(equation group, used the generic fallback) of any spelling of a species."""
    key = species_key(species)
    row = factors.species().get(key) if key else None
    return (row["equation_group"], False) if row else (GENERIC_GROUP, True)


def _biomass(group: str, dbh_cm: float) -> float:
    """W = Σ_components a·D^b, the one expression every tree's mass comes from (summed in the file's order)."""
    return sum(a * dbh_cm**b for _, a, b in factors.allometry()[group])


_SPECIES_DBH_COUNT = attrgetter("species", "dbh_cm", "count")


def _biomass_by_species(trees: Iterable[TreeRecord], fallbacks: list[str]) -> dict[str, float]:
    """Species -> Σ W·count (kg), each species' rows added in their order, exactly as a row-by-row sum.

    A census repeats species and DBH (tapes read to 0.1 cm): each species is resolved to its equation once,
    and each (equation group, DBH) evaluated once, rather than normalising the name and evaluating the
    equation for every row. Species met without an equation of their own are appended to `fallbacks`."""
    # species -> (its equation group, that group's masses by DBH, W·count of the species' rows in row order)
    species_rows: dict[str, tuple[str, dict[float, float], list[float]]] = {}
    by_group: dict[str, dict[float, float]] = {}  # equation group -> W by DBH
    for species, dbh, count in map(_SPECIES_DBH_COUNT, trees):
        found = species_rows.get(species)
        if found is None:
            group, fallback = _equation_group(species)
            if fallback:
                fallbacks.append(species)
            found = species_rows[species] = (group, by_group.setdefault(group, {}), [])
        group, known, rows = found
        mass = known.get(dbh)
        if mass is None:
            mass = known[dbh] = _biomass(group, dbh)
        rows.append(mass * count)
    # reduce(add, rows, 0.0) adds left to right as `total += x` does: the very float of a row-by-row sum.
    return {species: reduce(add, rows, 0.0) for species, (_, _, rows) in species_rows.items()}


def uncertainty_deduction(u: float) -> float | None:
    """Share deducted from a stratum's gain; None when the stratum cannot be credited (U > 30%)."""
    p = factors.parameters()
    if u <= p["uncertainty_free"].value:
        return 0.0
    if u <= p["uncertainty_max"].value:
        return u - p["uncertainty_free"].value
    return None


def _credited(delta: float, u: float) -> tuple[float, float]:
    """One stratum: (credited change, deduction share). A loss counts in full whatever U; a gain is deducted
    for U, or not credited at all above the largest U."""
    if delta <= 0:
        return delta, 0.0
    share = uncertainty_deduction(u)
    return (0.0, 1.0) if share is None else (delta * (1 - share), share)


def shrub_strata(strata: tuple[ShrubStratum, ...]) -> list[dict[str, float]]:
    """Each shrub stratum on its own: its change, its U, its deduction and its credit."""
    p = factors.parameters()
    per_kg = (1 + p["shrub_root_shoot"].value) * p["carbon_fraction"].value * p["co2_per_c"].value / 1000
    out = []
    for s in strata:
        delta = s.area_m2 * (s.biomass_kg_m2_t2 - s.biomass_kg_m2_t1) * per_kg
        credited, share = _credited(delta, s.uncertainty)
        out.append({"area_m2": s.area_m2, "delta_tco2": delta, "uncertainty": s.uncertainty,
                    "deduction_share": share, "credited_tco2": credited})  # fmt: skip
    return out


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
    buffer_share_bps: int
    buffer_grams: int
    owner_grams: int
    issuable: bool
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def input_hash(data: MonitoringData) -> str:
    return hashlib.sha256(f"{METHOD_VERSION}\n{factors.data_digest()}\n{inputs_json(data)}".encode()).hexdigest()


def inputs_json(data: MonitoringData) -> str:
    """The text the input hash covers: `json.dumps(asdict(data), sort_keys=True, default=str,
    separators=(",", ":"))`, except that `tree_area_m2` is left out when not given, so a report from before
    that field hashes as it always did.

    The two censuses are nearly all of it and are written by `_census_json` rather than through `asdict`,
    which deep-copies every record (three quarters of the time a large report took). The rest goes through
    json.dumps with empty censuses, whose two `[]` are then filled in: with sorted keys `trees_t1` comes
    before `trees_t2`, and a quote inside a string value is escaped, so each `"trees_tN":[]` occurs once."""
    rest = asdict(replace(data, trees_t1=(), trees_t2=()))
    if rest["tree_area_m2"] is None:
        del rest["tree_area_m2"]
    text = json.dumps(rest, sort_keys=True, default=str, separators=(",", ":"))
    for key, census in (("trees_t1", data.trees_t1), ("trees_t2", data.trees_t2)):
        text = text.replace(f'"{key}":[]', f'"{key}":{_census_json(census)}', 1)
    return text


_RECORD_FIELDS = attrgetter("count", "dbh_cm", "height_m", "species", "tag")  # asdict's keys, sorted


def _census_json(trees: Iterable[TreeRecord]) -> str:
    """json.dumps([asdict(t) for t in trees], sort_keys=True, separators=(",", ":")), written row by row. A
    census repeats its species, DBH, heights and counts: each distinct value is encoded once (float repr is
    most of the cost) and looked up for the other rows; tags are encoded by json's own C function."""
    encoded: dict[Any, str] = {}

    def value(item: Any) -> str:
        key = (type(item), item)  # the type too: True == 1 == 1.0, yet they are written apart
        try:
            text = encoded.get(key)
        except TypeError:  # an unhashable value in a record built by hand: written, not remembered
            return json.dumps(item, sort_keys=True, default=str, separators=(",", ":"))
        if text is None:
            text = encoded[key] = json.dumps(item, sort_keys=True, default=str, separators=(",", ":"))
        return text

    rows = []
    for count, dbh, height, species, tag in map(_RECORD_FIELDS, trees):
        tag_text = encode_basestring_ascii(tag) if type(tag) is str else value(tag)
        rows.append(
            f'{{"count":{value(count)},"dbh_cm":{value(dbh)},"height_m":{value(height)},'
            f'"species":{value(species)},"tag":{tag_text}}}'
        )
    return f"[{','.join(rows)}]"


def buffer_grams(creditable_grams: int, buffer_share_bps: int) -> int:
    """The ledger's buffer share of an issuance: rounded up, exactly as Certificates.sol computes it."""
    return (creditable_grams * buffer_share_bps + 9_999) // 10_000


def _within(tco2: float, where: str, what: str) -> None:
    if not math.isfinite(tco2) or abs(tco2) > MAX_QUANTITY_TCO2:
        raise AccountingInputError(where, f"{what} exceeds {MAX_QUANTITY_TCO2:g} tCO2e: check counts and units")


def compute_net_sink(data: MonitoringData, *, buffer_share_bps: int) -> AccountingResult:
    """The period's net sink. `buffer_share_bps` is the registry's buffer share in force for the project
    (basis points, as the ledger holds it): the caller reads it from the ledger, never from the data."""
    if (
        isinstance(buffer_share_bps, bool)
        or not isinstance(buffer_share_bps, int)
        or not 0 <= buffer_share_bps <= 10_000
    ):
        raise ValueError(f"buffer_share_bps must be whole basis points from 0 to 10000 (got {buffer_share_bps!r})")
    p = factors.parameters()
    cf, co2, k_open = p["carbon_fraction"].value, p["co2_per_c"].value, p["open_grown_adjustment"].value
    notes: list[str] = []

    def stock(trees: tuple[TreeRecord, ...]) -> tuple[float, dict[str, float]]:
        fallbacks: list[str] = []
        by_species = _biomass_by_species(trees, fallbacks)
        for species in fallbacks:
            note = f"{species}: no species equation, generic {GENERIC_GROUP} equation used"
            if note not in notes:
                notes.append(note)
        kg = sum(by_species.values())
        return kg * k_open * cf * co2 / 1000, by_species

    stock_t1, _ = stock(data.trees_t1)
    stock_t2, species_t2 = stock(data.trees_t2)
    _within(stock_t1, "trees.t1", "the tree stock")
    _within(stock_t2, "trees.t2", "the tree stock")
    tree_delta = stock_t2 - stock_t1
    # The tree census is one stratum with one U (trees.uncertainty).
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

    strata = shrub_strata(data.shrubs)
    pools["shrubs"] = {
        "delta_tco2": sum(s["delta_tco2"] for s in strata),
        "credited_tco2": sum(s["credited_tco2"] for s in strata),
        "strata": strata,
    }
    dropped = [i for i, s in enumerate(strata) if s["delta_tco2"] > 0 and s["credited_tco2"] == 0]
    if dropped:
        notes.append(f"shrub strata {dropped}: uncertainty above {p['uncertainty_max'].value:.0%}, gain not credited")
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
            "uncertainty": soil.uncertainty,
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
    _within(net, "monitoring", "the net sink")
    creditable = math.floor(net * GRAMS_PER_TONNE) if net > 0 else 0  # never round a claim up
    if creditable == 0:
        notes.append("net sink is not positive: nothing is issuable for this period")
    buffer = buffer_grams(creditable, buffer_share_bps)
    return AccountingResult(
        method_version=METHOD_VERSION,
        input_hash=input_hash(data),
        pools=pools,
        maintenance=maintenance,
        baseline_tco2=data.baseline_tco2,
        leakage_tco2=data.leakage_tco2,
        net_tco2=net,
        creditable_grams=creditable,
        buffer_share=buffer_share_bps / 10_000,
        buffer_share_bps=buffer_share_bps,
        buffer_grams=buffer,
        owner_grams=creditable - buffer,
        issuable=creditable > 0,
        notes=notes,
    )
