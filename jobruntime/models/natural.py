"""Natural ordering of names: ``switch2`` before ``switch10``, ``Gi1/0/2`` before ``Gi1/0/10``.

Nautobot 1.x keeps beside each site, device and device component name a hidden
``_name`` column holding a sort key, and orders by it; jobs written for it
print reports and CSV files in that order. The keys here are built the same way,
so rows come back in the same order.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

KEY_LENGTH = 100
_NUMBERS = re.compile(r"\d+")
_INTERFACE = re.compile(
    r"(?P<type>[^\d.:]+)?"
    r"(?:(?P<slot>\d+)/)?(?:(?P<subslot>\d+)/)?(?:(?P<position>\d+)/)?(?:(?P<subposition>\d+)/)?"
    r"(?P<id>\d+)?(?::(?P<channel>\d+))?(?:\.(?P<vc>\d+))?"
    r"(?P<remainder>.*)",
    re.DOTALL,
)


def naturalize(value: str | None, length: int = KEY_LENGTH) -> str | None:
    """The sort key of a name: every number widened to eight digits (``site00000009router00000021``)."""
    if not value:
        return value
    return _NUMBERS.sub(lambda number: number.group().rjust(8, "0"), value)[:length]


def naturalize_interface(value: str | None, length: int = KEY_LENGTH) -> str | None:
    """The sort key of an interface name: by slot, subslot, position and subposition, then type, then port.

    ``GigabitEthernet1/0/2`` and ``TenGigabitEthernet1/0/1`` sort by their numbers
    first, so a line card's ports stay together whatever their speed. A missing
    slot field sorts last (``9999``); a missing port, channel or unit sorts first.
    """
    if not value:
        return value
    parts = _INTERFACE.fullmatch(value)  # every part is optional: any name matches
    assert parts is not None
    key = "".join((parts[field] or "9999").rjust(4, "0") for field in ("slot", "subslot", "position", "subposition"))
    key += parts["type"] or ""
    key += "".join(parts[field].rjust(6, "0") if parts[field] else "......" for field in ("id", "channel", "vc"))
    return (key + (naturalize(parts["remainder"], length) or ""))[:length]


class NaturallyOrdered:
    """Mixin for models ordered by name the natural way: a ``_name`` key kept up to date on every write."""

    natural_key: ClassVar[Any] = staticmethod(naturalize)

    _name: Mapped[str | None] = mapped_column("_name", sa.String(KEY_LENGTH), index=True)


def _keep_natural_name(_mapper: Any, _connection: Any, target: Any) -> None:
    """Recompute the key just before the row is inserted or updated, whatever changed its name."""
    target._name = type(target).natural_key(target.name)


sa.event.listen(NaturallyOrdered, "before_insert", _keep_natural_name, propagate=True)
sa.event.listen(NaturallyOrdered, "before_update", _keep_natural_name, propagate=True)
