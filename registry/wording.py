"""De-financialised wording: listing titles and descriptions may not use investment language.

The phrases are data (registry/data/financial_phrases.csv, one per row with why it is refused), so an
operator can extend the list without code. Text and phrases are normalised the same way before
matching: Unicode NFKC (full-width letters and digits become half-width), case folded, and every
space and punctuation mark removed, so "保 本", "ＧＵＡＲＡＮＴＥＥＤ　return" and "Guaranteed-Return" all match.
"""

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PHRASES = Path(__file__).resolve().parent / "data" / "financial_phrases.csv"


@dataclass(frozen=True)
class FinancialWording:
    phrase: str
    language: str
    why: str


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in ("L", "N"))


@cache
def phrases(path: Path = PHRASES) -> tuple[tuple[str, FinancialWording], ...]:
    with path.open(encoding="utf-8") as handle:
        rows = [FinancialWording(r["phrase"], r["language"], r["why"]) for r in csv.DictReader(handle)]
    return tuple((normalise(row.phrase), row) for row in rows)


def find_financial_wording(*texts: str, path: Path = PHRASES) -> FinancialWording | None:
    """The first refused phrase found in any of the texts, or None."""
    for text in texts:
        plain = normalise(text)
        for needle, phrase in phrases(path):
            if needle and needle in plain:
                return phrase
    return None
