"""A lazy, chainable, Django-style QuerySet over SQLAlchemy.

Nothing touches the database until the QuerySet is iterated, counted or
indexed, and the session is looked up only then, so QuerySets can be built at
import time (e.g. as a job variable's choices) and evaluated inside a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import MANYTOONE

from jobruntime.core.capabilities import Capabilities
from jobruntime.models.errors import FieldError
from jobruntime.models.lookups import (
    PathJoiner,
    build_filter,
    build_filters,
    canonical_name,
    expand_ordering,
    order_clause,
)
from jobruntime.models.session import current_session, forget_loaded_relations

if TYPE_CHECKING:
    from jobruntime.models.base import Base

M = TypeVar("M", bound="Base")
_REPR_LIMIT = 20


class QuerySet(Generic[M]):
    """Rows of ``model`` matching the accumulated filters; see the module docstring."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._where: tuple[sa.ColumnElement[bool], ...] = ()
        self._described: dict[str, Any] = {}
        self._ordering: tuple[str, ...] | None = None
        self._reversed = False
        self._offset = 0
        self._limit: int | None = None
        self._options: tuple[Any, ...] = ()
        self._joined_collections = False
        self._values: tuple[str, ...] | None = None
        self._flat = False
        self._named = False
        self._cache: list[Any] | None = None

    def _clone(self, **changes: Any) -> QuerySet[M]:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._cache = None
        clone.__dict__.update(changes)
        return clone

    def _check_not_sliced(self, operation: str) -> None:
        if self._offset or self._limit is not None:
            raise TypeError(f"Cannot {operation} a {self.model.__name__} QuerySet once a slice has been taken.")

    # -- building ---------------------------------------------------------------------------

    def all(self) -> QuerySet[M]:
        """A fresh copy, so re-evaluating it sees current data."""
        return self._clone()

    def filter(self, *conditions: sa.ColumnElement[bool], **lookups: Any) -> QuerySet[M]:
        """Narrow by Django lookups; raw SQLAlchemy conditions are accepted positionally."""
        self._check_not_sliced("filter")
        clauses = tuple(build_filters(self.model, lookups))
        return self._clone(_where=self._where + conditions + clauses, _described={**self._described, **lookups})

    def exclude(self, *conditions: sa.ColumnElement[bool], **lookups: Any) -> QuerySet[M]:
        """Drop rows matching all the lookups; rows where a compared value is NULL are kept, as in Django."""
        self._check_not_sliced("exclude")
        clauses = conditions + tuple(build_filter(self.model, path, value) for path, value in lookups.items())
        if not clauses:
            return self._clone()
        excluded = ~sa.func.coalesce(sa.and_(*clauses), sa.false())
        described = {**self._described, **{f"exclude:{path}": value for path, value in lookups.items()}}
        return self._clone(_where=(*self._where, excluded), _described=described)

    def order_by(self, *fields: str) -> QuerySet[M]:
        """Replace the ordering; ``-field`` sorts descending, no fields means unordered."""
        self._check_not_sliced("reorder")
        expand_ordering(self.model, fields)
        return self._clone(_ordering=tuple(fields), _reversed=False)

    def reverse(self) -> QuerySet[M]:
        """The same rows in the opposite order."""
        self._check_not_sliced("reverse")
        return self._clone(_reversed=not self._reversed)

    def prefetch_related(self, *names: str) -> QuerySet[M]:
        """Load the named relations (``a__b`` for nested) with one extra query each."""
        return self._clone(_options=self._options + tuple(self._loader(name, selectinload) for name in names))

    def select_related(self, *names: str) -> QuerySet[M]:
        """Load the named relations in the same query with joins; no names means every foreign key."""
        if not names:
            mapper = sa.inspect(self.model)
            names = tuple(rel.key for rel in mapper.relationships if rel.direction is MANYTOONE)
        options = tuple(self._loader(name, joinedload) for name in names)
        collections = self._joined_collections or any(self._is_collection_path(name) for name in names)
        return self._clone(_options=self._options + options, _joined_collections=collections)

    def _walk_relations(self, path: str) -> list[Any]:
        model: Any = self.model
        relations = []
        for part in path.split("__"):
            rel = sa.inspect(model).relationships.get(canonical_name(model, part))
            if rel is None:
                known = ", ".join(sorted(r.key for r in sa.inspect(model).relationships))
                raise FieldError(f"{model.__name__} has no relation {part!r} (in {path!r}); relations are: {known}")
            relations.append(rel)
            model = rel.mapper.class_
        return relations

    def _loader(self, path: str, strategy: Any) -> Any:
        option = None
        for rel in self._walk_relations(path):
            attr = getattr(rel.parent.class_, rel.key)
            option = strategy(attr) if option is None else getattr(option, strategy.__name__)(attr)
        return option

    def _is_collection_path(self, path: str) -> bool:
        return any(rel.uselist for rel in self._walk_relations(path))

    def values_list(self, *fields: str, flat: bool = False, named: bool = False) -> QuerySet[M]:
        """Yield tuples of the named fields (``flat=True`` with one field yields bare values)."""
        if flat and len(fields) != 1:
            raise TypeError("values_list(flat=True) needs exactly one field")
        fields = fields or tuple(attr.key for attr in sa.inspect(self.model).column_attrs)
        joiner = PathJoiner(self.model)
        for field in fields:
            joiner.column(field)
        return self._clone(_values=fields, _flat=flat, _named=named)

    def values(self, *fields: str) -> QuerySet[M]:
        """Yield dicts of the named fields (all columns when none are named)."""
        return self.values_list(*fields, named=True)

    # -- SQL --------------------------------------------------------------------------------

    def _order_terms(self, joiner: PathJoiner) -> list[sa.ColumnElement[Any]]:
        fields = self.model._ordering if self._ordering is None else self._ordering
        if self._reversed and not fields:
            fields = ("pk",)
        terms = []
        for path, descending in expand_ordering(self.model, fields):
            column, nullable = joiner.resolve(path)
            terms.append(order_clause(column, descending != self._reversed, nullable))
        return terms

    def _statement(self, ordered: bool = True) -> sa.Select[Any]:
        joiner = PathJoiner(self.model)
        if self._values is not None:
            stmt = sa.select(*(joiner.column(field) for field in self._values))
        else:
            stmt = sa.select(self.model).options(*self._options)
        order = self._order_terms(joiner) if ordered else []
        stmt = joiner.apply(stmt).where(*self._where).order_by(*order)
        if self._offset:
            stmt = stmt.offset(self._offset)
        if self._limit is not None:
            stmt = stmt.limit(self._limit)
        return stmt

    def values_select(self) -> sa.Select[Any]:
        """One-column SELECT (pk, or the single ``values_list`` field) for ``__in`` subqueries."""
        if self._values is not None and len(self._values) != 1:
            raise TypeError("A QuerySet used in __in must select a single field: use values_list('field', flat=True)")
        source = self._clone(_values=self._values or ("id",), _options=())
        return source._statement(ordered=source._offset > 0 or source._limit is not None)

    def _fetch(self) -> list[Any]:
        if self._cache is None:
            session = current_session()
            stmt = self._statement()
            if self._values is None:
                scalars = session.scalars(stmt)
                self._cache = list(scalars.unique() if self._joined_collections else scalars)
            elif self._named:
                self._cache = [dict(zip(self._values, row, strict=True)) for row in session.execute(stmt)]
            elif self._flat:
                self._cache = list(session.scalars(stmt))
            else:
                self._cache = [tuple(row) for row in session.execute(stmt)]
        return self._cache

    # -- evaluation -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        return iter(self._fetch())

    def __len__(self) -> int:
        return len(self._fetch())

    def __bool__(self) -> bool:
        return bool(self._cache) if self._cache is not None else self.exists()

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> QuerySet[M] | list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            if index.step not in (None, 1):
                return list(self)[index]
            start, stop = index.start or 0, index.stop
            if start < 0 or (stop is not None and stop < 0):
                raise ValueError("Negative indexing is not supported on a QuerySet.")
            if self._cache is not None:
                return self._cache[start:stop]
            remaining = None if self._limit is None else max(self._limit - start, 0)
            limit = remaining if stop is None else max(stop - start, 0)
            if remaining is not None and limit is not None:
                limit = min(limit, remaining)
            return self._clone(_offset=self._offset + start, _limit=limit)
        if not isinstance(index, int):
            raise TypeError(f"QuerySet indices must be integers or slices, not {type(index).__name__}")
        if index < 0:
            raise ValueError("Negative indexing is not supported on a QuerySet.")
        if self._cache is not None:
            return self._cache[index]
        rows = list(self[index : index + 1])
        if not rows:
            raise IndexError(f"{self.model.__name__} QuerySet index {index} out of range")
        return rows[0]

    def __repr__(self) -> str:
        if self._cache is None:
            return f"<QuerySet {self.model.__name__} {self._described!r} (not evaluated)>"
        items = [repr(item) for item in self._cache[:_REPR_LIMIT]]
        if len(self._cache) > _REPR_LIMIT:
            items.append("...")
        return f"<QuerySet [{', '.join(items)}]>"

    def count(self) -> int:
        """Number of matching rows, counted in the database unless already fetched."""
        if self._cache is not None:
            return len(self._cache)
        stmt = self._clone(_values=("id",), _options=())._statement(ordered=False)
        return current_session().scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0

    def exists(self) -> bool:
        """Whether any row matches, without loading objects."""
        if self._cache is not None:
            return bool(self._cache)
        if self._limit == 0:
            return False
        stmt = self._clone(_values=("id",), _options=())._statement(ordered=self._offset > 0)
        return current_session().execute(stmt.limit(1)).first() is not None

    @property
    def ordered(self) -> bool:
        """Whether rows come in a defined order (explicit or the model's default)."""
        fields = self.model._ordering if self._ordering is None else self._ordering
        return bool(fields)

    def first(self) -> M | None:
        """The first row in the current ordering (by pk when unordered), or None."""
        source = self if self.ordered else self.order_by("pk")
        rows = list(source[:1])
        return rows[0] if rows else None

    def last(self) -> M | None:
        """The last row in the current ordering (by pk when unordered), or None."""
        self._check_not_sliced("take the last row of")
        source = self if self.ordered else self.order_by("pk")
        rows = list(source.reverse()[:1])
        return rows[0] if rows else None

    def get(self, *conditions: sa.ColumnElement[bool], **lookups: Any) -> M:
        """The single matching row; raises ``Model.DoesNotExist`` / ``Model.MultipleObjectsReturned``."""
        source = self.filter(*conditions, **lookups) if (conditions or lookups) else self
        sliced = source._offset > 0 or source._limit is not None
        ordering = source._ordering if sliced else ()
        rows = list(source._clone(_ordering=ordering, _limit=2 if source._limit is None else min(source._limit, 2)))
        if not rows:
            raise self.model.DoesNotExist(f"{self.model.__name__} matching query does not exist: {source._described!r}")
        if len(rows) > 1:
            raise self.model.MultipleObjectsReturned(
                f"get() returned more than one {self.model.__name__} matching {source._described!r}; "
                "add lookups that identify a single object"
            )
        return rows[0]

    def in_bulk(self, id_list: Any = None) -> dict[Any, M]:
        """``{pk: object}`` for the given pks (or every matching row)."""
        source = self if id_list is None else self.filter(pk__in=list(id_list))
        return {obj.id: obj for obj in source}

    # -- writing ----------------------------------------------------------------------------

    def create(self, **fields: Any) -> M:
        """Build, ``save()`` and return a new object.

        Like Django's, it does not run ``full_clean()``: what the database accepts is
        saved, and only ``validated_save()`` applies the model's rules.
        """
        obj = self.model(**fields)
        obj.save()
        return obj

    def get_or_create(self, defaults: dict[str, Any] | None = None, **lookups: Any) -> tuple[M, bool]:
        """Fetch the object matching ``lookups`` or create it from them plus ``defaults``.

        Where writers run concurrently (PostgreSQL) the insert runs in a savepoint,
        so a concurrent creator winning the race leaves the caller's transaction
        usable and the winner's row is returned. SQLite has a single writer, so no
        such race, and a savepoint there could commit early (see
        ``jobruntime.store.database``): it inserts directly.
        """
        try:
            return self.get(**lookups), False
        except self.model.DoesNotExist:
            pass
        fields = {key: value for key, value in lookups.items() if "__" not in key}
        fields.update(defaults or {})
        session = current_session()
        if not Capabilities.of(session.get_bind()).concurrent_writes:
            return self.create(**fields), True
        try:
            with session.begin_nested():
                return self.create(**fields), True
        except IntegrityError:
            return self.get(**lookups), False

    def update_or_create(self, defaults: dict[str, Any] | None = None, **lookups: Any) -> tuple[M, bool]:
        """Like ``get_or_create`` but also applies ``defaults`` to an existing object."""
        obj, created = self.get_or_create(defaults=defaults, **lookups)
        if not created and defaults:
            for key, value in defaults.items():
                setattr(obj, key, value)
            obj.save()
        return obj, created

    def update(self, **fields: Any) -> int:
        """Set ``fields`` on every matching object (no validation, as in Django) and flush."""
        self._check_not_sliced("update")
        mapper = sa.inspect(self.model)
        for key in fields:
            if key not in mapper.attrs or key.startswith("_"):
                raise FieldError(
                    f"{self.model.__name__} has no field {key!r} to update; update() sets fields of the model "
                    f"itself, not lookups through relations"
                )
        objects = list(self._clone(_values=None))
        for obj in objects:
            for key, value in fields.items():
                setattr(obj, key, value)
        current_session().flush()
        return len(objects)

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete every matching object with the same checks as ``Model.delete()``."""
        self._check_not_sliced("delete")
        objects = list(self._clone(_values=None))
        session = current_session()
        for obj in objects:
            obj.delete(flush=False)
        session.flush()
        forget_loaded_relations(session)
        return len(objects), ({self.model._meta_label: len(objects)} if objects else {})
