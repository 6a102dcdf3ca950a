"""Investment language is found however it is written, and ordinary descriptions pass."""

import statistics
import time
from pathlib import Path

import opencc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.wording import (
    DECODE_ROUNDS,
    FinancialWording,
    find_financial_wording,
    find_in_fields,
    find_in_text,
    letters,
    normalise,
    phrases,
)

ORDINARY = Path(__file__).resolve().parents[2] / "fixtures" / "ordinary_descriptions.txt"
# Letters of other scripts that look like Latin ones (Cyrillic, Greek, Armenian, IPA); checked against the
# normaliser below, so a pair the Unicode data does not list fails loudly instead of weakening the test.
LOOK_ALIKES = {
    "a": "аα",
    "c": "сϲ",
    "d": "ԁ",
    "e": "е",
    "g": "ɡ",
    "h": "һ",
    "i": "іιӏ",
    "j": "ј",
    "l": "Ӏ",
    "n": "ո",
    "o": "оοօ",
    "p": "рρ",
    "s": "ѕ",
    "u": "υ",
    "v": "ν",
    "x": "х",
    "y": "у",
}
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\ufe0f", "\u034f", "\u3164", "\U000e0041"]
# Between letters of one word: spacing or glued punctuation, never a clause break.
GAPS = ["", " ", "  ", "\u3000", "\t", "-", "_", ".", "/", "*", "~", "·", "'", " * ", " _ "]
# Between every pair of characters (the phrase spelled out), clause punctuation too.
SPELLING = [", ", ". ", "，", "、", " - ", "; ", "! ", "\n"]
BETWEEN_WORDS = ["", " ", "  ", "-", "_", ".", "\u3000", " · "]
PREFIXES = ["", "本项目", "本项目 ", "Listing: ", "碳汇说明：", "Note - ", "(", "“"]
SUFFIXES = ["", " 每吨", " on every tonne", "。", "!", ")", "”"]
TO_TRADITIONAL = [opencc.OpenCC(config) for config in ("s2t", "s2tw", "s2hk", "s2twp")]


def _ordinary() -> list[str]:
    lines = ORDINARY.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _percent(ch: str, upper: bool) -> str:
    encoded = "".join(f"%{byte:02X}" for byte in ch.encode())
    return encoded if upper else encoded.lower()


@st.composite
def _disguised_char(draw: st.DrawFn, ch: str) -> str:
    ways = ["plain", "entity", "hex entity", "double entity", "percent"]
    if ch.isascii():
        ways += ["upper", "full width", "bold", "accent"] + (["look-alike"] * 2 if ch in LOOK_ALIKES else [])
    way = draw(st.sampled_from(ways))
    if way == "upper":
        return ch.upper()
    if way == "full width":
        return chr(ord(ch) + 0xFEE0)
    if way == "bold":
        return chr(0x1D41A + ord(ch) - ord("a")) if "a" <= ch <= "z" else ch
    if way == "accent":
        return ch + draw(st.sampled_from(["\u0301", "\u0308", "\u0323"]))
    if way == "look-alike":
        return draw(st.sampled_from(LOOK_ALIKES[ch]))
    if way == "entity":
        return f"&#{ord(ch)};"
    if way == "hex entity":
        return draw(st.sampled_from([f"&#x{ord(ch):x};", f"&#X{ord(ch):04X};"]))
    if way == "double entity":
        return f"&amp;#{ord(ch)};"
    if way == "percent":
        return _percent(ch, draw(st.booleans()))
    return ch


@st.composite
def disguised(draw: st.DrawFn, wording: FinancialWording) -> str:
    text = wording.phrase
    if wording.language == "zh":
        text = draw(st.sampled_from([text, *(convert.convert(text) for convert in TO_TRADITIONAL)]))
    spelling = draw(st.sampled_from(SPELLING)) if draw(st.integers(0, 3)) == 0 else None
    words = text.replace("-", " ").replace("'", " ").split()
    parts = []
    for number, word in enumerate(words):
        if number:
            parts.append(spelling or draw(st.sampled_from(BETWEEN_WORDS)))
        for index, ch in enumerate(word):
            if index:
                parts.append(spelling or draw(st.sampled_from(GAPS)))
                if draw(st.integers(0, 3)) == 0:
                    parts.append(draw(st.sampled_from(INVISIBLE)))
            parts.append(draw(_disguised_char(ch)))
    return draw(st.sampled_from(PREFIXES)) + "".join(parts) + draw(st.sampled_from(SUFFIXES))


@st.composite
def phrase_and_disguise(draw: st.DrawFn) -> tuple[FinancialWording, str]:
    wording = draw(st.sampled_from(phrases()))
    return wording, draw(disguised(wording))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phrase_and_disguise())
def test_every_listed_phrase_is_found_however_it_is_disguised(case):
    wording, text = case
    found = find_in_text(text)
    assert found is not None, (wording.phrase, text, normalise(text))


@settings(max_examples=200, deadline=None)
@given(phrase_and_disguise(), st.sampled_from(["%25", "&amp;"]))
def test_an_encoding_hidden_in_another_is_peeled(case, layer):
    wording, _ = case
    if layer == "%25":
        text = "".join(_percent(ch, True).replace("%", "%25") for ch in wording.phrase)
    else:
        text = "".join(f"&amp;amp;#{ord(ch)};" for ch in wording.phrase)
    assert find_in_text(text) is not None


def test_the_look_alikes_used_above_are_confusables_in_the_unicode_data():
    for latin, others in LOOK_ALIKES.items():
        for other in others:
            assert normalise(other) == normalise(latin), (latin, other, hex(ord(other)))


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("本碳汇保本稳赚", "保本"),
        ("保 本 承诺", "保本"),
        ("年化收益率8%", "收益率"),
        ("A GUARANTEED RETURN on every tonne", "guaranteed return"),
        ("ＧＵＡＲＡＮＴＥＥＤ　ｒｅｔｕｒｎ", "guaranteed return"),
        ("Guaranteed-Return", "guaranteed return"),
        ("guaranteed returns for every buyer", "guaranteed return"),
        ("strong price appreciation expected", "price appreciation"),
        ("a risk free purchase", "risk-free"),
        # The hostile drill's probes (node.hostile), one per disguise.
        ("穩賺不賠的碳匯", "稳赚"),
        ("Guаrаnteed return on every tonne", "guaranteed return"),
        ("&#20445;&#26412; carbon", "保本"),
        ("&#x4fdd;&#x672c; carbon", "保本"),
        ("&amp;#20445;本 carbon", "保本"),
        ("%E4%BF%9D%E6%9C%AC carbon", "保本"),
        ("%25E4%25BF%259D%25E6%259C%25AC", "保本"),
        ("保\u200b本\u2060碳汇", "保本"),
        ("零风险，高回报的城市碳汇", "零风险"),
        ("A risk-free, high-return carbon asset", "risk-free"),
        ("保證收益", "保证收益"),
        ("保证guaranteed return收益", "guaranteed return"),
        ("g.u.a.r.a.n.t.e.e.d r.e.t.u.r.n", "guaranteed return"),
        ("r. i. s. k. f. r. e. e", "risk-free"),
        ("risk.free", "risk-free"),
        ("保，本", "保本"),
        ("double your rnoney", "double your money"),  # UTS #39: "rn" is a skeleton of "m"
        ("𝐝𝐨𝐮𝐛𝐥𝐞 your money", "double your money"),
        ("Zero-risk, high yield", "zero risk"),
        ("躺赚的碳汇", "躺赚"),
        ("升值潛力巨大", "升值潜力"),
        ("you can't lose money", "can't lose money"),
    ],
)
def test_investment_phrases_are_found_in_any_spelling(text, phrase):
    found = find_in_text(text)
    assert found is not None and found.phrase == phrase and found.why and found.source


@pytest.mark.parametrize(
    "text",
    [
        "measure wind speed",  # "sure win" inside words
        "treasure winter walks",
        "low risk, free entry",  # a clause break is not a phrase's hyphen
        "low risk - free guided tours",
        "Low risk\nFree entry",
        "确保本项目数据真实",  # 确保 + 本项目, not 保本
        "公园由区绿化局管理，财政资金保障养护",  # 管理 + 财政, not 理财
        "生态效益高，收益用于养护",  # 高 + 收益 across a comma
        "high-yield vegetable beds",
        "a social return on investment study",
        "delivery is guaranteed. Returns of unsold units go back to the seller",
        "一二三",  # Han characters are never replaced by their look-alikes (一 → ー in UTS #39)
    ],
)
def test_ordinary_text_that_comes_close_passes(text):
    assert find_in_text(text) is None


def test_a_corpus_of_ordinary_descriptions_is_never_refused():
    corpus = _ordinary()
    assert len(corpus) >= 200
    refused = [(line, found.phrase) for line in corpus if (found := find_in_text(line)) is not None]
    assert refused == []


def test_an_honest_listing_passes():
    assert (
        find_financial_wording(
            "滨江公园 2025 年度园林碳汇",
            "经第三方核查的城市绿地碳汇，价格由买卖双方协商。",
            "Verified urban green-space sink from Riverside Park, 2025 vintage; price agreed between the parties.",
        )
        is None
    )


def test_the_field_using_a_phrase_is_named():
    found = find_in_fields({"title": "滨江公园碳汇", "description": "稳賺的碳汇"})
    assert found is not None and found[0] == "description" and found[1].phrase == "稳赚"
    assert find_in_fields({"title": "滨江公园碳汇", "description": "经核查"}) is None


def test_the_normaliser_steps():
    assert normalise("Ｇｕａｒ\u200bａｎｔｅｅｄ") == "guaranteed"
    assert normalise("&amp;#20445;%E6%9C%AC") == "保本"
    assert normalise("穩賺") == "稳赚"
    assert normalise("Сafé") == "cafe"  # Cyrillic С, and the accent dropped
    assert letters(normalise("保 本，risk-free!")) == "保本riskfree"
    # Decoding stops after DECODE_ROUNDS layers: one layer more is left encoded.
    deep = "%E4%BF%9D"
    for _ in range(DECODE_ROUNDS):
        deep = deep.replace("%", "%25")
    assert "保" not in normalise(deep)


def test_the_phrase_list_is_data_with_reasons_and_sources():
    listed = phrases()
    assert len(listed) >= 40
    assert {wording.language for wording in listed} == {"zh", "en"}
    assert all(wording.why and wording.source for wording in listed)
    assert len({letters(normalise(wording.phrase)) for wording in listed}) == len(listed)


def test_normalising_ten_kilobytes_takes_well_under_a_few_milliseconds():
    corpus = _ordinary()
    text = ""
    while len(text.encode()) < 10_240:
        text += " ".join(corpus) + "\n"
    text = text.encode()[:10_240].decode(errors="ignore")
    find_in_text(text)
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        find_in_text(text)
        runs.append(time.perf_counter() - started)
    # Generous for a shared machine: it takes about a millisecond (docs/wording.md).
    assert statistics.median(runs) < 0.02
