"""Units of the ledger: integer grams of CO2e, shown as tonnes with six decimals."""

import time
from decimal import Decimal

GRAMS_PER_TONNE = 1_000_000
# The registry's calendar is Asia/Shanghai (UTC+8 all year, no daylight saving): periods run from 00:00 of
# their first day to 00:00 of the day after their last.
CALENDAR_UTC_OFFSET_S = 8 * 3600
# vintage_of() in SQL over a column named period_end, in SQLite and in PostgreSQL.
VINTAGE_SQL = f"CAST(strftime('%Y', period_end - 1 + {CALENDAR_UTC_OFFSET_S}, 'unixepoch') AS INTEGER)"
VINTAGE_SQL_POSTGRES = (
    f"CAST(EXTRACT(YEAR FROM to_timestamp(period_end - 1 + {CALENDAR_UTC_OFFSET_S}) AT TIME ZONE 'UTC') AS BIGINT)"
)


def vintage_of(period_end: int) -> int:
    """A batch's vintage: the calendar year of the last day its period covers. The period ends at 00:00 of the
    day after that day, so a calendar-2025 period, ending at 2026-01-01 00:00, is vintage 2025."""
    return time.gmtime(period_end - 1 + CALENDAR_UTC_OFFSET_S).tm_year


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


def format_co2e(grams: int) -> str:
    """Grams of CO2e for people, exact: tonnes with up to six decimals (trailing zeros trimmed) and thousands
    separators from a tonne up, exact kilograms or grams below, so that no gram is ever rounded away:
    1_234_567_000_000 → "1,234,567 tCO2e", 1_500_001 → "1.500001 tCO2e", 1_210 → "1.21 kgCO2e",
    350 → "350 gCO2e"."""
    sign = "-" if grams < 0 else ""
    grams = abs(grams)
    if grams < 1_000:
        return f"{sign}{grams} gCO2e"
    scale, digits, unit = (GRAMS_PER_TONNE, 6, "t") if grams >= GRAMS_PER_TONNE else (1_000, 3, "kg")
    whole, rest = divmod(grams, scale)
    fraction = f"{rest:0{digits}d}".rstrip("0")
    return f"{sign}{whole:,}{'.' if fraction else ''}{fraction} {unit}CO2e"


def deal_total_fen(price_fen_per_tonne: int, grams: int) -> int:
    """What a deal costs in fen: price per tonne × grams / 1,000,000, rounded half up.

    The one rule for a deal's total: a custodian's receipt must carry exactly this, and the risk rules
    compare receipts with it."""
    if price_fen_per_tonne < 0 or grams < 0:
        raise ValueError("a deal's price and quantity are never negative")
    return (price_fen_per_tonne * grams + GRAMS_PER_TONNE // 2) // GRAMS_PER_TONNE
