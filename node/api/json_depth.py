"""How deep a JSON text nests, found from the raw bytes without parsing them and without recursion.

A parser recurses once per `[` or `{`: a body nested 100,000 deep overruns the C stack of the standard
library's decoder (py_ecc raises the recursion limit so high that its guard never trips) and the process dies.
This scan measures the nesting before any parser sees the body, with bytes operations that run in C:

1. escapes that matter go: `\\\\` pairs, then `\\"` (left to right, as a string reads them), so every `"`
   left opens or closes a string;
2. everything but `"[]{}` goes (`bytes.translate`), which shrinks the text to its structure;
3. strings go: `""` first (most strings hold no bracket; a closing and the next opening quote with nothing
   between them may go too, as that removes nothing outside a string), then what lies between the remaining
   quotes (the odd pieces of a split on `"`, which also drops an unterminated string's tail);
4. the brackets, all made `(` and `)`, get a `)` for each `(` left unclosed at the end (a parser still
   descends into those), so the deepest points are all `()`; the depth is the highest running count of `(`
   less `)`. Removing every `()` lowers it by exactly one, at C speed; that is repeated while it shrinks the
   text a good deal (flat, bushy JSON vanishes in a few rounds), then the rest, long climbs such as
   `[[[[...]]]]`, is walked run by run (a run of `(` or of `)` is one `find`).

Up to the first syntax error, where any parser stops, this counts exactly as a parser nests; past it, it may
count more but never less, so it can refuse garbage but never lets a deep body through. Cost is linear in
the body: see docs/security/limits.md for measured figures.
"""

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_OPEN = ord("(")


def brackets_outside_strings(body: bytes) -> bytes:
    """The body's brackets outside strings, in order, as `(` and `)`."""
    if b"\\" in body:
        # Only `\\` and `\"` can change which quotes delimit strings; other escapes vanish in the translate.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    return structure.translate(_BRACKETS)


def nesting_depth(body: bytes) -> int:
    """How many arrays and objects deep the JSON text nests at its deepest (0 for a scalar)."""
    brackets = brackets_outside_strings(body)
    unclosed = 2 * brackets.count(b"(") - len(brackets)
    if unclosed > 0:
        brackets += b")" * unclosed
    removed_levels = 0
    while b"()" in brackets:
        shorter = brackets.replace(b"()", b"")
        removed_levels += 1
        # The next text has at most one run per removed byte: once that is few, runs are cheaper than rounds
        # (a round costs a few ns a byte, a run a few hundred ns; 1/5 balances the worst case of both).
        few_runs = (len(brackets) - len(shorter)) * 5 < len(shorter)
        brackets = shorter
        if few_runs:
            break
    return removed_levels + _highest_running_count(brackets)


def _highest_running_count(brackets: bytes) -> int:
    """The highest count of `(` less `)` over the text's prefixes, found run by run (`find` is a memchr)."""
    highest = depth = at = 0
    end = len(brackets)
    while at < end:
        if brackets[at] == _OPEN:
            after = brackets.find(b")", at)
            after = end if after < 0 else after
            depth += after - at
            highest = max(highest, depth)
        else:
            after = brackets.find(b"(", at)
            after = end if after < 0 else after
            depth -= after - at
        at = after
    return highest


def deeper_than(body: bytes, limit: int) -> bool:
    """Whether the JSON text nests more than `limit` arrays or objects deep (a parser would recurse further)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # not enough brackets to nest that deep, strings or not
    return nesting_depth(body) > limit
