"""The pages' labels in Chinese and English, read once from labels.toml: LABELS["zh"] and LABELS["en"],
nested as the file's tables (a table holding exactly `zh` and `en` strings is one label)."""

import tomllib
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
LABEL_FILE = Path(__file__).with_name("labels.toml")


def split_languages(table: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    """One label tree per language; refuses a label missing a language or left empty."""
    result: dict[str, dict[str, Any]] = {lang: {} for lang in LANGUAGES}
    for key, value in table.items():
        if not isinstance(value, dict):
            raise ValueError(f"{LABEL_FILE.name}: {path}{key} is not a table")
        if set(value) <= set(LANGUAGES) and all(isinstance(v, str) for v in value.values()):
            for lang in LANGUAGES:
                text = value.get(lang, "")
                if not text.strip():
                    raise ValueError(f"{LABEL_FILE.name}: {path}{key} has no {lang} text")
                result[lang][key] = text
        else:
            nested = split_languages(value, f"{path}{key}.")
            for lang in LANGUAGES:
                result[lang][key] = nested[lang]
    return result


LABELS = split_languages(tomllib.loads(LABEL_FILE.read_text("utf-8")))
