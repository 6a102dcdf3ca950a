"""Plausibility checks on monitoring data: what a census must satisfy to be accepted at all, and what it may
show but a verifier must look at before signing.

Refused (PlausibilityRefused, naming the field and row; nothing of the report is kept):

- `species_changed`: a tagged tree whose species differs between t1 and t2;
- `census_discontinuity`: a later period whose opening census (t1) is not the closing census (t2) of the
  project's last issued period (same tags and species, DBH within 0.1 cm; untagged rows as a multiset of
  (species, DBH, count)), or a report whose t1 and t2 census are both those of an already issued report
  (the same census under another period label);
- `tags_dropped`: trees tagged in one period (or at t1) and not in the next (or at t2);
- `unit_slip`: the median DBH of the surviving trees at t2 more than 5× or under 0.2× their median at t1
  (tagged trees; a census without surviving tags is compared row by row, weighted by count).

Flagged (accepted, listed in the report, acknowledged by the verifier): growth beyond the species group's
annual DBH increment (scaled by the period length, plus the 0.1 cm resolution of a tape), a DBH shrinking by
more than 1 cm, a DBH above the group's largest plausible, stems per hectare beyond the range (when the tree
area is given) and shrub biomass per m² beyond the range. A tagged tree is judged alone; untagged rows by
the count-weighted mean DBH of each species. Ranges are data (registry/data/plausibility.csv, each row with
its source and tag; species map to a group in species.csv), never code.

Cost: one pass over each census with dictionaries keyed by tag, so it stays a fraction of the accounting's.
"""

import csv
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any

from registry.accounting import AccountingInputError, MonitoringData, TreeRecord
from registry.factors import DATA

VERSION = "plausibility/1"
GENERIC = "generic"
SHRUB = "shrub"
DBH_TOLERANCE_CM = 0.1  # two readings of one tree agree within this (tape resolution)
SHRINK_CM = 1.0  # a DBH falling by more than this is flagged
UNIT_SLIP = 5.0  # median DBH ratio beyond ×5 or ×1/5: a unit slip (mm for cm, circumference for diameter ...)
LISTED_PER_CODE = 100  # flags listed per code; `flag_counts` holds every one
MAX_REFUSALS = 20


class PlausibilityRefused(AccountingInputError):
    """A census refused as implausible: the code, and the field and row at fault."""

    def __init__(self, code: str, where: str, problem: str) -> None:
        super().__init__(where, problem)
        self.code = code


# ranges ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    unit: str
    source: str
    tag: str


@cache
def ranges() -> dict[tuple[str, str], Range]:
    """(group, measure) -> range, from registry/data/plausibility.csv."""
    with (DATA / "plausibility.csv").open(encoding="utf-8") as handle:
        return {
            (r["group"], r["measure"]): Range(float(r["low"]), float(r["high"]), r["unit"], r["source"], r["tag"])
            for r in csv.DictReader(handle)
        }


@cache
def species_groups() -> dict[str, str]:
    """Species by Latin name (lower case) and Chinese name -> growth group (species.csv `growth_group`)."""
    with (DATA / "species.csv").open(encoding="utf-8") as handle:
        table: dict[str, str] = {}
        for r in csv.DictReader(handle):
            table[r["species"].lower()] = r["growth_group"]
            table[r["name_zh"]] = r["growth_group"]
    return table


def group_of(species: str) -> str:
    groups = species_groups()
    return groups.get(species) or groups.get(species.lower()) or GENERIC


# results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    code: str
    field: str
    row: str | None
    message_zh: str
    message_en: str

    def error(self) -> PlausibilityRefused:
        where = self.field if self.row is None else f"{self.field} (row {self.row})"
        return PlausibilityRefused(self.code, where, self.message_en)


@dataclass(frozen=True)
class Flag:
    code: str
    field: str
    row: str | None
    observed: float
    allowed: tuple[float, float | None]
    unit: str
    message_zh: str
    message_en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "field": self.field,
            "row": self.row,
            "observed": self.observed,
            "allowed": [self.allowed[0], self.allowed[1]],
            "unit": self.unit,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


@dataclass
class Plausibility:
    refusals: list[Refusal] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    flag_counts: dict[str, int] = field(default_factory=dict)
    census: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def flag(self, flag: Flag) -> None:
        n = self.flag_counts.get(flag.code, 0)
        self.flag_counts[flag.code] = n + 1
        if n < LISTED_PER_CODE:
            self.flags.append(flag)

    def refuse(self, refusal: Refusal) -> None:
        if len(self.refusals) < MAX_REFUSALS:
            self.refusals.append(refusal)

    def as_dict(self) -> dict[str, Any]:
        """The report's `plausibility` section: attested with the computation, and what a verifier acknowledges."""
        return {
            "version": VERSION,
            "flags": [f.as_dict() for f in self.flags],
            "flag_counts": dict(sorted(self.flag_counts.items())),
            "flags_total": sum(self.flag_counts.values()),
            "census": self.census,
        }


def flags_document(section: dict[str, Any]) -> dict[str, Any]:
    """The part of a report's plausibility section a verifier acknowledges: the flags and their counts."""
    return {"flags": section.get("flags", []), "flag_counts": section.get("flag_counts", {})}


# census summaries --------------------------------------------------------------------------------


def census_summary(trees: Iterable[TreeRecord]) -> dict[str, list[int]]:
    """Species -> [stems, Σ DBH, Σ DBH²] with DBH in hundredths of a cm: exact integers, whatever the order of
    the rows; rows of count 0 add nothing. Two censuses with equal summaries are the same census (to 0.01 cm)."""
    out: dict[str, list[int]] = {}
    for (species, dbh, n), rows in Counter(map(_ROW, trees)).items():
        if not n:
            continue
        n *= rows
        d = round(dbh * 100)
        s = out.get(species)
        if s is None:
            out[species] = [n, n * d, n * d * d]
        else:
            s[0] += n
            s[1] += n * d
            s[2] += n * d * d
    return dict(sorted(out.items()))


# the checks --------------------------------------------------------------------------------------


_TAG, _SPECIES, _DBH, _COUNT = attrgetter("tag"), attrgetter("species"), attrgetter("dbh_cm"), attrgetter("count")
_ROW = attrgetter("species", "dbh_cm", "count")
_TAGGED_ROW = attrgetter("species", "dbh_cm")


def _split(trees: Sequence[TreeRecord]) -> tuple[dict[str, int], list[tuple[int, TreeRecord]]]:
    """(tag -> row index, untagged (row index, row)), built at C speed when every row is tagged."""
    tags = list(map(_TAG, trees))
    if None not in tags:
        return dict(zip(tags, range(len(tags)), strict=True)), []
    tagged = {tag: i for i, tag in enumerate(tags) if tag is not None}
    return tagged, [(i, trees[i]) for i, tag in enumerate(tags) if tag is None]


def _median(values: list[float]) -> float:
    values.sort()
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def _weighted_median(rows: Iterable[tuple[int, TreeRecord]]) -> float | None:
    pairs = sorted((t.dbh_cm, t.count) for _, t in rows if t.count)
    total = sum(c for _, c in pairs)
    if not total:
        return None
    half, seen = total / 2, 0
    for dbh, count in pairs:
        seen += count
        if seen >= half:
            return dbh
    return pairs[-1][0]


def _r(x: float) -> float:
    return round(x, 4)


class _Bounds:
    """Per-species (increment high, largest DBH), looked up once per species."""

    def __init__(self, years: float) -> None:
        self.years = years
        self.table = ranges()
        self.cache: dict[str, tuple[float, float, str]] = {}

    def __call__(self, species: str) -> tuple[float, float, str]:
        found = self.cache.get(species)
        if found is None:
            group = group_of(species)
            inc = self.table.get((group, "dbh_increment")) or self.table[(GENERIC, "dbh_increment")]
            top = self.table.get((group, "max_dbh")) or self.table[(GENERIC, "max_dbh")]
            found = self.cache[species] = (inc.high * self.years + DBH_TOLERANCE_CM, top.high, group)
        return found


def check_plausibility(
    data: MonitoringData,
    previous: MonitoringData | None = None,
    *,
    issued_censuses: Iterable[tuple[dict[str, list[int]], dict[str, list[int]]]] = (),
    tree_area_m2: float | None = None,
) -> Plausibility:
    """Refusals and flags for `data`. `previous` is the project's last issued report (its closing census);
    `issued_censuses` the (t1, t2) census summaries of every issued report of the project; `tree_area_m2` the
    area the trees stand on, for stems per hectare (defaults to the data's own, if it carries one)."""
    out = Plausibility()
    years = max((data.period_end - data.period_start).days, 1) / 365.25
    bounds = _Bounds(years)
    t1, t2 = data.trees_t1, data.trees_t2
    tagged1, untagged1 = _split(t1)
    tagged2, untagged2 = _split(t2)

    # the census within the period -------------------------------------------------------------------
    if tagged1 and not tagged2 and t2:
        out.refuse(
            Refusal(
                "tags_dropped",
                "trees.t2",
                None,
                "t1 的树木有编号，t2 也必须按编号逐株记录",
                "the trees are tagged at t1: t2 must list them by tag too",
            )
        )
    ratios1: list[float] = []
    ratios2: list[float] = []
    shrink = -SHRINK_CM
    limits = {species: bounds(species) for species in {*map(_SPECIES, t1), *map(_SPECIES, t2)}}
    _largest(out, t1, "t1", limits)
    _largest(out, t2, "t2", limits)
    opening = tagged1.get
    for tag, i in tagged2.items():
        j = opening(tag)
        if j is None:
            continue  # planted during the period
        tree, old = t2[i], t1[j]
        if old.species != tree.species:
            out.refuse(
                Refusal(
                    "species_changed",
                    f"trees.t2[{i}].species",
                    tag,
                    f"编号 {tag} 的树种从 {old.species} 变为 {tree.species}",
                    f"tree {tag} changes species from {old.species} to {tree.species}",
                )
            )
            continue
        a, b = old.dbh_cm, tree.dbh_cm
        ratios1.append(a)
        ratios2.append(b)
        grown = b - a
        if grown > limits[tree.species][0]:
            high, _, group = limits[tree.species]
            out.flag(_growth(f"trees.t2[{i}].dbh_cm", tag, grown, high, group))
        elif grown < shrink:
            out.flag(_shrank(f"trees.t2[{i}].dbh_cm", tag, grown))
    if ratios1:
        m1, m2 = _median(ratios1), _median(ratios2)
        _unit_slip(out, m1, m2, "trees.t2[*].dbh_cm", "tagged trees present at t1 and t2")
    elif untagged1 and untagged2:
        m1, m2 = _weighted_median(untagged1), _weighted_median(untagged2)
        if m1 and m2:
            _unit_slip(out, m1, m2, "trees.t2[*].dbh_cm", "trees at t1 and t2 (weighted by count)")
    _untagged_growth(out, untagged1, untagged2, bounds)

    # densities -------------------------------------------------------------------------------------
    out.census = {"t1": census_summary(t1), "t2": census_summary(t2)}
    area = tree_area_m2 if tree_area_m2 is not None else data.tree_area_m2
    if area:
        _density(out, out.census["t2"], area)
    shrub = ranges()[(SHRUB, "biomass")]
    for i, stratum in enumerate(data.shrubs):
        for when, value in (("t1", stratum.biomass_kg_m2_t1), ("t2", stratum.biomass_kg_m2_t2)):
            if value == 0 and when == "t1":
                continue  # bare ground when the bed was planted
            if not shrub.low <= value <= shrub.high:
                out.flag(
                    Flag(
                        "shrub_biomass_out_of_range",
                        f"shrubs[{i}].biomass_kg_m2_{when}",
                        str(i),
                        _r(value),
                        (shrub.low, shrub.high),
                        shrub.unit,
                        f"灌木层 {i} 的生物量 {value:g} kg/m² 超出合理范围 {shrub.low:g}–{shrub.high:g} kg/m²",
                        f"shrub stratum {i}: {value:g} kg/m² is outside {shrub.low:g}–{shrub.high:g} kg/m²",
                    )
                )

    # continuity with what was issued before ----------------------------------------------------------
    for issued_t1, issued_t2 in issued_censuses:
        if issued_t1 == out.census["t1"] and issued_t2 == out.census["t2"]:
            out.refuse(
                Refusal(
                    "census_discontinuity",
                    "trees",
                    None,
                    "t1 与 t2 的清查数据与一份已签发报告完全相同：同一次清查不能在另一个监测期再次签发",
                    "the t1 and t2 census are those of a report already issued: one census cannot be "
                    "issued again under another period",
                )
            )
            break
    if previous is not None and data.period_end > previous.period_end:
        _continuity(out, previous, t1, tagged1, untagged1)
    return out


def require_plausible(
    data: MonitoringData,
    previous: MonitoringData | None = None,
    *,
    issued_censuses: Iterable[tuple[dict[str, list[int]], dict[str, list[int]]]] = (),
    tree_area_m2: float | None = None,
) -> Plausibility:
    """check_plausibility, raising the first refusal (PlausibilityRefused); the flags otherwise."""
    result = check_plausibility(data, previous, issued_censuses=issued_censuses, tree_area_m2=tree_area_m2)
    if result.refusals:
        raise result.refusals[0].error()
    return result


def _unit_slip(out: Plausibility, m1: float, m2: float, where: str, what: str) -> None:
    ratio = m2 / m1
    if ratio > UNIT_SLIP or ratio < 1 / UNIT_SLIP:
        out.refuse(
            Refusal(
                "unit_slip",
                where,
                None,
                f"胸径中位数从 {m1:g} cm 变为 {m2:g} cm（{ratio:.2f} 倍）：请检查单位（cm）",
                f"the median DBH of the {what} goes from {m1:g} cm to {m2:g} cm (×{ratio:.2f}): check the unit (cm)",
            )
        )


def _largest(out: Plausibility, trees: Sequence[TreeRecord], when: str, limits: dict[str, tuple]) -> None:
    """DBH above the group's largest: rows are looked at one by one only if the census's largest DBH is."""
    if not trees or max(map(_DBH, trees)) <= min(top for _, top, _ in limits.values()):
        return
    for i, tree in enumerate(trees):
        _, top, group = limits[tree.species]
        if tree.dbh_cm > top and tree.count:
            out.flag(_too_large(f"trees.{when}[{i}].dbh_cm", tree.tag or tree.species, tree.dbh_cm, top, group))


def _too_large(where: str, row: str, dbh: float, top: float, group: str) -> Flag:
    return Flag(
        "dbh_above_maximum",
        where,
        row,
        _r(dbh),
        (0.0, top),
        "cm",
        f"{row}：胸径 {dbh:g} cm 超过该树种组（{group}）的合理最大值 {top:g} cm",
        f"{row}: DBH {dbh:g} cm is above the largest plausible for its group ({group}), {top:g} cm",
    )


def _growth(where: str, row: str, grown: float, high: float, group: str) -> Flag:
    return Flag(
        "growth_out_of_range",
        where,
        row,
        _r(grown),
        (-SHRINK_CM, _r(high)),
        "cm",
        f"{row}：本期胸径增长 {grown:.2f} cm，超过该树种组（{group}）本期合理上限 {high:.2f} cm",
        f"{row}: DBH grew {grown:.2f} cm over the period, above the most its group ({group}) grows in "
        f"that time, {high:.2f} cm",
    )


def _shrank(where: str, row: str, grown: float) -> Flag:
    return Flag(
        "dbh_shrank",
        where,
        row,
        _r(grown),
        (-SHRINK_CM, None),
        "cm",
        f"{row}：胸径减少 {-grown:.2f} cm（超过 {SHRINK_CM:g} cm）",
        f"{row}: DBH fell by {-grown:.2f} cm (more than {SHRINK_CM:g} cm)",
    )


def _untagged_growth(
    out: Plausibility, rows1: list[tuple[int, TreeRecord]], rows2: list[tuple[int, TreeRecord]], bounds: _Bounds
) -> None:
    """Untagged rows: each species' count-weighted mean DBH at t1 and t2, and the largest DBH at each."""
    if not rows2:
        return
    means: list[dict[str, list[float]]] = []
    for rows in (rows1, rows2):
        acc: dict[str, list[float]] = {}
        for _, tree in rows:
            a = acc.get(tree.species)
            if a is None:
                acc[tree.species] = [tree.count, tree.count * tree.dbh_cm]
            else:
                a[0] += tree.count
                a[1] += tree.count * tree.dbh_cm
        means.append(acc)
    first, second = means
    for species, (n2, sum2) in second.items():
        n1, sum1 = first.get(species, (0, 0.0))
        if not n1 or not n2:
            continue
        grown = sum2 / n2 - sum1 / n1
        high, _, group = bounds(species)
        where = f"trees.t2 (species {species}, mean DBH)"
        if grown > high:
            out.flag(_growth(where, species, grown, high, group))
        elif grown < -SHRINK_CM:
            out.flag(_shrank(where, species, grown))


def _density(out: Plausibility, census: dict[str, list[int]], area_m2: float) -> None:
    """Stems per hectare at t2 against the widest range of the groups present. The stems come from the
    census summary (species -> [stems, ...]), so each species' group is looked up once, not once a row."""
    table = ranges()
    stems: dict[str, int] = {}
    for species, (n, _, _) in census.items():
        group = group_of(species)
        stems[group] = stems.get(group, 0) + n
    present = [table.get((g, "stems_per_ha")) or table[(GENERIC, "stems_per_ha")] for g, n in stems.items() if n]
    if not present:
        return
    low, high = min(r.low for r in present), max(r.high for r in present)
    hectares = area_m2 / 10_000
    # An area of a fraction of a m² (5e-324 passes "more than 0") gives no hectares at all, or a density past
    # the float's range: it is flagged at the largest float, never a division by zero or an infinity (which no
    # JSON answer holds).
    density = min(sum(stems.values()) / hectares, sys.float_info.max) if hectares else sys.float_info.max
    if not low <= density <= high:
        shown = f"{density:.0f}" if density < 1e15 else f"{density:.3g}"
        out.flag(
            Flag(
                "stems_per_ha_out_of_range",
                "trees.area_m2",
                None,
                _r(density),
                (low, high),
                "stems/ha",
                f"t2 林木密度 {shown} 株/公顷，超出合理范围 {low:g}–{high:g} 株/公顷",
                f"{shown} stems/ha at t2 is outside {low:g}–{high:g} stems/ha",
            )
        )


def _continuity(
    out: Plausibility,
    previous: MonitoringData,
    t1: Sequence[TreeRecord],
    tagged1: dict[str, int],
    untagged1: list[tuple[int, TreeRecord]],
) -> None:
    """The opening census of a later period is the closing census of the last issued one."""
    closing = previous.trees_t2
    if _same_rows(closing, t1):
        return  # copied row for row (the usual case): nothing can differ
    before_tagged, before_untagged = _split(closing)
    if before_tagged and not tagged1:
        out.refuse(
            Refusal(
                "tags_dropped",
                "trees.t1",
                None,
                "上一签发期的树木按编号记录：本期也必须按编号记录",
                "the trees were tagged in the last issued period: this period must tag them too",
            )
        )
        return
    if _tagged_differ(out, closing, before_tagged, t1, tagged1):
        return
    _untagged_differ(out, before_untagged, untagged1)


def _discontinuity(where: str, row: str | None, zh: str, en: str) -> Refusal:
    return Refusal(
        "census_discontinuity",
        where,
        row,
        f"期初清查与上一签发期的期末清查不一致：{zh}",
        f"the opening census differs from the closing census of the last issued period: {en}",
    )


def _tagged_differ(
    out: Plausibility,
    closing: Sequence[TreeRecord],
    before: dict[str, int],
    opening: Sequence[TreeRecord],
    now: dict[str, int],
) -> bool:
    if len(before) == len(now):  # the same trees in another order: the tag maps compared in C
        same = dict(zip(map(_TAG, closing), map(_TAGGED_ROW, closing), strict=True))
        if same == dict(zip(map(_TAG, opening), map(_TAGGED_ROW, opening), strict=True)):
            return False
    found = False
    for tag, i in now.items():
        j = before.get(tag)
        tree = opening[i]
        if j is None:
            found = True
            out.refuse(
                _discontinuity(f"trees.t1[{i}]", tag, f"编号 {tag} 不在上期期末清查中", f"tag {tag} is not in it")
            )
            continue
        prev = closing[j]
        if prev.species != tree.species:
            found = True
            out.refuse(
                _discontinuity(
                    f"trees.t1[{i}].species", tag, f"编号 {tag} 上期为 {prev.species}", f"tag {tag} was {prev.species}"
                )
            )
        elif abs(prev.dbh_cm - tree.dbh_cm) > DBH_TOLERANCE_CM + 1e-9:
            found = True
            out.refuse(
                _discontinuity(
                    f"trees.t1[{i}].dbh_cm",
                    tag,
                    f"编号 {tag} 上期期末胸径 {prev.dbh_cm:g} cm",
                    f"tag {tag} closed at {prev.dbh_cm:g} cm, opens at {tree.dbh_cm:g} cm",
                )
            )
        if len(out.refusals) >= MAX_REFUSALS:
            return True
    missing = before.keys() - now.keys()
    if missing:
        tag = min(missing)
        out.refuse(
            _discontinuity(
                "trees.t1",
                tag,
                f"上期期末的编号 {tag} 缺失（共 {len(missing)} 株）",
                f"tag {tag} closed it and is missing ({len(missing)} such)",
            )
        )
        found = True
    return found


def _same_rows(closing: Sequence[TreeRecord], opening: Sequence[TreeRecord]) -> bool:
    """The same tag, species, DBH and count row for row, in the same order: then the tag maps and the untagged
    multisets `_continuity` compares are equal too. Four list comparisons in C, no tuple built per row."""
    return len(closing) == len(opening) and all(
        list(map(field, closing)) == list(map(field, opening)) for field in (_TAG, _SPECIES, _DBH, _COUNT)
    )


def _untagged_differ(
    out: Plausibility, before: list[tuple[int, TreeRecord]], now: list[tuple[int, TreeRecord]]
) -> None:
    """Untagged rows as a multiset: each species' (DBH, count) rows, DBH within the tolerance."""

    def grouped(rows: list[tuple[int, TreeRecord]]) -> dict[str, list[tuple[float, int]]]:
        acc: dict[str, dict[float, int]] = {}
        for _, t in rows:
            if t.count:
                by = acc.setdefault(t.species, {})
                by[t.dbh_cm] = by.get(t.dbh_cm, 0) + t.count
        return {s: sorted(by.items()) for s, by in acc.items()}

    old, new = grouped(before), grouped(now)
    for species in sorted(old.keys() | new.keys()):
        a, b = old.get(species, []), new.get(species, [])
        same = len(a) == len(b) and all(
            n == m and abs(x - y) <= DBH_TOLERANCE_CM + 1e-9 for (x, n), (y, m) in zip(a, b, strict=True)
        )
        if not same:
            stems_a, stems_b = sum(n for _, n in a), sum(n for _, n in b)
            out.refuse(
                _discontinuity(
                    "trees.t1",
                    species,
                    f"{species}：上期期末 {stems_a} 株，本期期初 {stems_b} 株（或胸径不符）",
                    f"{species}: {stems_a} stems closed it, {stems_b} open this period (or their DBH differ)",
                )
            )
            return
