"""The report's chart axes read: distinct tick labels, a top at or above the data, whole steps for counts."""

from hypothesis import given
from hypothesis import strategies as st

from node.supervision.charts import bar_chart, nice_scale


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False), st.booleans())
def test_every_tick_reads_differently_and_the_top_covers_the_data(peak, whole):
    top, ticks, decimals = nice_scale(peak, whole=whole)
    labels = [f"{tick:,.{decimals}f}" for tick in ticks]
    assert len(set(labels)) == len(labels) >= 2
    assert top >= peak and ticks[0] == 0 and ticks[-1] == top
    if whole:
        assert all(tick == int(tick) for tick in ticks)


def test_one_alert_is_not_drawn_as_one_one_zero_zero_zero():
    svg = bar_chart("alerts", ["round_trip"], {"open": [1.0]}, whole=True)
    assert ">1</text>" in svg and ">0</text>" in svg and svg.count(">1</text>") == 1
    assert "viewBox='0 0 720 260'" in svg  # scales to a phone's width
