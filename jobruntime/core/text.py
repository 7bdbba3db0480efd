"""Small text helpers shared by job discovery and the models."""

from __future__ import annotations

import re
import unicodedata

_NOT_SLUG_CHARACTER = re.compile(r"[^\w\s-]")
_SEPARATOR_RUN = re.compile(r"[-\s]+")


def slugify(value: str, allow_unicode: bool = False) -> str:
    """Make ``value`` safe for a URL path segment or a slug column.

    It matches Django's ``slugify`` so that slugs computed here equal those a
    Nautobot installation computed for the same names (Job records are found
    again by slug). Without ``allow_unicode``, accented letters lose their
    accents and any other non-ASCII character is dropped.
    """
    text = str(value)
    if allow_unicode:
        text = unicodedata.normalize("NFKC", text)
    else:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _NOT_SLUG_CHARACTER.sub("", text.lower())
    return _SEPARATOR_RUN.sub("-", text).strip("-_")
