"""An object's change-log snapshot (every field, as JSON) and the difference between two snapshots.

Foreign keys are keyed by the relation's name (``site``, not ``site_id``) and hold
the related object's id, as Nautobot's serialized ``object_data`` does. Columns
whose names start with ``_`` are the models' own bookkeeping and are left out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa

from jobruntime.models import declare_all, model_for_label
from jobruntime.models.base import Base, table_of

# The models whose writes are change-logged: the inventory, not the job bookkeeping or the users.
CHANGE_LOGGED_MODULES = frozenset({
    "jobruntime.models.dcim", "jobruntime.models.ipam", "jobruntime.models.organization",
})
# Where a change's related object comes from: a component's device, an IP address's interface.
RELATED_OBJECT = {
    "dcim.interface": ("dcim.device", "device_id"),
    "dcim.consoleport": ("dcim.device", "device_id"),
    "dcim.consoleserverport": ("dcim.device", "device_id"),
    "dcim.powerport": ("dcim.device", "device_id"),
    "dcim.poweroutlet": ("dcim.device", "device_id"),
    "ipam.ipaddress": ("dcim.interface", "interface_id"),
}
IGNORED_IN_DIFFERENCE = frozenset({"last_updated"})


def is_change_logged(model: type[Any]) -> bool:
    """Whether writes of ``model`` are recorded (and may be listened to by a job hook)."""
    return isinstance(model, type) and issubclass(model, Base) and model.__module__ in CHANGE_LOGGED_MODULES


def change_logged_model(label: str) -> type[Base] | None:
    """The change-logged model a label names (``dcim.device``); None for any other label."""
    try:
        model = model_for_label(label)
    except LookupError:
        return None
    return model if is_change_logged(model) else None


def change_logged_labels() -> list[str]:
    """The labels of every change-logged model, sorted."""
    return sorted(mapper.class_._meta_label for mapper in declare_all().registry.mappers
                  if is_change_logged(mapper.class_))


def json_value(value: Any) -> Any:
    """A column value as JSON holds it: ids, times, addresses and decimals become text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return str(value)


@dataclass(frozen=True)
class Field:
    """One column of a snapshot: its key there (a relation's name for a foreign key), attribute, column, relation."""

    key: str
    attribute: str
    column: sa.Column[Any]
    relation: str | None


@cache
def fields(model: type[Base]) -> tuple[Field, ...]:
    """Every column a snapshot holds, in table order (``_``-prefixed bookkeeping columns left out)."""
    mapper = sa.inspect(model)
    relation_of: dict[sa.Column[Any], str] = {}
    for relation in mapper.relationships:
        if relation.direction is sa.orm.interfaces.MANYTOONE and len(relation.local_columns) == 1:
            relation_of.setdefault(next(iter(relation.local_columns)), relation.key)
    found = []
    for column in table_of(model).columns:
        attribute = mapper.get_property_by_column(column).key
        if attribute.startswith("_"):
            continue
        relation = relation_of.get(column)
        found.append(Field(relation or attribute, attribute, column, relation))
    return tuple(found)


def snapshot(obj: Base, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field of ``obj`` as JSON; ``values`` (attribute key → value) overrides what the object holds."""
    values = values or {}
    state = obj.__dict__
    return {field.key: json_value(_value(obj, state, values, field.attribute)) for field in fields(type(obj))}


def _value(obj: Base, state: dict[str, Any], values: dict[str, Any], attribute: str) -> Any:
    """The override, else the loaded value, else the attribute read through the ORM (which loads an expired one)."""
    if attribute in values:
        return values[attribute]
    if attribute in state:
        return state[attribute]
    return getattr(obj, attribute)


def related_object(obj: Base) -> tuple[str | None, uuid.UUID | None]:
    """The object a change of ``obj`` is filed under besides itself (``(None, None)`` when there is none)."""
    related = RELATED_OBJECT.get(type(obj)._meta_label)
    if related is None:
        return None, None
    label, attribute = related
    related_id = getattr(obj, attribute)
    return (label, related_id) if related_id is not None else (None, None)


def differences(prechange: dict[str, Any] | None, postchange: dict[str, Any] | None) -> dict[str, Any]:
    """``added`` / ``removed`` between two snapshots, as Nautobot's ``get_snapshots()`` reports them.

    A create adds the whole snapshot and removes nothing (``None``); a delete the reverse;
    an update lists, on each side, the fields whose values differ.
    """
    if prechange is not None and postchange is not None:
        added = {key: value for key, value in postchange.items()
                 if key not in IGNORED_IN_DIFFERENCE and prechange.get(key) != value}
        removed = {key: prechange.get(key) for key in added}
        return {"added": added, "removed": removed}
    if prechange is not None:
        return {"added": None, "removed": prechange}
    return {"added": postchange, "removed": None}


def snapshots(action: str, object_data: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``prechange`` / ``postchange`` / ``differences`` of one change, given the object's previous snapshot."""
    if action == "delete":
        prechange, postchange = object_data, None
    elif action == "create":
        prechange, postchange = None, object_data
    else:
        prechange, postchange = previous, object_data
    return {"prechange": prechange, "postchange": postchange, "differences": differences(prechange, postchange)}
