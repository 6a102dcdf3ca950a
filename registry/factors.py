"""Factors as data: every value is read from registry/data/*.csv, each row carrying its source and tag
([V] seen in the source, [R] standard value to re-check, [A] assumption; see docs/methodology.md)."""

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Factor:
    value: float
    unit: str
    source: str
    tag: str


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@cache
def parameters() -> dict[str, Factor]:
    return {r["name"]: Factor(float(r["value"]), r["unit"], r["source"], r["tag"]) for r in _rows("parameters.csv")}


@cache
def allometry() -> dict[str, list[tuple[str, float, float]]]:
    """equation group -> [(component, a, b)] for W = Σ a·D^b (kg dry matter, D in cm)."""
    groups: dict[str, list[tuple[str, float, float]]] = {}
    for r in _rows("allometry.csv"):
        groups.setdefault(r["equation_group"], []).append((r["component"], float(r["a"]), float(r["b"])))
    return groups


@cache
def species() -> dict[str, dict[str, str]]:
    """Species by Latin and Chinese name -> its row (equation group, wood type, source)."""
    table: dict[str, dict[str, str]] = {}
    for r in _rows("species.csv"):
        table[r["species"].lower()] = r
        table[r["name_zh"]] = r
    return table


# Characters that print as nothing: a name carrying one is the same name.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")


def normalise_name(text: str) -> str:
    """A name as the registry compares it: NFKC (full-width letters become ASCII), invisible characters
    removed, runs of white space made one space, trimmed, case-folded."""
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).split()).casefold()


@cache
def species_names() -> dict[str, str]:
    """Every accepted spelling of a species (Latin, Chinese, the aliases of species_aliases.csv), normalised
    -> the species' key, its Chinese name (one key per species: synonyms share it)."""
    names: dict[str, str] = {}
    for r in _rows("species.csv"):
        names[normalise_name(r["species"])] = r["name_zh"]
        names[normalise_name(r["name_zh"])] = r["name_zh"]
    for r in _rows("species_aliases.csv"):
        if normalise_name(r["name_zh"]) not in names:
            raise ValueError(f"species_aliases.csv: {r['alias']} names an unknown species {r['name_zh']}")
        names.setdefault(normalise_name(r["alias"]), r["name_zh"])
    return names


@cache
def grid_regions() -> dict[str, str]:
    """Every accepted name of a grid region (its code, Chinese and English names), normalised -> its code."""
    names: dict[str, str] = {}
    for r in _rows("grid.csv"):
        for name in (r["region"], r["name_zh"], r["name_en"]):
            names[normalise_name(name)] = r["region"]
    return names


@cache
def grid_factors() -> dict[tuple[str, int], Factor]:
    return {
        (r["region"], int(r["year"])): Factor(float(r["kg_co2_per_kwh"]), "kg CO2 / kWh", r["source"], r["tag"])
        for r in _rows("grid.csv")
    }


@cache
def freight_factors() -> dict[str, Factor]:
    return {
        r["mode"]: Factor(float(r["kg_co2e_per_tkm"]), "kg CO2e / tkm", r["source"], r["tag"])
        for r in _rows("freight.csv")
    }


@cache
def packaging_factors() -> dict[str, Factor]:
    return {
        r["material"]: Factor(float(r["kg_co2e_per_kg"]), "kg CO2e / kg", r["source"], r["tag"])
        for r in _rows("packaging.csv")
    }


def data_digest() -> str:
    """SHA-256 over every factor file: part of a result's method fingerprint."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(DATA.glob("*.csv")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
