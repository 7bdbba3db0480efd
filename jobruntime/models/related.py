"""Reverse relations as Django's related managers: ``device.interfaces.all()``.

A one-to-many relationship holds a :class:`RelatedObjects`: still the list the ORM
keeps (iterate it, ``len()`` it, append to it), plus the manager calls Nautobot job
code makes on ``device.interfaces`` or ``site.devices``, each answered by a
QuerySet of the related model filtered to this owner.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm.collections import collection_adapter

from jobruntime.models.query import QuerySet

T = TypeVar("T")
_NO_VALUE = object()


class RelatedObjects(list[T]):
    """The related objects of one owner; manager methods query them, list methods use what is loaded."""

    def all(self) -> QuerySet[Any]:
        """The related objects as a QuerySet (the bound session flushes pending changes first)."""
        adapter = collection_adapter(self)
        owner = adapter.owner_state.obj()
        relation = sa.inspect(type(owner)).relationships[adapter.attr.key]
        owner_keys = {remote.key: getattr(owner, local.key) for local, remote in relation.local_remote_pairs}
        return relation.mapper.class_.objects.filter(**owner_keys)

    def filter(self, *conditions: Any, **lookups: Any) -> QuerySet[Any]:
        return self.all().filter(*conditions, **lookups)

    def exclude(self, *conditions: Any, **lookups: Any) -> QuerySet[Any]:
        return self.all().exclude(*conditions, **lookups)

    def get(self, *conditions: Any, **lookups: Any) -> Any:
        return self.all().get(*conditions, **lookups)

    def order_by(self, *fields: str) -> QuerySet[Any]:
        return self.all().order_by(*fields)

    def first(self) -> Any:
        return self.all().first()

    def last(self) -> Any:
        return self.all().last()

    def exists(self) -> bool:
        return self.all().exists()

    def values_list(self, *fields: str, flat: bool = False, named: bool = False) -> QuerySet[Any]:
        return self.all().values_list(*fields, flat=flat, named=named)

    def count(self, value: Any = _NO_VALUE) -> int:
        """How many related objects there are; ``count(x)`` keeps its list meaning."""
        return self.all().count() if value is _NO_VALUE else super().count(value)
