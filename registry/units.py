"""Units of the ledger: integer grams of CO2e, shown as tonnes with six decimals."""

from decimal import Decimal

GRAMS_PER_TONNE = 1_000_000


def tonnes_to_grams(tonnes: Decimal | int | str) -> int:
    """Converts tonnes of CO2e to integer grams, refusing fractions of a gram."""
    value = Decimal(str(tonnes)) * GRAMS_PER_TONNE
    if value != value.to_integral_value():
        raise ValueError(f"{tonnes} tCO2e is not a whole number of grams")
    if value < 0:
        raise ValueError(f"{tonnes} tCO2e is negative")
    return int(value)


def format_tonnes(grams: int) -> str:
    """Grams as tCO2e with six decimals: 1234567 -> '1.234567'."""
    sign = "-" if grams < 0 else ""
    whole, rest = divmod(abs(grams), GRAMS_PER_TONNE)
    return f"{sign}{whole}.{rest:06d}"
