"""The one clock jobruntime reads: aware UTC, the only kind of time it stores or compares."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime; naive local times never enter the database or a message."""
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Convert ``value`` to aware UTC; naive values are taken to already be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
