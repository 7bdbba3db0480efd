"""Reading the change log back: filtered lists, one change with its difference, pruning old records."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jobruntime.changes.snapshot import snapshots
from jobruntime.core.clock import utcnow
from jobruntime.models import ObjectChange


@dataclass(frozen=True)
class ChangeFilter:
    """What ``changes list`` narrows by; every field is optional."""

    object_type: str | None = None
    object_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    action: str | None = None


def list_changes(session: Session, where: ChangeFilter, limit: int) -> list[ObjectChange]:
    """The newest ``limit`` changes matching ``where``, newest first."""
    query = select(ObjectChange).order_by(ObjectChange.time.desc()).limit(limit)
    for column, value in (
        (ObjectChange.changed_object_type, where.object_type),
        (ObjectChange.changed_object_id, where.object_id),
        (ObjectChange.request_id, where.request_id),
        (ObjectChange.action, where.action),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.scalars(query))


def previous_snapshot(session: Session, change: ObjectChange) -> dict[str, Any] | None:
    """The object's snapshot as the change before this one left it (None when there is none)."""
    query = (
        select(ObjectChange.object_data)
        .where(ObjectChange.changed_object_type == change.changed_object_type,
               ObjectChange.changed_object_id == change.changed_object_id,
               ObjectChange.time < change.time)
        .order_by(ObjectChange.time.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def change_json(change: ObjectChange, previous: dict[str, Any] | None = None, *, detail: bool = False) -> dict[str, Any]:
    """A change as JSON; with ``detail``, its snapshots and difference (``previous``: the prior snapshot)."""
    row: dict[str, Any] = {
        "id": str(change.id),
        "time": change.time.isoformat(),
        "user_name": change.user_name,
        "request_id": str(change.request_id) if change.request_id else None,
        "action": change.action,
        "changed_object_type": change.changed_object_type,
        "changed_object_id": str(change.changed_object_id),
        "related_object_type": change.related_object_type,
        "related_object_id": str(change.related_object_id) if change.related_object_id else None,
        "object_repr": change.object_repr,
        "change_context": change.change_context,
        "change_context_detail": change.change_context_detail,
    }
    if detail:
        row["object_data"] = change.object_data
        row["snapshots"] = snapshots(change.action, change.object_data, previous)
    return row


def prune(session: Session, older_than: dt.timedelta) -> int:
    """Delete the changes recorded more than ``older_than`` ago; returns how many went. The caller commits."""
    cutoff = utcnow() - older_than
    return session.execute(delete(ObjectChange).where(ObjectChange.time < cutoff)).rowcount
