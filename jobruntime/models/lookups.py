"""Translate Django lookup strings (``device__site__name__icontains``) into SQL.

Filters traverse relations with correlated EXISTS (``has()`` / ``any()``), so a
filter never multiplies rows; ordering and ``values_list`` paths follow
many-to-one relations with outer joins instead, because they need the column
itself in the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

import netaddr
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapper, RelationshipProperty, aliased
from sqlalchemy.orm.interfaces import MANYTOONE
from sqlalchemy.sql.elements import ColumnElement

from jobruntime.models.errors import FieldError, ValidationError
from jobruntime.models.types import IPNetworkType

LOOKUPS = frozenset(
    {
        "exact",
        "iexact",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
        "in",
        "isnull",
        "gt",
        "gte",
        "lt",
        "lte",
    }
)
_PATTERN_LOOKUPS = {
    "contains": "contains",
    "icontains": "icontains",
    "startswith": "startswith",
    "istartswith": "istartswith",
    "endswith": "endswith",
    "iendswith": "iendswith",
}
_COMPARISONS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
_RELATION_LOOKUPS = frozenset({"exact", "in", "isnull"})
Column = sa.ColumnElement[Any] | InstrumentedAttribute[Any]


@runtime_checkable
class SelectsValues(Protocol):
    """Anything usable as the right-hand side of ``__in``: a QuerySet yields one column."""

    def values_select(self) -> sa.Select[Any]: ...


def field_names(model: type) -> list[str]:
    """Every name usable in a lookup on ``model``, for error messages."""
    mapper: Mapper[Any] = sa.inspect(model)
    names = {attr.key for attr in mapper.column_attrs} | {rel.key for rel in mapper.relationships}
    return sorted(names | {"pk"} | set(getattr(model, "_lookup_aliases", {})))


def canonical_name(model: type, name: str) -> str:
    """Map ``pk`` and model-declared aliases (e.g. ``family``) to the mapped attribute name."""
    if name == "pk":
        return "id"
    return getattr(model, "_lookup_aliases", {}).get(name, name)


def _unknown(model: type, name: str, path: str) -> FieldError:
    return FieldError(
        f"{model.__name__} has no field {name!r} (in {path!r}); choices are: {', '.join(field_names(model))}"
    )


def _relationship(model: type, name: str) -> RelationshipProperty[Any] | None:
    mapper: Mapper[Any] = sa.inspect(model)
    return mapper.relationships.get(name)


def related_models(model: type, path: str) -> list[type]:
    """The models a lookup path's relations lead into, in order: ``device__site__name`` on Interface gives
    ``[Device, Site]``. The path is not checked otherwise; filtering reports its mistakes."""
    reached = []
    for part in path.split("__"):
        rel = _relationship(model, canonical_name(model, part))
        if rel is None:
            break
        model = rel.mapper.class_
        reached.append(model)
    return reached


def _column_attr(model: type, name: str) -> InstrumentedAttribute[Any] | None:
    mapper: Mapper[Any] = sa.inspect(model)
    if name in mapper.column_attrs:
        return getattr(model, name)
    return None


def _is_field(model: type, name: str) -> bool:
    name = canonical_name(model, name)
    return _column_attr(model, name) is not None or _relationship(model, name) is not None


def coerce_value(column: Column, value: Any, path: str) -> Any:
    """Turn instances into their pk and strings into the column's Python type."""
    if isinstance(value, DeclarativeBase):
        return value.id  # type: ignore[attr-defined]
    if value is None:
        return None
    if isinstance(column.type, sa.Uuid) and not isinstance(value, uuid.UUID):
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise ValidationError(f"{path}: {value!r} is not a valid UUID") from None
    if isinstance(value, str) and _holds_datetimes(column):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{path}: {value!r} is not an ISO 8601 date and time") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
    if isinstance(column.type, IPNetworkType):
        try:
            return netaddr.IPNetwork(str(value))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise ValidationError(f"{path}: {value!r} is not a valid IP network or address") from None
    return value


def _holds_datetimes(column: Column) -> bool:
    column_type = getattr(column, "type", None)
    return isinstance(column_type, sa.DateTime) or isinstance(getattr(column_type, "impl", None), sa.DateTime)


def _coerce_many(column: Column, values: Any, path: str) -> Any:
    if isinstance(values, SelectsValues):
        return values.values_select()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValidationError(f"{path}: __in needs a list, tuple, set or QuerySet, not {type(values).__name__}")
    return [coerce_value(column, value, path) for value in values]


def _as_text(column: Column) -> ColumnElement[str]:
    """The column as text for pattern lookups; numbers and UUIDs are cast, as Django does."""
    column_type = getattr(column, "type", None)
    if isinstance(column_type, sa.String):
        return column
    if isinstance(column_type, sa.Uuid):
        return _UuidText(column)
    return sa.cast(column, sa.String())


class _UuidText(sa.sql.functions.FunctionElement[str]):
    """A UUID column as its dashed text (``0f1e…-…``), the form users paste into ``id__startswith``."""

    type = sa.String()
    inherit_cache = True


@compiles(_UuidText)
def _uuid_text(element: _UuidText, compiler: Any, **kw: Any) -> str:
    return compiler.process(sa.cast(*element.clauses, sa.String()), **kw)


@compiles(_UuidText, "sqlite")
def _uuid_text_sqlite(element: _UuidText, compiler: Any, **kw: Any) -> str:
    """SQLite keeps a UUID as 32 hex digits; put the dashes back where they go."""
    (column,) = element.clauses
    hex_digits = sa.func.lower(column)
    parts = [sa.func.substr(hex_digits, start, length) for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    dashed = parts[0]
    for part in parts[1:]:
        dashed = dashed.op("||")("-").op("||")(part)
    return compiler.process(dashed, **kw)


def _compare_column(column: Column, lookup: str, value: Any, path: str) -> ColumnElement[bool]:
    if lookup == "isnull":
        return column.is_(None) if value else column.is_not(None)
    if lookup == "in":
        return column.in_(_coerce_many(column, value, path))
    if lookup in _PATTERN_LOOKUPS:
        return getattr(_as_text(column), _PATTERN_LOOKUPS[lookup])(str(value), autoescape=True)
    if lookup == "iexact":
        if value is None:
            return column.is_(None)
        return sa.func.lower(_as_text(column)) == str(value).lower()
    coerced = coerce_value(column, value, path)
    if lookup == "exact":
        return column.is_(None) if coerced is None else column == coerced
    return getattr(column, _COMPARISONS[lookup])(coerced)


def _compare_relation(
    model: type, rel: RelationshipProperty[Any], lookup: str, value: Any, path: str
) -> ColumnElement[bool]:
    if lookup not in _RELATION_LOOKUPS:
        raise FieldError(f"{path}: relation {model.__name__}.{rel.key} supports only exact, in and isnull lookups")
    attr = getattr(model, rel.key)
    if rel.uselist:
        target_id = rel.mapper.class_.id
        if lookup == "isnull":
            return ~attr.any() if value else attr.any()
        if lookup == "exact" and value is None:  # no related row, as Django's outer join reads it
            return ~attr.any()
        return attr.any(_compare_column(target_id, lookup, value, path))
    (local_column,) = rel.local_columns
    fk_attr = getattr(model, sa.inspect(model).get_property_by_column(local_column).key)
    return _compare_column(fk_attr, lookup, value, path)


def build_filter(model: type, path: str, value: Any) -> ColumnElement[bool]:
    """The SQL condition for one ``path=value`` keyword of ``filter()``."""
    return _resolve(model, path.split("__"), value, path)


def build_filters(model: type, lookups: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The conditions of one ``filter()`` call.

    As in Django, lookups of one call that go through the same many-valued relation
    must all hold for one related row: ``filter(interfaces__name="eth0",
    interfaces__enabled=False)`` wants a disabled eth0, not any eth0 and any disabled
    interface.
    """
    through: dict[str, dict[str, Any]] = {}
    conditions = []
    for path, value in lookups.items():
        head, _, rest = path.partition("__")
        rel = _relationship(model, canonical_name(model, head))
        if rel is not None and rel.uselist and rest and (rest not in LOOKUPS or _is_field(rel.mapper.class_, rest)):
            through.setdefault(head, {})[rest] = value
        else:
            conditions.append(build_filter(model, path, value))
    for head, inner in through.items():
        if len(inner) == 1:
            ((rest, value),) = inner.items()
            conditions.append(build_filter(model, f"{head}__{rest}", value))
            continue
        rel = _relationship(model, canonical_name(model, head))
        related = sa.and_(*build_filters(rel.mapper.class_, inner))
        conditions.append(getattr(model, rel.key).any(related))
    return conditions


def _accepts_null(rest: list[str], value: Any) -> bool:
    """Whether the lookup ``rest`` (what follows a relation) holds for a NULL, as over Django's outer joins."""
    if rest[-1] == "isnull":
        return bool(value)
    return value is None and (rest[-1] in ("exact", "iexact") or rest[-1] not in LOOKUPS)


def _resolve(model: type, parts: list[str], value: Any, path: str) -> ColumnElement[bool]:
    virtual = getattr(model, "lookup_virtual_field", None)  # custom fields and tags (models.extensible)
    found_virtual = virtual(parts, value, path) if virtual is not None else None
    if found_virtual is not None:
        return found_virtual
    name = canonical_name(model, parts[0])
    rest = parts[1:]
    rel = _relationship(model, name)
    if rel is not None:
        target = rel.mapper.class_
        if not rest or (len(rest) == 1 and rest[0] in LOOKUPS and not _is_field(target, rest[0])):
            return _compare_relation(model, rel, rest[0] if rest else "exact", value, path)
        if (
            rel.direction is MANYTOONE
            and canonical_name(target, rest[0]) == "id"
            and (len(rest) == 1 or (len(rest) == 2 and rest[1] in _RELATION_LOOKUPS))
        ):
            return _compare_relation(model, rel, rest[1] if len(rest) == 2 else "exact", value, path)
        inner = _resolve(target, rest, value, path)
        attr = getattr(model, name)
        found = attr.any(inner) if rel.uselist else attr.has(inner)
        if _accepts_null(rest, value):  # a missing related row reads as NULLs, which match
            return sa.or_(found, ~attr.any() if rel.uselist else ~attr.has())
        return found
    column = _column_attr(model, name)
    if column is None:
        raise _unknown(model, parts[0], path)
    if len(rest) > 1 or (rest and rest[0] not in LOOKUPS):
        raise FieldError(
            f"{model.__name__}.{name} has no lookup {'__'.join(rest)!r} (in {path!r}); "
            f"lookups are: {', '.join(sorted(LOOKUPS))}"
        )
    return _compare_column(column, rest[0] if rest else "exact", value, path)


class PathJoiner:
    """Resolve ordering and ``values_list`` paths to columns, recording the outer joins they need."""

    def __init__(self, model: type) -> None:
        self.model = model
        self._aliases: dict[tuple[str, ...], Any] = {}
        self.joins: list[Any] = []

    def column(self, path: str) -> sa.ColumnElement[Any]:
        """The column named by ``path``; a path ending on a relation yields its foreign key."""
        return self.resolve(path)[0]

    def resolve(self, path: str) -> tuple[sa.ColumnElement[Any], bool]:
        """``(column, nullable)`` for ``path``, joining the relations it crosses."""
        entity: Any = self.model
        model = self.model
        prefix: tuple[str, ...] = ()
        parts = path.split("__")
        for position, part in enumerate(parts):
            name = canonical_name(model, part)
            last = position == len(parts) - 1
            column = _column_attr(model, name)
            if column is not None:
                if not last:
                    raise FieldError(f"{model.__name__}.{name} is not a relation, so {path!r} cannot continue past it")
                return getattr(entity, name), _nullable(model, name)
            rel = _relationship(model, name)
            if rel is None:
                raise _unknown(model, part, path)
            if rel.direction is not MANYTOONE:
                raise FieldError(
                    f"{path!r}: {model.__name__}.{name} is many-valued and cannot be ordered or selected by"
                )
            if last:
                (local_column,) = rel.local_columns
                return getattr(
                    entity, sa.inspect(model).get_property_by_column(local_column).key
                ), local_column.nullable
            prefix += (name,)
            if prefix not in self._aliases:
                alias = aliased(rel.mapper.class_)
                self.joins.append(getattr(entity, name).of_type(alias))
                self._aliases[prefix] = alias
            entity = self._aliases[prefix]
            model = rel.mapper.class_
        raise FieldError(f"empty field path for {self.model.__name__}")

    def apply(self, stmt: sa.Select[Any]) -> sa.Select[Any]:
        """Add the recorded outer joins to ``stmt``."""
        for onclause in self.joins:
            stmt = stmt.outerjoin(onclause)
        return stmt


def expand_ordering(model: type, fields: Iterable[str], depth: int = 0) -> list[tuple[str, bool]]:
    """``("device", "-name")`` → ``[("device__name", False), ("name", True)]`` (path, descending).

    A field naming a relation expands to the related model's default ordering,
    as Django does, bounded so self-referencing orderings terminate.
    """
    expanded: list[tuple[str, bool]] = []
    for field in fields:
        descending = field.startswith("-")
        path = field.lstrip("-")
        *head, last = path.split("__")
        owner = model
        for part in head:
            rel = _relationship(owner, canonical_name(owner, part))
            if rel is None:
                raise _unknown(owner, part, path)
            owner = rel.mapper.class_
        rel = _relationship(owner, canonical_name(owner, last))
        target_ordering = getattr(rel.mapper.class_, "_ordering", ()) if rel is not None else ()
        if rel is not None and not rel.uselist and target_ordering and depth < 3:
            for sub_path, sub_desc in expand_ordering(rel.mapper.class_, target_ordering, depth + 1):
                expanded.append((f"{path}__{sub_path}", sub_desc != descending))
        else:
            expanded.append((path, descending))
    return expanded


def _nullable(model: type, name: str) -> bool:
    mapper: Mapper[Any] = sa.inspect(model)
    return all(getattr(column, "nullable", True) for column in mapper.column_attrs[name].columns)


def order_clause(column: sa.ColumnElement[Any], descending: bool, nullable: bool) -> sa.ColumnElement[Any]:
    """ORDER BY term with NULLs sorting as the smallest value on every backend."""
    if descending:
        return column.desc().nulls_last() if nullable else column.desc()
    return column.asc().nulls_first() if nullable else column.asc()
