"""Inventory as a document: export objects to YAML/JSON, apply such a document back, change-logged.

A document maps model labels (``dcim.device``) to lists of objects. An object's
fields are its columns; a foreign key is written as the related object's natural
key (``site: {name: HQ}``; nested for keys that are themselves references:
``device_type: {manufacturer: {name: Acme}, model: Switch}``). An object is
matched on apply by its model's natural key (a unique set of columns not
all optional); models without one (prefixes, IP addresses) carry and match by ``id``.
Applying an unedited export therefore changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobruntime.changes.snapshot import Field, change_logged_labels, change_logged_model, fields, json_value
from jobruntime.core.errors import RefusalError
from jobruntime.models import Base, ObjectDoesNotExist, model_for_label
from jobruntime.models.base import _unique_column_sets
from jobruntime.models.errors import MultipleObjectsReturned, ValidationError
from jobruntime.models.types import UTCDateTime

BOOKKEEPING = frozenset({"created", "last_updated"})  # set by the database, never by a document


class InventoryError(RefusalError, ValueError):
    """A document that cannot be applied; the message names the object (``dcim.device[2]``) and the problem."""


@dataclass
class ApplyReport:
    """What applying a document did, object by object: ``(action, label, repr, changed fields)``."""

    lines: list[tuple[str, str, str, list[str]]] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for line in self.lines if line[0] == action)


@cache
def natural_key(model: type[Base]) -> tuple[Field, ...]:
    """The fields an object is matched by: a unique set of columns not all optional; ``()`` if none.

    Of several, the shortest (then the first by column names) is taken, so every process picks the same.
    """
    by_column = {item.column: item for item in fields(model)}
    candidates = sorted(_unique_column_sets(model), key=lambda entry: (len(entry[0]), [c.name for c in entry[0]]))
    for columns, where_null in candidates:
        if where_null is None and not all(column.nullable for column in columns) and all(
                column in by_column for column in columns):
            return tuple(by_column[column] for column in columns)
    return ()


def _document_fields(model: type[Base]) -> tuple[Field, ...]:
    """The fields a document holds: all but bookkeeping, and ``id`` only where there is no natural key."""
    keep_id = not natural_key(model)
    return tuple(item for item in fields(model)
                 if item.key not in BOOKKEEPING and (item.key != "id" or keep_id))


def _ordered_labels(labels: list[str]) -> list[str]:
    """Labels with referenced models first (the tables' dependency order)."""
    order = {table.name: index for index, table in enumerate(Base.metadata.sorted_tables)}
    return sorted(labels, key=lambda label: order[model_for_label(label).__tablename__])


# -- export ---------------------------------------------------------------------------------

def reference(obj: Base) -> dict[str, Any]:
    """How a document refers to ``obj``: its natural key, references nested, or ``{id: ...}``."""
    key = natural_key(type(obj))
    if not key:
        return {"id": str(obj.id)}
    return {item.key: _document_value(obj, item) for item in key}


def _document_value(obj: Base, item: Field) -> Any:
    """A field's value in a document: a reference for a relation, JSON otherwise."""
    if item.relation is None:
        return json_value(getattr(obj, item.attribute))
    related = getattr(obj, item.relation)
    return reference(related) if related is not None else None


def export(session: Session, labels: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The document of every change-logged model (or of ``labels``), each model's objects in its ordering."""
    chosen = labels or change_logged_labels()
    for label in chosen:
        _model(label)
    document: dict[str, list[dict[str, Any]]] = {}
    for label in _ordered_labels(chosen):
        rows = [_exported(obj) for obj in model_for_label(label).objects.all()]
        if rows:
            document[label] = rows
    return document


def _exported(obj: Base) -> dict[str, Any]:
    return {item.key: _document_value(obj, item) for item in _document_fields(type(obj))}


# -- apply ----------------------------------------------------------------------------------

def apply(session: Session, document: Any) -> ApplyReport:
    """Create or update the document's objects in ``session`` (the caller commits or rolls back).

    Raises InventoryError at the first object that cannot be applied.
    """
    if not isinstance(document, dict):
        raise InventoryError("The document must map model labels (dcim.device) to lists of objects")
    report = ApplyReport()
    by_label = {_model(str(label))._meta_label: objects for label, objects in document.items()}
    for label in _ordered_labels(list(by_label)):
        objects = by_label[label]
        if not isinstance(objects, list):
            raise InventoryError(f"{label}: expected a list of objects")
        model = model_for_label(label)
        for index, item in enumerate(objects):
            where = f"{label}[{index}]"
            if not isinstance(item, dict):
                raise InventoryError(f"{where}: expected a mapping of fields")
            try:
                report.lines.append(_apply_one(session, model, item))
            except (ValidationError, InventoryError, ObjectDoesNotExist, MultipleObjectsReturned) as exc:
                raise InventoryError(f"{where}: {exc}") from None
    return report


def _model(label: str) -> type[Base]:
    model = change_logged_model(label)
    if model is None:
        raise InventoryError(f'"{label}" is not an inventory model; use one of {", ".join(change_logged_labels())}')
    return model


def _apply_one(session: Session, model: type[Base], item: dict[str, Any]) -> tuple[str, str, str, list[str]]:
    values = _resolved(model, item)
    existing = _find(session, model, values)
    label = model._meta_label
    if existing is None:
        obj = model(**values)
        obj.validated_save()
        return "created", label, str(obj), []
    changed = [key for key, value in values.items() if _differs(getattr(existing, key), value)]
    if not changed:
        return "unchanged", label, str(existing), []
    for key in changed:
        setattr(existing, key, values[key])
    existing.validated_save()
    return "updated", label, str(existing), changed


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, Base) or isinstance(new, Base):
        return getattr(current, "id", None) != getattr(new, "id", None)
    return json_value(current) != json_value(new)


def _resolved(model: type[Base], item: dict[str, Any]) -> dict[str, Any]:
    """The item's values by attribute (relations as objects), checked against the model's fields."""
    by_key = {entry.key: entry for entry in fields(model) if entry.key not in BOOKKEEPING}
    values: dict[str, Any] = {}
    for key, raw in item.items():
        entry = by_key.get(key)
        if entry is None:
            raise InventoryError(f"{model.__name__} has no field {key!r}; fields: {', '.join(sorted(by_key))}")
        if entry.relation is not None:
            values[entry.relation] = _referenced(entry, raw)
        else:
            values[entry.attribute] = _coerced(entry, raw)
    return values


def _referenced(entry: Field, raw: Any) -> Base | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InventoryError(f"{entry.key} must be a reference such as {{name: ...}}, not {raw!r}")
    target = next(iter(entry.column.foreign_keys)).column.table
    model = next(mapper.class_ for mapper in Base.registry.mappers if mapper.local_table is target)
    lookups = _lookups(raw)
    try:
        return model.objects.get(**lookups)
    except model.DoesNotExist:
        raise InventoryError(f"{entry.key}: no {model._meta_label} matches {raw}") from None


def _lookups(reference: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{manufacturer: {name: Acme}, model: X}`` as ORM lookups: ``manufacturer__name``, ``model``."""
    found: dict[str, Any] = {}
    for key, value in reference.items():
        if isinstance(value, dict):
            found.update(_lookups(value, f"{prefix}{key}__"))
        elif value is None:
            found[f"{prefix}{key}__isnull"] = True
        else:
            found[f"{prefix}{key}"] = value
    return found


def _coerced(entry: Field, raw: Any) -> Any:
    """A document value as the column takes it (ids and times are text in a document)."""
    if raw is None:
        return None
    try:
        if isinstance(entry.column.type, sa.Uuid):
            return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
        if isinstance(entry.column.type, UTCDateTime) and isinstance(raw, str):
            return dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InventoryError(f"{entry.key}: {raw!r} is not valid ({exc})") from None
    return raw


def _find(session: Session, model: type[Base], values: dict[str, Any]) -> Base | None:
    """The existing object the values name: by natural key, else by ``id`` when given."""
    key = natural_key(model)
    if not key:
        object_id = values.get("id")
        return session.get(model, object_id) if object_id is not None else None
    conditions = []
    for item in key:
        if item.relation is not None:
            related = values.get(item.relation)
            conditions.append(item.column == (related.id if related is not None else None))
        else:
            conditions.append(item.column == values.get(item.attribute))
    return session.scalars(sa.select(model).where(*conditions)).first()
