"""Firing due schedules, exactly once however many supervisors do it at the same time.

One transaction per batch: lock the due schedules nobody else holds (PostgreSQL
``FOR UPDATE SKIP LOCKED``), record each occurrence's run as ``pending`` with
the request it will run (so the worker runs exactly what the schedule says, as
its requester), queue that request in the outbox, and move the schedule to its
next run. The run's id is derived from (schedule, occurrence), so even a
database without row locks (SQLite) cannot record an occurrence twice: the
second insert fails and its transaction rolls back. A supervisor killed after
the commit loses nothing: the outbox sweep publishes what it did not.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, bindparam, insert, select, update

from jobruntime.bus import outbox
from jobruntime.bus.messages import RunRequest
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.models import Job, JobResult, ScheduledJob, User
from jobruntime.scheduling.recurrence import occurrences, zone
from jobruntime.store.prebuilt import as_model, on_connection

logger = logging.getLogger(__name__)
SCHEDULES = ScheduledJob.__table__
RESULTS = JobResult.__table__
BATCH = 500  # schedules fired per transaction
MISSED_COUNT_LIMIT = 100_000  # occurrences counted when telling how many a downtime skipped
_OCCURRENCES = uuid.UUID("5b0f6a52-4c0e-4a7e-9d43-7f1c2f36d8a1")  # namespace of the runs' ids


def run_id(schedule_id: uuid.UUID, occurrence: dt.datetime) -> uuid.UUID:
    """The id of the run a schedule makes for ``occurrence``: the same whoever fires it."""
    return uuid.uuid5(_OCCURRENCES, f"{schedule_id}/{occurrence.astimezone(dt.timezone.utc).isoformat()}")


def run_request(schedule: Any, record: Any, username: str, job_result_id: uuid.UUID, queue: str,
                *, commit: bool | None) -> dict[str, Any]:
    """The request a schedule's run carries, as stored on its JobResult (no credentials: the row vouches for it)."""
    return RunRequest(job=record.class_path, data=schedule.data or {}, commit=commit, task_queue=queue,
                      job_result_id=job_result_id, requested_by=username).stored()


def pending_run(schedule: Any, record: Any, user_id: uuid.UUID, request: dict[str, Any], now: dt.datetime
                ) -> dict[str, Any]:
    """The JobResult row of a scheduled run (or a dry run of a schedule), waiting for a worker."""
    return {
        "id": uuid.UUID(request["job_result_id"]), "job_model_id": record.id, "name": record.class_path,
        "created": now, "user_id": user_id, "status": "pending", "task_queue": request["task_queue"],
        "request": request, "schedule_id": schedule.id, "attempt": 0,
        "job_kwargs": {"data": request["data"], "commit": request["commit"], "task_queue": request["task_queue"]},
    }


def queue_runs(connection: sa.Connection, runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert pending runs and their requests' outbox rows in the caller's transaction; returns the outbox rows."""
    if not runs:
        return []
    connection.execute(insert(RESULTS), list(runs))
    return outbox.add_events(on_connection(connection), [
        outbox.event_row(outbox.RUN_EXCHANGE, run["task_queue"], run["request"]) for run in runs
    ])


@dataclass
class Firing:
    """What one pass did: outbox rows to publish once committed, and the runs it recorded."""

    events: list[dict[str, Any]] = field(default_factory=list)
    runs: list[uuid.UUID] = field(default_factory=list)
    more: bool = False  # a full batch: more schedules may be due


def following(schedule: Any, occurrence: dt.datetime, now: dt.datetime) -> tuple[dt.datetime | None, int]:
    """The schedule's next run after ``now`` (None: it is done), and how many occurrences after ``occurrence``
    were missed (counted up to ``MISSED_COUNT_LIMIT``)."""
    tz, crontab = zone(schedule.time_zone), schedule.crontab or None
    missed = 0
    for moment in itertools.islice(occurrences(schedule.interval, schedule.start_time, tz, occurrence, crontab),
                                   MISSED_COUNT_LIMIT):
        if moment > now:
            return moment, missed
        missed += 1
    if missed < MISSED_COUNT_LIMIT:
        return None, missed  # a one-off
    return next(occurrences(schedule.interval, schedule.start_time, tz, now, crontab)), missed


_FIREABLE = (SCHEDULES.c.enabled.is_(True),
             sa.or_(SCHEDULES.c.approval_required.is_(False), SCHEDULES.c.approved_at.is_not(None)))


def next_due(engine: Engine) -> dt.datetime | None:
    """When the earliest enabled, approved schedule is next due (None: none is waiting)."""
    with engine.connect() as connection:
        return connection.execute(select(sa.func.min(SCHEDULES.c.next_run_at)).where(*_FIREABLE)).scalar()


def fire_due(engine: Engine, *, default_queue: str, now: dt.datetime | None = None, batch: int = BATCH) -> Firing:
    """Fire up to ``batch`` due schedules in one transaction; the caller publishes ``events`` after it.

    Schedules another supervisor holds are skipped, not waited for: it is firing them.
    """
    now = now or utcnow()
    query = (
        select(SCHEDULES)
        .where(SCHEDULES.c.next_run_at <= now, *_FIREABLE)
        .order_by(SCHEDULES.c.next_run_at)
        .limit(batch)
    )
    query = Capabilities.of(engine).skipping_locked(query)
    firing = Firing()
    with engine.begin() as connection:
        due = connection.execute(query).all()
        if not due:
            return firing
        firing.more = len(due) == batch
        records = _by_id(connection, Job, {row.job_model_id for row in due})
        users = _by_id(connection, User, {row.user_id for row in due})
        runs: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for schedule in due:
            change, run = _fire(schedule, records.get(schedule.job_model_id), users.get(schedule.user_id),
                                default_queue, now)
            changes.append({"schedule_id": schedule.id, **_current(schedule), **change})
            if run is not None:
                runs.append(run)
        firing.events = queue_runs(connection, runs)
        firing.runs = [run["id"] for run in runs]
        connection.execute(_ADVANCE, changes)
    return firing


_CHANGED = ("enabled", "next_run_at", "last_run_at", "total_run_count", "skip_reason")
_ADVANCE = update(SCHEDULES).where(SCHEDULES.c.id == bindparam("schedule_id")).values(
    **{column: bindparam(f"new_{column}") for column in _CHANGED})


def _current(schedule: Any) -> dict[str, Any]:
    return {f"new_{column}": getattr(schedule, column) for column in _CHANGED}


def _by_id(connection: sa.Connection, model: Any, ids: set[Any]) -> dict[Any, Any]:
    ids.discard(None)
    if not ids:
        return {}
    table = model.__table__
    rows = connection.execute(select(table).where(table.c.id.in_(ids)))
    return {row.id: as_model(model, row._asdict()) for row in rows}


def _fire(schedule: Any, record: Any, requester: Any, default_queue: str, now: dt.datetime
          ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The schedule's new values, and the run to record (None when this occurrence cannot run)."""
    occurrence = schedule.next_run_at
    if record is None or requester is None:
        reason = ("its job was deleted (it ran " + schedule.job_class + ")" if record is None
                  else "its requester's user account was deleted")
        logger.warning("Schedule %s (%s) disabled: %s", schedule.id, schedule.name, reason)
        return {"new_enabled": False, "new_skip_reason": f"Disabled because {reason}"}, None
    next_run, missed = following(schedule, occurrence, now)
    if not (record.enabled and record.installed and requester.is_active):
        reason = (f"Job {record.class_path} is {'disabled' if record.installed else 'not installed'}"
                  if requester.is_active else f"its requester {requester.username} is inactive")
        logger.warning("Schedule %s (%s): occurrence %s skipped: %s", schedule.id, schedule.name,
                       occurrence.isoformat(), reason)
        return {"new_next_run_at": next_run,
                "new_skip_reason": f"Occurrence {occurrence.isoformat()} skipped: {reason}"}, None
    if missed:
        logger.warning("Schedule %s (%s) missed %d occurrence(s) after %s while no supervisor ran; runs once for them",
                       schedule.id, schedule.name, missed, occurrence.isoformat())
    queue = schedule.task_queue or default_queue
    request = run_request(schedule, record, requester.username, run_id(schedule.id, occurrence), queue,
                          commit=schedule.commit)
    change = {"new_next_run_at": next_run, "new_last_run_at": now,
              "new_total_run_count": schedule.total_run_count + 1, "new_skip_reason": None}
    return change, pending_run(schedule, record, requester.id, request, now)
