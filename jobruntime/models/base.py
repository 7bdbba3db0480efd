"""The declarative base every model shares: Django-style construction, validation and managers.

Job code written for Nautobot 1.x expects ``Model.objects``, ``validated_save()``,
``Model.DoesNotExist`` and friendly validation messages; this module provides
them on top of plain SQLAlchemy models so the same objects also work with any
SQLAlchemy query.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, Session, mapped_column, object_session
from sqlalchemy.orm.interfaces import MANYTOONE

from jobruntime.core.text import slugify
from jobruntime.models.errors import (
    MultipleObjectsReturned,
    ObjectDoesNotExist,
    ProtectedError,
    ValidationError,
)
from jobruntime.models.query import QuerySet
from jobruntime.models.session import current_session, forget_loaded_relations

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_MODELS_BY_LABEL: dict[str, type[Base]] = {}

B = TypeVar("B", bound="Base")
INVENTORY_MODULE = "jobruntime.models.inventory"  # declared on first use, see jobruntime.models
# What that module exports; named here so the package can list it without importing it.
INVENTORY_NAMES = (
    "COMPATIBLE_TERMINATIONS", "VLAN", "Cable", "CableTermination", "ConsolePort", "ConsoleServerPort", "Device",
    "DeviceRole", "DeviceType", "IPAddress", "Interface", "Manufacturer", "Platform", "PowerOutlet", "PowerPort",
    "Prefix", "Region", "Site", "Status", "Tenant", "TenantGroup", "CustomField", "CustomFieldChoice", "Tag",
    "TaggedItem",
)


def model_for_label(label: str) -> type[Base]:
    """The model class for a label such as ``"dcim.site"`` (declaring the inventory models if need be)."""
    if label.lower() not in _MODELS_BY_LABEL:
        import_module(INVENTORY_MODULE)
    try:
        return _MODELS_BY_LABEL[label.lower()]
    except KeyError:
        raise LookupError(
            f"No model is labelled {label!r}; known labels: {', '.join(sorted(_MODELS_BY_LABEL))}"
        ) from None


class Manager(Generic[B]):
    """``Model.objects``: hands out a new lazy QuerySet on each access from the class.

    A model whose manager has methods of its own (``Status.objects.get_for_model``)
    passes its QuerySet subclass.
    """

    def __init__(self, queryset_class: type[QuerySet[Any]] = QuerySet) -> None:
        self.queryset_class = queryset_class

    def __get__(self, instance: object, owner: type[B]) -> QuerySet[B]:
        if instance is not None:
            raise AttributeError(
                f"Manager isn't accessible via {owner.__name__} instances; use {owner.__name__}.objects"
            )
        return self.queryset_class(owner)


@dataclass(frozen=True)
class ValidationRead:
    """One value a validation step reads, asked in the uniqueness check's SELECT to save a round trip.

    ``column`` is a scalar SQL expression without parameters (a module constant, so the statement
    carrying it is built once); ``answered`` receives the session and its value.
    """

    column: sa.ColumnElement[Any]
    answered: Callable[[Session, Any], None]


def session_for(obj: Base) -> Session:
    """The session ``obj`` already belongs to, else the bound one."""
    return object_session(obj) or current_session()


class Base(DeclarativeBase):
    """Declarative base: UUID primary key, Django-style API, per-model exceptions."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)

    objects: ClassVar[Manager[Any]] = Manager()
    DoesNotExist: ClassVar[type[ObjectDoesNotExist]] = ObjectDoesNotExist
    MultipleObjectsReturned: ClassVar[type[MultipleObjectsReturned]] = MultipleObjectsReturned

    _meta_label: ClassVar[str] = ""
    _url_plural: ClassVar[str] = ""
    _ordering: ClassVar[tuple[str, ...]] = ()
    _slug_source: ClassVar[str | None] = None
    _lookup_aliases: ClassVar[dict[str, str]] = {}
    _settable_private: ClassVar[frozenset[str]] = frozenset()  # private fields the constructor still takes

    def __init_subclass__(cls, **kwargs: Any) -> None:
        qualname = cls.__qualname__
        cls.DoesNotExist = type(
            "DoesNotExist",
            (ObjectDoesNotExist,),
            {"__module__": cls.__module__, "__qualname__": f"{qualname}.DoesNotExist"},
        )
        cls.MultipleObjectsReturned = type(
            "MultipleObjectsReturned",
            (MultipleObjectsReturned,),
            {"__module__": cls.__module__, "__qualname__": f"{qualname}.MultipleObjectsReturned"},
        )
        if "_meta_label" in cls.__dict__:
            _MODELS_BY_LABEL[cls._meta_label] = cls
        super().__init_subclass__(**kwargs)

    def __init__(self, **fields: Any) -> None:
        """Accept Nautobot field names, relationship objects and properties such as ``termination_a``.

        Python-side column defaults are applied here rather than at flush time,
        so a new object reads like a saved one (``interface.enabled`` is True).
        """
        cls = type(self)
        if "pk" in fields:
            fields["id"] = fields.pop("pk")
        for key in fields:
            if not hasattr(cls, key) or (key.startswith("_") and key not in cls._settable_private):
                raise TypeError(f"{cls.__name__} has no field {key!r}")
        for key, make_default in _python_defaults(cls):
            if key not in fields:
                setattr(self, key, make_default())
        for key, value in fields.items():
            setattr(self, key, value)

    # -- identity and display ---------------------------------------------------------------

    @property
    def pk(self) -> uuid.UUID:
        """Alias of ``id``, as in Django."""
        return self.id

    def __str__(self) -> str:
        name = getattr(self, "name", None)
        return str(name) if name else f"{type(self).__name__} {self.id}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Base):
            return NotImplemented
        return type(self) is type(other) and _identity(self) == _identity(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, _identity(self)))

    def get_absolute_url(self) -> str:
        """Path of the object's detail page, e.g. ``/dcim/sites/<pk>/``."""
        app = self._meta_label.split(".", 1)[0]
        return f"/{app}/{self._url_plural}/{self.pk}/"

    # -- validation and persistence ---------------------------------------------------------

    def clean(self) -> None:
        """Model-specific rules; raise ``ValidationError``. The default has none."""

    def full_clean(self) -> None:
        """Run ``clean()`` plus the generic length, required and uniqueness checks."""
        session = session_for(self)
        with session.no_autoflush:
            self._fill_slug()
            self._check_related_saved()
            self.clean()
            self._check_columns()
            self._check_slug()
            self._check_unique(session, self._validation_reads(session))

    def _validation_reads(self, session: Session) -> tuple[ValidationRead, ...]:
        """Reads that later validation steps need, answered with the uniqueness check's query. The base needs none."""
        return ()

    def validated_save(self) -> None:
        """Validate, then add to the session and flush so database errors surface here."""
        self.full_clean()
        self.save()

    def save(self) -> None:
        """Add to the session and flush, without validation."""
        session = session_for(self)
        self._fill_slug()
        session.add(self)
        session.flush()

    def delete(self, flush: bool = True) -> None:
        """Delete the object, refusing while rows that protect it still reference it."""
        session = session_for(self)
        state = sa.inspect(self)
        if state.transient:
            raise ValueError(f"{type(self).__name__} {self} cannot be deleted: it was never saved")
        if state.pending:
            session.flush()
        self._check_protected(session)
        self._before_delete(session)
        session.delete(self)
        if flush:
            session.flush()
            forget_loaded_relations(session)

    def _before_delete(self, session: Session) -> None:
        """Hook for models that must tidy related rows before they go (cables, ports)."""

    def _fill_slug(self) -> None:
        if self._slug_source and not getattr(self, "slug", None):
            source = getattr(self, self._slug_source, None)
            if source:
                self.slug = slugify(str(source))

    def _field_value(self, column: sa.Column[Any]) -> Any:
        """A column's value, falling back to the related object's pk before the flush sets it."""
        info = _column_info(type(self))
        value = getattr(self, info.keys[column])
        if value is None and column in info.relation_of:
            related = getattr(self, info.relation_of[column])
            value = related.id if related is not None else None
        return value

    def _field_label(self, column: sa.Column[Any]) -> str:
        info = _column_info(type(self))
        return info.relation_of.get(column, info.keys[column])

    def _check_related_saved(self) -> None:
        """Refuse to point at an object that has no row yet, as Django does.

        Saving would otherwise insert that object too, without validating it.
        """
        for key in _column_info(type(self)).many_to_one:
            related = getattr(self, key)
            if related is not None and sa.inspect(related).key is None:
                raise ValidationError(
                    f"{type(self).__name__}: save the {type(related).__name__} in {key} first "
                    f"(call its validated_save()); it has no row yet"
                )

    def _check_slug(self) -> None:
        slug = getattr(self, "slug", None) if "slug" in sa.inspect(type(self)).column_attrs else None
        if slug and not _SLUG.fullmatch(slug):
            raise ValidationError(
                f"{type(self).__name__}: slug {slug!r} is not valid; "
                f"enter a slug consisting of letters, numbers, underscores or hyphens"
            )

    def _check_columns(self) -> None:
        cls = type(self)
        for rule in _column_info(cls).rules:
            value = self._field_value(rule.column)
            if rule.required and (value is None or value == ""):
                raise ValidationError(f"{cls.__name__}: {rule.label} is required")
            if rule.length and isinstance(value, str) and len(value) > rule.length:
                raise ValidationError(
                    f"{cls.__name__}: {rule.label} is longer than {rule.length} characters ({len(value)})"
                )

    def _check_unique(self, session: Session, reads: tuple[ValidationRead, ...] = ()) -> None:
        """Every unique constraint checked in one round trip; the first one taken (in declaration order) is reported.

        The statement is built once per model and set of applicable constraints, with the values as
        parameters, and runs as Core on the session's connection: an object's save pays for neither
        building the SQL nor the ORM's execution. ``reads`` ride along in the same SELECT and are
        answered before any violation is reported.
        """
        cls = type(self)
        checked: list[int] = []
        parameters: dict[str, Any] = {"self_id": self.id}
        for position, (columns, null) in enumerate(_unique_column_sets(cls)):
            values = [self._field_value(column) for column in columns]
            if any(value is None for value in values) or (null is not None and self._field_value(null) is not None):
                continue
            checked.append(position)
            parameters.update((_unique_parameter(position, index), value) for index, value in enumerate(values))
        if not checked and not reads:
            return
        statement = _validation_statement(cls, tuple(checked), tuple(read.column for read in reads))
        answers = session.connection().execute(statement, parameters).one()
        for read, answer in zip(reads, answers[len(checked):], strict=True):
            read.answered(session, answer)
        sets = _unique_column_sets(cls)
        for position, is_taken in zip(checked, answers[:len(checked)], strict=True):
            if is_taken:
                raise ValidationError(self._duplicate_message(sets[position][0]))

    def _duplicate_message(self, columns: tuple[sa.Column[Any], ...]) -> str:
        *scope, field = columns
        message = f'{type(self).__name__}: {self._field_label(field)} "{self._display(field)}" already exists'
        if scope:
            message += " for " + ", ".join(f'{self._field_label(c)} "{self._display(c)}"' for c in scope)
        return message

    def _display(self, column: sa.Column[Any]) -> str:
        info = _column_info(type(self))
        if column in info.relation_of:
            related = getattr(self, info.relation_of[column])
            if related is not None:
                return str(related)
        return str(self._field_value(column))

    def _check_protected(self, session: Session) -> None:
        for model, column in _protecting_columns(type(self)):
            stmt = sa.select(sa.literal(1)).select_from(column.table).where(column == self.id).limit(1)
            if session.execute(stmt).first() is not None:
                raise ProtectedError(
                    f'{type(self).__name__} "{self}" cannot be deleted while {model.__name__} objects reference it '
                    f"through {column.name}; reassign or delete those first"
                )


def table_of(model: type[Base]) -> sa.Table:
    """The model's table, typed as a Table (every model here maps exactly one)."""
    table = model.__table__
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


def _identity(obj: Base) -> Any:
    """The pk without triggering a refresh, so hashing works on expired or detached objects."""
    state = sa.inspect(obj)
    if state.identity is not None:
        return state.identity[0]
    return obj.__dict__.get("id")


class _ColumnRule(NamedTuple):
    """What ``full_clean()`` checks of one column: presence when ``required``, at most ``length`` characters."""

    column: sa.Column[Any]
    label: str
    required: bool
    length: int | None


class _ColumnInfo:
    """Per-model map of table columns to attribute keys and to the relations they implement, and the column rules.

    Worked out once per model: validating an object then only reads its values.
    """

    def __init__(self, model: type[Base]) -> None:
        mapper: Mapper[Any] = sa.inspect(model)
        self.keys = {column: mapper.get_property_by_column(column).key for column in table_of(model).columns}
        self.relation_of: dict[sa.Column[Any], str] = {}
        self.many_to_one = tuple(rel.key for rel in mapper.relationships if rel.direction is MANYTOONE)
        for rel in mapper.relationships:
            if rel.direction is MANYTOONE:
                for column in rel.local_columns:
                    if isinstance(column, sa.Column):
                        self.relation_of.setdefault(column, rel.key)
        self.rules = tuple(rule for rule in map(self._rule, table_of(model).columns)
                           if rule is not None and (rule.required or rule.length))

    def _rule(self, column: sa.Column[Any]) -> _ColumnRule | None:
        if column.primary_key:
            return None
        required = bool(column.info.get("required")) or (
            not column.nullable and column.default is None and column.server_default is None
        )
        length = getattr(column.type, "length", None) if isinstance(column.type, sa.String) else None
        return _ColumnRule(column, self.relation_of.get(column, self.keys[column]), required, length)


@cache
def _column_info(model: type[Base]) -> _ColumnInfo:
    return _ColumnInfo(model)


@cache
def _python_defaults(model: type[Base]) -> tuple[tuple[str, Any], ...]:
    """``(attribute key, zero-argument factory)`` for every column with a Python-side default.

    A text column with only a constant server default (a column added by a later
    migration, so that rows written by older code still get a value) is given the
    same value here.
    """
    info = _column_info(model)
    defaults = []
    for column, key in info.keys.items():
        default = column.default
        server = column.server_default
        if isinstance(default, sa.ColumnDefault) and default.is_scalar:
            defaults.append((key, _constant(default.arg)))
        elif isinstance(default, sa.ColumnDefault) and default.is_callable:
            defaults.append((key, _call_without_context(default.arg)))
        elif default is None and isinstance(server, sa.DefaultClause) and isinstance(server.arg, str) \
                and isinstance(column.type, sa.String):
            defaults.append((key, _constant(server.arg)))
    return tuple(defaults)


def _constant(value: Any) -> Any:
    return lambda: value


def _call_without_context(factory: Any) -> Any:
    return lambda: factory(None)


def unique_where_null(*columns: str, null: str) -> sa.Index:
    """Columns unique among the rows where ``null`` is NULL.

    With a unique (site, tenant, name), two devices without a tenant would never
    clash, SQL NULLs being distinct; Nautobot counts "no tenant" as one tenant,
    and this partial index (with ``validated_save``'s matching check) does too.
    """
    condition = sa.text(f"{null} IS NULL")
    return sa.Index(None, *columns, unique=True, postgresql_where=condition, sqlite_where=condition,
                    info={"where_null": null})


_UniqueSet = tuple[tuple[sa.Column[Any], ...], sa.Column[Any] | None]


@cache
def _unique_column_sets(model: type[Base]) -> tuple[_UniqueSet, ...]:
    """Each unique set of columns, with the column that must be NULL for it to apply (partial indexes)."""
    table = table_of(model)
    sets: list[_UniqueSet] = [
        ((column,), None) for column in table.columns if column.unique and not column.primary_key
    ]
    sets += [(tuple(c.columns), None) for c in table.constraints if isinstance(c, sa.UniqueConstraint)]
    sets += [
        (tuple(i.columns), table.c[i.info["where_null"]] if "where_null" in i.info else None)
        for i in table.indexes if i.unique
    ]
    return tuple(dict.fromkeys(sets))  # a unique column is also listed as a constraint: check it once


def _unique_parameter(position: int, index: int) -> str:
    return f"unique_{position}_{index}"


@cache
def _validation_statement(
    model: type[Base], checked: tuple[int, ...], reads: tuple[sa.ColumnElement[Any], ...]
) -> sa.Select[Any]:
    """``SELECT EXISTS(...), ..., <reads>``: whether each checked unique set is taken by another row, then the reads.

    ``checked`` are positions in ``_unique_column_sets(model)``; the values are bound by ``_unique_parameter``
    names and the object's own pk as ``self_id``. Cached: there are few combinations per model.
    """
    table = table_of(model)
    sets = _unique_column_sets(model)
    taken = []
    for position in checked:
        columns, null = sets[position]
        conditions = [
            column == sa.bindparam(_unique_parameter(position, index), type_=column.type)
            for index, column in enumerate(columns)
        ]
        if null is not None:
            conditions.append(null.is_(None))
        conditions.append(table.c.id.is_distinct_from(sa.bindparam("self_id", type_=table.c.id.type)))
        taken.append(sa.select(table.c.id).where(*conditions).exists())
    return sa.select(*taken, *reads)


@cache
def _protecting_columns(model: type[Base]) -> tuple[tuple[type[Base], sa.Column[Any]], ...]:
    """Foreign keys into ``model`` whose rows block deletion (no CASCADE / SET NULL)."""
    found: list[tuple[type[Base], sa.Column[Any]]] = []
    for mapper in Base.registry.mappers:
        for column in table_of(mapper.class_).columns:
            for fk in column.foreign_keys:
                if fk.column.table is table_of(model) and (fk.ondelete or "").upper() not in ("CASCADE", "SET NULL"):
                    found.append((mapper.class_, column))
    return tuple(found)


@sa.event.listens_for(Base, "mapper_configured", propagate=True)
def _save_only_through_save(mapper: Mapper[Any], cls: type[Base]) -> None:
    """A new object is inserted by its own ``save()``, never because a saved parent lists it.

    With SQLAlchemy's default ``save-update`` cascade, ``Interface(device=d)`` would be
    inserted, unvalidated, whenever the session flushed, even after its
    ``validated_save()`` had refused it. Django has no such cascade.
    """
    for relation in mapper.relationships:
        if relation.uselist and "save-update" in relation.cascade:
            relation.cascade = ", ".join(sorted(relation.cascade - {"save-update"}))


# What that cascade would have inserted, SQLAlchemy reports as skipped; here that is the intent.
warnings.filterwarnings("ignore", r"Object of type <\w+> not in session, add operation along", sa.exc.SAWarning)
