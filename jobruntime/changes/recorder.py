"""Recording the changes a session makes, to be written with its transaction.

A run (or the CLI) opens :func:`recording` on its session with a
:class:`ChangeContext`; every flush then notes each create, update and delete of
a change-logged object. Deletes the database cascades (a device's interfaces,
an interface's addresses) are read before the flush and noted one by one. Nothing
is written while the job runs: :meth:`ChangeRecorder.write` inserts the noted
rows in one batch, with their ``object.change.*`` events and the hook runs they
start, just before the transaction commits. A rollback simply drops the recorder.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobruntime.bus.outbox import EVENTS_EXCHANGE, add_events, event_row
from jobruntime.changes.snapshot import is_change_logged, related_object, snapshot, snapshots
from jobruntime.core.clock import utcnow
from jobruntime.models import Base, ObjectChange
from jobruntime.models.base import table_of
from jobruntime.store.prebuilt import DriverConnection, prebuilt_insert

JOB = "job"
JOB_HOOK = "job-hook"
CLI = "cli"
EXTERNAL = "external"
_KEY = "jobruntime.changes"
_COLUMNS = tuple(column.key for column in ObjectChange.__table__.c)
_INSERT = prebuilt_insert(ObjectChange.__table__, _COLUMNS)
REPR_LENGTH = 200


@dataclass(frozen=True)
class ChangeContext:
    """Who makes the changes and through what: ``job`` (detail: class path), ``job-hook``, ``cli``, ``external``."""

    name: str
    detail: str = ""
    user_id: uuid.UUID | None = None
    user_name: str = ""
    request_id: uuid.UUID | None = None


@dataclass
class Change:
    """One noted change: its ObjectChange row and the snapshot before it (for the event's difference).

    ``requested_by`` is who the hook runs it starts are requested by, when not the row's user name.
    """

    row: dict[str, Any]
    prechange: dict[str, Any] | None
    requested_by: str | None = None

    def event(self) -> dict[str, Any]:
        """The outbox row announcing this change on ``object.change.<app_label>.<model>.<action>``."""
        row = self.row
        body = {
            "change": {key: _json(value) for key, value in row.items() if key != "object_data"},
            "object_data": row["object_data"],
            "snapshots": snapshots(row["action"], row["object_data"], self.prechange),
        }
        return event_row(EVENTS_EXCHANGE, f"object.change.{row['changed_object_type']}.{row['action']}", body)


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@dataclass
class ChangeRecorder:
    """The changes one transaction has made so far, in the order they were flushed."""

    context: ChangeContext
    changes: list[Change] = field(default_factory=list)
    _deleting: list[Change] = field(default_factory=list)

    def note(self, obj: Base, action: str, data: dict[str, Any], prechange: dict[str, Any] | None = None) -> None:
        related_type, related_id = related_object(obj)
        context = self.context
        self.changes.append(Change({
            "id": uuid.uuid4(),
            "time": utcnow(),
            "user_id": context.user_id,
            "user_name": context.user_name,
            "request_id": context.request_id,
            "action": action,
            "changed_object_type": type(obj)._meta_label,
            "changed_object_id": obj.id,
            "related_object_type": related_type,
            "related_object_id": related_id,
            "object_repr": str(obj)[:REPR_LENGTH],
            "object_data": data,
            "change_context": context.name,
            "change_context_detail": context.detail,
        }, prechange))

    def take(self) -> list[Change]:
        """The changes noted so far, forgotten here (they are being written)."""
        changes, self.changes = self.changes, []
        return changes

def write_changes(db: DriverConnection, changes: list[Change], *, events: bool) -> list[dict[str, Any]]:
    """Insert ``changes`` in one batch in ``db``'s transaction; returns their outbox rows when ``events``.

    The rows are written too; hand them to the relay once the transaction commits.
    """
    if not changes:
        return []
    _INSERT.execute_many(db, [change.row for change in changes])
    return add_events(db, [change.event() for change in changes]) if events else []


def recorder_of(session: Session) -> ChangeRecorder | None:
    """The recorder watching ``session``, if any."""
    return session.info.get(_KEY)


@contextmanager
def recording(session: Session, context: ChangeContext | None) -> Iterator[ChangeRecorder]:
    """Note the changes ``session`` flushes while the block runs; with no context (a dry run) note none."""
    recorder = ChangeRecorder(context or ChangeContext(name=""))
    if context is None:
        yield recorder
        return
    previous = session.info.get(_KEY)
    session.info[_KEY] = recorder
    try:
        yield recorder
    finally:
        if previous is None:
            session.info.pop(_KEY, None)
        else:
            session.info[_KEY] = previous


@sa.event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Snapshot what the flush deletes, cascades included, while it can still be read."""
    recorder = recorder_of(session)
    if recorder is None:
        return
    deleted = [obj for obj in session.deleted if is_change_logged(type(obj))]
    if not deleted:
        return
    seen = {(type(obj), obj.id) for obj in deleted}
    pending = ChangeRecorder(recorder.context)
    with session.no_autoflush:
        for obj in deleted:
            pending.note(obj, "delete", snapshot(obj))
            _note_cascaded(session, obj, pending, seen)
    recorder._deleting = pending.changes


def _note_cascaded(session: Session, obj: Base, pending: ChangeRecorder, seen: set[tuple[type, Any]]) -> None:
    """Note the rows the database deletes with ``obj`` (ON DELETE CASCADE), depth first."""
    for model, column in _cascading_children(type(obj)):
        loaded = set(session.identity_map.keys())
        for child in session.scalars(sa.select(model).where(column == obj.id)):
            if (model, child.id) in seen:
                continue
            seen.add((model, child.id))
            pending.note(child, "delete", snapshot(child))
            _note_cascaded(session, child, pending, seen)
            if sa.inspect(child).key not in loaded:
                session.expunge(child)  # the database removes it: the session must not keep a stale copy


@cache
def _cascading_children(model: type[Base]) -> tuple[tuple[type[Base], sa.Column[Any]], ...]:
    """Change-logged models whose rows the database deletes with a ``model`` row."""
    found = []
    for mapper in Base.registry.mappers:
        child = mapper.class_
        if not is_change_logged(child):
            continue
        for column in table_of(child).columns:
            for fk in column.foreign_keys:
                if fk.column.table is table_of(model) and (fk.ondelete or "").upper() == "CASCADE":
                    found.append((child, column))
    return tuple(found)


@sa.event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context: Any) -> None:
    """Note what the flush created and updated, then the deletes read before it."""
    recorder = recorder_of(session)
    if recorder is None:
        return
    for obj in session.new:
        if is_change_logged(type(obj)):
            recorder.note(obj, "create", snapshot(obj))
    for obj in session.dirty:
        if is_change_logged(type(obj)) and session.is_modified(obj, include_collections=False):
            recorder.note(obj, "update", snapshot(obj), snapshot(obj, _previous_values(obj)))
    recorder.changes.extend(recorder._deleting)
    recorder._deleting = []


def _previous_values(obj: Base) -> dict[str, Any]:
    """The values the flush replaced, by attribute key (a relation's change is read from its foreign key)."""
    state = sa.inspect(obj)
    previous: dict[str, Any] = {}
    for attribute in state.mapper.column_attrs:
        history = state.attrs[attribute.key].history
        if history.deleted:
            previous[attribute.key] = history.deleted[0]
    for relation in state.mapper.relationships:
        if relation.direction is not sa.orm.interfaces.MANYTOONE or len(relation.local_columns) != 1:
            continue
        history = state.attrs[relation.key].history
        column = next(iter(relation.local_columns))
        key = state.mapper.get_property_by_column(column).key
        if history.deleted and key not in previous:
            old = history.deleted[0]
            previous[key] = old.id if old is not None else None
    return previous
