"""Every label of the pages exists in both languages, and every label a template names is in the label file."""

import re
from pathlib import Path

import pytest

from node.api.labels import LABELS, split_languages

TEMPLATES = Path(__file__).resolve().parents[3] / "node" / "api" / "templates"


def _paths(tree: dict, prefix: str = "") -> set[str]:
    found = set()
    for key, value in tree.items():
        found |= _paths(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
    return found


def test_chinese_and_english_have_the_same_labels_and_none_is_empty():
    assert _paths(LABELS["zh"]) == _paths(LABELS["en"])
    for lang in ("zh", "en"):
        tree = LABELS[lang]
        for path in _paths(tree):
            value = tree
            for part in path.split("."):
                value = value[part]
            assert value.strip(), (lang, path)


def test_chinese_labels_are_chinese_and_english_labels_are_not():
    han = re.compile(r"[\u4e00-\u9fff]")
    # The English page may name 碳普惠 beside its translation; a brand line shows the other language on purpose.
    allowed_in_english = {"other_language", "not_ccer"}
    for path in _paths(LABELS["en"]) - allowed_in_english:
        value = LABELS["en"]
        for part in path.split("."):
            value = value[part]
        assert not han.search(value), path
    for path in _paths(LABELS["zh"]) - {"other_language"}:
        value = LABELS["zh"]
        for part in path.split("."):
            value = value[part]
        assert han.search(value), path


def test_every_label_a_template_names_is_in_the_label_file():
    named = set()
    for template in TEMPLATES.glob("*.html"):
        for name in re.findall(r"\bt\.([a-z_]+(?:\.[a-z_]+)*)", template.read_text("utf-8")):
            named.add(re.sub(r"\.(format|get|items)$", "", name))  # str.format, dict.get, dict.items on a label
    known = _paths(LABELS["zh"])
    prefixes = {path.rsplit(".", 1)[0] for path in known if "." in path}
    missing = sorted(name for name in named if name not in known and name not in prefixes)
    assert missing == []


def test_a_label_without_one_of_its_languages_is_refused():
    with pytest.raises(ValueError, match="home has no en text"):
        split_languages({"home": {"zh": "首页"}})
    with pytest.raises(ValueError, match=r"nested\.home has no zh text"):
        split_languages({"nested": {"home": {"zh": " ", "en": "Home"}}})


def test_every_rule_measure_and_status_the_pages_show_has_its_label():
    from node.api.schemas import MEASURE_KINDS, PROJECT_KINDS
    from node.risk.config import RULES

    for lang in ("zh", "en"):
        labels = LABELS[lang]
        assert set(RULES) <= set(labels["rules"]), lang
        assert set(MEASURE_KINDS) <= set(labels["measure_kinds"]), lang
        assert set(PROJECT_KINDS) <= set(labels["kinds"]), lang
