"""The JSON depth scan (node.api.json_depth): it counts what a parser would descend into, strings aside, on
bodies no parser could survive, without recursing itself."""

import json
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from node.api.json_depth import brackets_outside_strings, deeper_than, nesting_depth


def reference_depth(value: Any) -> int:
    """What a recursive walk of the parsed value finds: the depth the scan must match."""
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    return 0


def test_scalars_are_depth_zero_and_each_array_or_object_one_more():
    assert nesting_depth(b"") == nesting_depth(b"17") == nesting_depth(b'"text"') == nesting_depth(b"null") == 0
    assert nesting_depth(b"[]") == nesting_depth(b"{}") == 1
    assert nesting_depth(b'{"a": [1, {"b": [[]]}], "c": {}}') == 5
    assert nesting_depth(b"[[], [[]], [], [[[]]], []]") == 4


def test_brackets_in_strings_do_not_count():
    assert nesting_depth(b'{"note": "[[[[{{{{ ]]]] }"}') == 1
    assert nesting_depth(b'["[", "]", "{", "}", "[[[[[[[[[["]') == 1
    assert brackets_outside_strings(b'{"a": "[x]", "b": ["{"]}') == b"(())"


def test_escaped_quotes_do_not_end_a_string():
    # The string holds a quote and brackets: `"\"[[[[\""` is one string.
    assert nesting_depth(rb'["\"[[[[\"", "x\"]]]"]') == 1
    assert nesting_depth(rb'{"k\"[": "v\"{{{{"}') == 1
    assert nesting_depth(rb'["\\\"[[["]') == 1  # an escaped backslash, then an escaped quote: still inside


def test_an_escaped_backslash_before_a_quote_ends_the_string():
    # `"\\"` is a string holding one backslash: the quote after it closes the string, so `[[` count.
    assert nesting_depth(rb'["\\", [["\\\\"]]]') == 3
    assert nesting_depth(rb'["\n\t\u005b", [1]]') == 2  # other escapes (even of `[`) are not structure


def test_unclosed_brackets_count_as_a_parser_descends_into_them():
    assert nesting_depth(b"[[[") == 3
    assert nesting_depth(b'[[[ "unterminated [[[[[[') == 3
    assert nesting_depth(b"[" * 100_000) == 100_000


def test_the_threshold_is_exact():
    assert not deeper_than(b"[" * 64 + b"]" * 64, 64)
    assert deeper_than(b"[" * 65 + b"]" * 65, 64)
    assert not deeper_than(b'["' + b"[" * 1000 + b'"]', 64)
    assert deeper_than(b"[" * 1_000_000 + b"]" * 1_000_000, 64)


def test_the_scan_does_not_recurse():
    # Far deeper than the recursion limit (and than a C stack): a recursive scan would fail or crash here.
    depth = 10 * sys.getrecursionlimit() + 1_000_000
    assert nesting_depth(b"[{" * (depth // 2) + b"}]" * (depth // 2)) == depth


def test_long_climbs_and_bushy_text_mixed():
    climb = b"[" * 300 + b"]" * 300
    assert nesting_depth(b"[" + b",".join([b"[]"] * 5000 + [climb] + [b"[[]]"] * 5000) + b"]") == 301


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('[]{}"\\/ab,:\n\t\u00e9\u2028'), max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(alphabet=st.sampled_from('[]{}"\\ab'), max_size=6), children, max_size=5)
    ),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, wrap=st.integers(min_value=0, max_value=80), ascii_only=st.booleans(), indent=st.booleans())
def test_the_scan_agrees_with_a_recursive_walk_of_the_parsed_value(value, wrap, ascii_only, indent):
    for _ in range(wrap):  # some values deeper than the default limit of 64
        value = [value] if wrap % 2 else {"k": value}
    text = json.dumps(value, ensure_ascii=ascii_only, indent=1 if indent else None).encode()
    assert nesting_depth(text) == reference_depth(json.loads(text))
    assert deeper_than(text, 64) == (reference_depth(value) > 64)


def parser_reach(text: bytes) -> int:
    """How deep a parser gets into any text, valid or not: one byte at a time, stopping where a parser would
    at the latest (a closing bracket with nothing open, a backslash outside a string)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text.decode("latin-1"):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            if depth == 0:
                break
            depth -= 1
        elif char == "\\":
            break
    return deepest


@settings(max_examples=1000, deadline=None)
# Byte soup over the characters that matter, more openers than closers so that it gets deep.
@given(st.binary(max_size=300).map(lambda raw: raw.translate(bytes(b'[[[{{]}"\\ '[b % 10] for b in range(256)))))
def test_on_any_text_the_scan_never_counts_less_than_a_parser_could_descend(text):
    assert nesting_depth(text) >= parser_reach(text)
    if parser_reach(text) > 8:
        assert deeper_than(text, 8)
