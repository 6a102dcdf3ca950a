"""Parcel footprints (ISO 14083:2023 / GLEC v3 logic): legs by mode, distance and chargeable mass, plus
packaging, in grams CO2e with a per-leg breakdown. Footprints round up: an offset never falls short."""

import math
from dataclasses import dataclass
from typing import Any

from registry import factors
from registry.errors import InputRefused

VOLUMETRIC_DIVISOR_CM3_PER_KG = 6000
# Bounds that no parcel leg reaches (once round the Earth; a loaded truck's mass), so a typo is refused
# rather than offset.
MAX_DISTANCE_KM = 40_000.0
MAX_MASS_KG = 50_000.0
MAX_SIDE_CM = 2_000.0
REFUSED_MODES = {"air": "air freight has no checked factor yet (docs/accounting.md): it cannot be offset here"}


class FootprintInputError(InputRefused):
    """A refused input, naming the field (and row) at fault."""


@dataclass(frozen=True)
class Leg:
    mode: str
    distance_km: float
    weight_kg: float
    dims_cm: tuple[float, float, float] | None = None

    @property
    def chargeable_kg(self) -> float:
        if self.dims_cm is None:
            return self.weight_kg
        length, width, height = self.dims_cm
        return max(self.weight_kg, length * width * height / VOLUMETRIC_DIVISOR_CM3_PER_KG)


@dataclass(frozen=True)
class PackagingItem:
    material: str
    mass_kg: float


@dataclass(frozen=True)
class Order:
    order_id: str
    legs: tuple[Leg, ...]
    packaging: tuple[PackagingItem, ...] = ()


@dataclass(frozen=True)
class OrderFootprint:
    order_id: str
    grams: int
    legs_g: tuple[float, ...]
    packaging_g: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "grams": self.grams,
            "legs_g": list(self.legs_g),
            "packaging_g": list(self.packaging_g),
        }


def _positive(value: Any, where: str, high: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FootprintInputError(where, f"must be a number (got {value!r})")
    if value < 0 or (value == 0 and not allow_zero) or value > high:
        raise FootprintInputError(where, f"must be {'>= 0' if allow_zero else '> 0'} and <= {high} (got {value})")
    return float(value)


def parse_order(data: Any, where: str = "order") -> Order:
    if not isinstance(data, dict):
        raise FootprintInputError(where, "must be an object")
    unknown = set(data) - {"order_id", "legs", "packaging"}
    if unknown:
        raise FootprintInputError(f"{where}.{sorted(unknown)[0]}", "unknown field")
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= 128:
        raise FootprintInputError(f"{where}.order_id", "must be a text of 1 to 128 characters")
    legs_data = data.get("legs")
    if not isinstance(legs_data, list) or not legs_data:
        raise FootprintInputError(f"{where}.legs", "must list at least one leg")
    legs = []
    for i, leg in enumerate(legs_data):
        at = f"{where}.legs[{i}]"
        if not isinstance(leg, dict) or set(leg) - {"mode", "distance_km", "weight_kg", "dims_cm"}:
            raise FootprintInputError(at, "must have mode, distance_km, weight_kg and optionally dims_cm")
        mode = leg.get("mode")
        if not isinstance(mode, str):
            raise FootprintInputError(f"{at}.mode", f"must be a mode name (got {mode!r})")
        if mode in REFUSED_MODES:
            raise FootprintInputError(f"{at}.mode", REFUSED_MODES[mode])
        if mode not in factors.freight_factors():
            raise FootprintInputError(
                f"{at}.mode", f"unknown mode {mode!r}: one of {sorted(factors.freight_factors())}"
            )
        dims = leg.get("dims_cm")
        if dims is not None and (not isinstance(dims, list) or len(dims) != 3):
            raise FootprintInputError(f"{at}.dims_cm", "must be [length, width, height] in cm")
        legs.append(
            Leg(
                mode,
                _positive(leg.get("distance_km"), f"{at}.distance_km", MAX_DISTANCE_KM),
                _positive(leg.get("weight_kg"), f"{at}.weight_kg", MAX_MASS_KG),
                None if dims is None else tuple(_positive(d, f"{at}.dims_cm", MAX_SIDE_CM) for d in dims),
            )
        )  # type: ignore[arg-type]
    packaging = []
    items = data.get("packaging", [])
    if not isinstance(items, list):
        raise FootprintInputError(f"{where}.packaging", "must be a list of packaging items")
    for i, item in enumerate(items):
        at = f"{where}.packaging[{i}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("material"), str)
            or (item["material"] not in factors.packaging_factors())
        ):
            raise FootprintInputError(f"{at}.material", f"one of {sorted(factors.packaging_factors())}")
        packaging.append(
            PackagingItem(
                item["material"], _positive(item.get("mass_kg"), f"{at}.mass_kg", MAX_MASS_KG, allow_zero=True)
            )
        )
    return Order(order_id, tuple(legs), tuple(packaging))


def order_footprint(order: Order) -> OrderFootprint:
    freight, materials = factors.freight_factors(), factors.packaging_factors()
    legs = tuple(leg.chargeable_kg / 1000 * leg.distance_km * freight[leg.mode].value * 1000 for leg in order.legs)
    packs = tuple(item.mass_kg * materials[item.material].value * 1000 for item in order.packaging)
    # Round up, after summing: 1e-9 absorbs float noise so an exact gram is not pushed to the next one.
    grams = math.ceil(sum(legs) + sum(packs) - 1e-9)
    return OrderFootprint(order.order_id, max(grams, 0), legs, packs)
