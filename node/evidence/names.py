"""The name an uploaded evidence file is kept under.

A client's file name is whatever its multipart header says: a path (`../../etc/passwd`, `C:\\x\\y`), control
characters that forge log lines, bidi overrides that make `exe.pdf` read as `fdp.exe`, or nothing at all. The
bundle shows a safe base name; the name as sent is kept beside it, escaped so that any JSON or terminal reader
shows it literally.
"""

import re

MAX_NAME = 128
MAX_ORIGINAL = 1024  # what is kept of the name as sent: enough to recognise it, not a place to store data
FALLBACK = "file"
# C0/C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates, and lone surrogates (a name
# decoded with surrogateescape: they cannot even be written as UTF-8).
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Characters no common file system takes in a name; a download keeps working wherever it is saved.
_RESERVED = re.compile(r'[:*?"<>|]')


def escaped(name: str) -> str:
    """The name with backslashes doubled and every unshowable character as \\uXXXX: reversible, one line."""
    return _UNSHOWABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", name.replace("\\", "\\\\"))


def safe_file_name(name: str | None) -> tuple[str, str]:
    """(safe base name, the original escaped). The safe name has no directory part (either slash), no
    unshowable character, no leading dot or space, at most MAX_NAME characters with its extension kept."""
    original = name or ""
    base = re.split(r"[/\\]", original)[-1]
    base = _RESERVED.sub("_", _UNSHOWABLE.sub("", base)).strip().lstrip(".").strip()
    if len(base) > MAX_NAME:
        stem, dot, extension = base.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            base = stem[: MAX_NAME - len(extension) - 1].rstrip() + "." + extension
        else:
            base = base[:MAX_NAME]
    return base or FALLBACK, escaped(original[:MAX_ORIGINAL])
