"""Investment language is found however it is written, and ordinary descriptions pass."""

import pytest

from registry.wording import find_financial_wording


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("本碳汇保本稳赚", "保本"),
        ("保 本 承诺", "保本"),
        ("年化收益率8%", "收益率"),
        ("A GUARANTEED RETURN on every tonne", "guaranteed return"),
        ("ＧＵＡＲＡＮＴＥＥＤ　ｒｅｔｕｒｎ", "guaranteed return"),
        ("Guaranteed-Return", "guaranteed return"),
        ("strong price appreciation expected", "price appreciation"),
        ("a risk free purchase", "risk-free"),
    ],
)
def test_investment_phrases_are_found_in_any_spelling(text, phrase):
    found = find_financial_wording("title", text)
    assert found is not None and found.phrase == phrase and found.why


def test_an_honest_listing_passes():
    assert (
        find_financial_wording(
            "滨江公园 2025 年度园林碳汇",
            "经第三方核查的城市绿地碳汇，价格由买卖双方协商。",
            "Verified urban green-space sink from Riverside Park, 2025 vintage; price agreed between the parties.",
        )
        is None
    )
