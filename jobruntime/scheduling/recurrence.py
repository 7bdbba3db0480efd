"""When a schedule runs: its intervals, crontab rules and occurrences in its time zone.

Daily, weekly and custom schedules follow the wall clock of their zone, so a run
at 02:30 stays at 02:30 across daylight-saving changes. On the day a wall-clock
time does not exist it runs at the first valid time after it; on the day it
happens twice it runs once (the first time). Hourly schedules run every 3,600
seconds from their start, whatever the clock does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from jobruntime.core.errors import RefusalError

IMMEDIATELY = "immediately"
FUTURE = "future"
HOURLY = "hourly"
DAILY = "daily"
WEEKLY = "weekly"
CUSTOM = "custom"
INTERVALS = (IMMEDIATELY, FUTURE, HOURLY, DAILY, WEEKLY, CUSTOM)
RECURRING = (HOURLY, DAILY, WEEKLY, CUSTOM)
ONE_HOUR = dt.timedelta(hours=1)
_CRON_FIELD = re.compile(r"^[0-9*,/-]+$")
_GAP_SEARCH_LIMIT = 24 * 60  # minutes searched forward for a wall-clock time that exists


class InvalidSchedule(RefusalError, ValueError):
    """A schedule that cannot be made as given; the message says which part is wrong."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raises InvalidSchedule for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"Unknown time zone {name!r}; use an IANA name such as Europe/Paris or UTC") from None


def check_crontab(crontab: str | None) -> str:
    """A custom schedule's crontab: five fields (minute hour day-of-month month day-of-week), single spaces.

    Only ``*``, ``,``, ``-`` and ``/`` are allowed, as in Nautobot, so a crontab moves
    between the two unchanged. Raises InvalidSchedule naming the problem.
    """
    fields = (crontab or "").split(" ")
    if len(fields) != 5 or not all(fields):
        raise InvalidSchedule(
            f"Invalid crontab {crontab!r}: give five fields separated by single spaces "
            f"(minute hour day-of-month month day-of-week), e.g. \"*/15 9,17 3 * 1-5\""
        )
    if not all(_CRON_FIELD.match(field) for field in fields) or not croniter.is_valid(crontab):
        raise InvalidSchedule(
            f"Invalid crontab {crontab!r}: each field takes numbers with *, ',', '-' and '/' only, within its range"
        )
    return crontab


def schedule_crontab(interval: str, start: dt.datetime, tz: ZoneInfo, crontab: str | None = None) -> str | None:
    """The crontab a daily, weekly or custom schedule follows (None for the others).

    Weekly runs on the start's weekday in the schedule's zone (cron counts Sunday as 0).
    """
    local = start.astimezone(tz)
    if interval == DAILY:
        return f"{local.minute} {local.hour} * * *"
    if interval == WEEKLY:
        return f"{local.minute} {local.hour} * * {local.isoweekday() % 7}"
    if interval == CUSTOM:
        return check_crontab(crontab)
    return None


def occurrences(
    interval: str, start: dt.datetime, tz: ZoneInfo, after: dt.datetime, crontab: str | None = None
) -> Iterator[dt.datetime]:
    """The schedule's run times (aware, UTC) strictly after ``after``, in order; none at all for one-offs.

    ``start`` is the schedule's first possible run: a recurring schedule never runs before it.
    """
    floor = max(after, start - dt.timedelta(microseconds=1))
    if interval == HOURLY:
        steps = max(0, -(-(floor - start) // ONE_HOUR))  # whole hours from start to the first run after floor
        candidate = start + steps * ONE_HOUR
        while True:
            if candidate > floor:
                yield candidate.astimezone(dt.timezone.utc)
            candidate += ONE_HOUR
    expression = schedule_crontab(interval, start, tz, crontab)
    if expression is None:
        return
    wall = croniter(expression, floor.astimezone(tz).replace(tzinfo=None), day_or=False)
    previous = floor
    while True:
        moment = _instant(wall.get_next(dt.datetime), tz)
        if moment > previous:
            previous = moment
            yield moment


def first_run(interval: str, start: dt.datetime, tz: ZoneInfo, crontab: str | None = None) -> dt.datetime:
    """When a new schedule first runs: its start for one-offs and hourly, else its first matching time from start."""
    if interval in (IMMEDIATELY, FUTURE, HOURLY):
        return start.astimezone(dt.timezone.utc)
    return next(occurrences(interval, start, tz, start - dt.timedelta(microseconds=1), crontab))


def _instant(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of wall-clock time ``wall`` in ``tz``: its first one when it happens twice,
    the first valid minute after it when it does not exist."""
    for minutes in range(_GAP_SEARCH_LIMIT):
        candidate = wall + dt.timedelta(minutes=minutes)
        aware = candidate.replace(tzinfo=tz, fold=0)
        instant = aware.astimezone(dt.timezone.utc)
        if instant.astimezone(tz).replace(tzinfo=None) == candidate:
            return instant
    raise InvalidSchedule(f"{wall} has no valid time within a day in {tz.key}")
