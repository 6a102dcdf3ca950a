"""Every label of the people's pages exists in both languages."""

from node.api.routes.pages import TEXT


def test_chinese_and_english_pages_have_the_same_labels():
    assert set(TEXT["zh"]) == set(TEXT["en"])
    assert set(TEXT["zh"]["names"]) == set(TEXT["en"]["names"])
    assert all(value for lang in TEXT.values() for value in lang.values())
