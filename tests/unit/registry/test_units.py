"""Grams and tonnes."""

import sqlite3
from decimal import Decimal

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.units import VINTAGE_SQL, VINTAGE_SQL_POSTGRES, format_co2e, format_tonnes, tonnes_to_grams, vintage_of


@given(st.integers(0, 10**15))
def test_formatting_and_parsing_round_trip(grams):
    assert tonnes_to_grams(format_tonnes(grams)) == grams


def test_formats_six_decimals():
    assert format_tonnes(1_234_567) == "1.234567"
    assert format_tonnes(5) == "0.000005"


def test_refuses_fractions_of_a_gram_and_negatives():
    with pytest.raises(ValueError, match="whole number of grams"):
        tonnes_to_grams("0.0000001")
    with pytest.raises(ValueError, match="negative"):
        tonnes_to_grams("-1")


def test_a_calendar_year_period_is_its_own_vintage():
    # 2025-01-01 .. 2025-12-31 is signed as 00:00 Asia/Shanghai of 2025-01-01 to 00:00 of 2026-01-01.
    assert vintage_of(1_767_196_800) == 2025
    assert vintage_of(1_767_196_800 + 1) == 2026  # one second into 2026 in Shanghai
    assert vintage_of(1_767_196_800 - 8 * 3600) == 2025  # 2026-01-01 00:00 UTC is still 2025's last day there


def test_sql_and_python_agree_on_vintages():
    connection = sqlite3.connect(":memory:")
    for period_end in (0, 1, 1_767_196_800, 1_767_196_801, 1_767_168_000, 1_735_660_800, 2_000_000_000):
        (year,) = connection.execute(f"SELECT {VINTAGE_SQL} FROM (SELECT ? AS period_end)", (period_end,)).fetchone()
        assert year == vintage_of(period_end), period_end


def test_the_postgres_vintage_sql_agrees_with_python(postgres):
    with psycopg.connect(postgres.url(), autocommit=True) as connection:
        for period_end in (1, 1_767_196_800, 1_767_196_801, 1_767_168_000, 1_735_660_800, 2_000_000_000):
            query = f"SELECT {VINTAGE_SQL_POSTGRES} FROM (SELECT %s::bigint AS period_end) AS p"
            (year,) = connection.execute(query, (period_end,)).fetchone()
            assert year == vintage_of(period_end), period_end


@pytest.mark.parametrize(
    ("grams", "shown"),
    [
        (0, "0 gCO2e"),
        (350, "350 gCO2e"),
        (1_000, "1 kgCO2e"),
        (1_210, "1.21 kgCO2e"),
        (999_999, "999.999 kgCO2e"),
        (1_000_000, "1 tCO2e"),
        (1_500_001, "1.500001 tCO2e"),
        (20_000_000, "20 tCO2e"),
        (1_234_567_000_000, "1,234,567 tCO2e"),
        (-1_210, "-1.21 kgCO2e"),
    ],
)
def test_quantities_for_people(grams, shown):
    assert format_co2e(grams) == shown


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_quantities_for_people_are_exact(grams):
    number, unit = format_co2e(grams).split(" ")
    scale = {"tCO2e": 1_000_000, "kgCO2e": 1_000, "gCO2e": 1}[unit]
    assert Decimal(number.replace(",", "")) * scale == grams
