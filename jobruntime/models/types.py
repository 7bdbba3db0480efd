"""Column types that keep Python values rich while the database stores portable text.

IP data is stored as its canonical string so SQLite and PostgreSQL behave the
same, and datetimes always come back timezone-aware in UTC whatever the backend
does with time zones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import netaddr
from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import as_utc


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime column that always round-trips as aware UTC.

    PostgreSQL stores ``timestamptz``; SQLite has no time zone support, so the
    value is written as naive UTC text and the zone is re-attached on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value if Capabilities.of(dialect).zoned_datetimes else value.replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return as_utc(value)


class IPNetworkType(TypeDecorator[netaddr.IPNetwork]):
    """An address-with-mask (``10.0.0.1/24``) stored as its canonical string.

    Strings and netaddr objects are both accepted when binding, so equality
    lookups work with either form and match regardless of IPv6 spelling.
    """

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return str(netaddr.IPNetwork(str(value)))

    def process_result_value(self, value: str | None, dialect: Dialect) -> netaddr.IPNetwork | None:
        if value is None:
            return None
        return netaddr.IPNetwork(value)

    @property
    def python_type(self) -> type:
        return netaddr.IPNetwork
