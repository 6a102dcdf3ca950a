"""Text that requests may carry (the API's schemas, and code that parses bulk bodies by hand): what is stored
is later shown in pages, CSV exports, logs and terminals, where control characters, line breaks and bidi
overrides can forge lines or disguise a name.

`SingleLine` is for names, titles, references and beneficiaries: no C0/C1 control character, no line or
paragraph separator (U+2028/U+2029) and no bidi embedding/override/isolate (U+202A–U+202E, U+2066–U+2069),
the characters that make "Alice" display as someone else. `MultiLine` is for descriptions, reasons and notes:
tab, line feed and CR LF pass, other control characters and bidi overrides do not. `Day` is a real calendar
date written YYYY-MM-DD, kept as that text (the queries compare it with the daily aggregates' text keys).
"""

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field

_C0_C1 = "\x00-\x1f\x7f-\x9f"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_SINGLE_LINE_REFUSED = re.compile(f"[{_C0_C1}\u2028\u2029{_BIDI}]")
# A lone CR is refused even here: it rewrites a terminal line; browsers send CR LF for a textarea's breaks.
_MULTI_LINE_REFUSED = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]|\r(?!\n)")


def _refuse(text: str, pattern: re.Pattern[str], what: str) -> str:
    found = pattern.search(text)
    if found is not None:
        # The character is named by its code point, never echoed: the message itself may reach a log.
        raise ValueError(f"U+{ord(found.group()[0]):04X} at position {found.start()} is not allowed in {what}")
    return text


def single_line(text: str) -> str:
    return _refuse(text, _SINGLE_LINE_REFUSED, "single-line text")


def multi_line(text: str) -> str:
    return _refuse(text, _MULTI_LINE_REFUSED, "text")


def real_day(text: str) -> str:
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError("not a calendar date (YYYY-MM-DD)") from None
    return text


SingleLine = Annotated[str, AfterValidator(single_line)]
MultiLine = Annotated[str, AfterValidator(multi_line)]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2025-06-30"]), AfterValidator(real_day)]


def refused_in_single_line(text: str) -> str | None:
    """For code that checks text outside a schema (bulk bodies parsed by hand): why it is refused, or None."""
    try:
        single_line(text)
    except ValueError as refused:
        return str(refused)
    return None
