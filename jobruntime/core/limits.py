"""Bounds on text that comes from users and jobs: how long a stored, announced or quoted string may be.

A run request, a log line or a lookup is whatever its author sent; copied as it is
into a database row, an event or an error message it can be megabytes. Every cut
ends with a marker that says so and how long the text was, so nobody mistakes a
cut text for the whole one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["QUOTE_LIMIT", "REASON_LIMIT", "oversized_request", "quote", "quote_items", "quote_json", "truncate"]

QUOTE_LIMIT = 200  # characters of user input an error message repeats
REASON_LIMIT = 2000  # characters of a stored or announced reason
_MARKER = "… [truncated, {total} characters in all]"


def truncate(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and a "truncated" marker, ``limit`` in all."""
    if len(text) <= limit:
        return text
    marker = _MARKER.format(total=len(text))
    if len(marker) >= limit:
        return text[:limit]
    return text[: limit - len(marker)] + marker


def quote(text: str) -> str:
    """User input as an error message repeats it: at most ``QUOTE_LIMIT`` characters."""
    return truncate(text, QUOTE_LIMIT)


def quote_json(value: Any) -> str:
    """A value a user sent (lookups, filters), shown as JSON and shortened like ``quote``."""
    return quote(json.dumps(value, default=str))


def quote_items(items: Sequence[Any], shown: int = 10) -> str:
    """The first ``shown`` items, comma-separated, then how many more there are: a list a user sent."""
    listed = ", ".join(quote(str(item)) for item in items[:shown])
    return listed if len(items) <= shown else f"{listed} and {len(items) - shown} more"


def oversized_request(size: int, limit: int) -> str:
    """Why a run request of ``size`` bytes is refused, the same from a publisher and from a worker."""
    return (
        f"The request is {size} bytes, more than the {limit} workers take "
        "(JOBRUNTIME_MAX_REQUEST_BYTES); send large inputs as uploaded files"
    )
