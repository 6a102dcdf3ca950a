"""Grams and tonnes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.units import format_tonnes, tonnes_to_grams


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
