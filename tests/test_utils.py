"""slugify must give the slugs Django gives, since Job records are matched by slug."""

from __future__ import annotations

import pytest

from jobruntime.core.text import slugify


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Hello World", "hello-world"),
        ("local-test_pass-TestPass", "local-test_pass-testpass"),
        ("  spaces   and\ttabs  ", "spaces-and-tabs"),
        ("a -- b", "a-b"),
        ("--_leading and trailing_--", "leading-and-trailing"),
        ("Punctuation! is, removed?", "punctuation-is-removed"),
        ("under_score stays", "under_score-stays"),
        ("", ""),
    ],
)
def test_slugify_matches_django(value: str, expected: str) -> None:
    assert slugify(value) == expected


def test_slugify_strips_accents_to_ascii() -> None:
    assert slugify("Café Zürich") == "cafe-zurich"


def test_slugify_drops_non_ascii_letters_without_a_decomposition() -> None:
    assert slugify("你好 world") == "world"


def test_slugify_keeps_unicode_letters_when_allowed() -> None:
    assert slugify("你好 Wörld", allow_unicode=True) == "你好-wörld"


def test_slugify_normalises_compatibility_characters_when_unicode_allowed() -> None:
    assert slugify("ﬁle", allow_unicode=True) == "file"


def test_slugify_accepts_non_string_values() -> None:
    assert slugify(42) == "42"  # type: ignore[arg-type]
