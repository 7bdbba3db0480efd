"""Making, changing and describing schedules: the rules a schedule must meet before it is stored.

Jobs with sensitive variables are never scheduled nor approved (their input
would have to be stored and shown to an approver). A Job record marked
``approval_required`` turns even an immediate run into a schedule awaiting
approval. Messages are the reference's where it has one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from jobruntime.authoring.job import Job as JobClass
from jobruntime.core.clock import utcnow
from jobruntime.core.errors import RefusalError
from jobruntime.models import Job, ScheduledJob, User, bind_session
from jobruntime.run.auth import RUN_JOB, PermissionDenied, check_queue, has_permission
from jobruntime.scheduling.recurrence import (
    CUSTOM,
    FUTURE,
    IMMEDIATELY,
    INTERVALS,
    RECURRING,
    InvalidSchedule,
    check_crontab,
    first_run,
    occurrences,
    zone,
)
from jobruntime.store.prebuilt import in_session

SENSITIVE_SCHEDULE = "Unable to schedule job: Job may have sensitive input variables"
SENSITIVE_APPROVAL = (
    "Unable to run or schedule job: This job is flagged as possibly having sensitive variables but is also flagged "
    "as requiring approval.One of these two flags must be removed before this job can be scheduled or run."
)
PAST_START = "Please enter a valid date and time greater than or equal to the current date and time."
NEXT_RUNS = 5  # run times ``describe`` lists


class ScheduleNotFound(RefusalError, LookupError):
    """No schedule has that id."""


def parse_start(text: str, tz: dt.tzinfo) -> dt.datetime:
    """``--at``: ISO 8601; with an offset it is that instant, without one wall-clock time in the schedule's zone."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidSchedule(f"Invalid start time {text!r}: use ISO 8601, e.g. 2026-12-24T18:00:00+01:00") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def check_schedulable(record: Job, interval: str) -> None:
    """Refuse what the reference refuses for jobs with sensitive variables (raises InvalidSchedule)."""
    if record.has_sensitive_variables and record.approval_required:
        raise InvalidSchedule(SENSITIVE_APPROVAL)
    if record.has_sensitive_variables and interval != IMMEDIATELY:
        raise InvalidSchedule(SENSITIVE_SCHEDULE)


def create_schedule(
    session: Session, record: Job, user: User, *, interval: str, default_queue: str, time_zone: str,
    start: str | None = None, crontab: str | None = None, name: str | None = None,
    data: dict[str, Any] | None = None, commit: bool | None = None, task_queue: str | None = None,
    job_class: type[JobClass] | None = None, now: dt.datetime | None = None,
) -> ScheduledJob:
    """Store a schedule for ``user`` to run ``record``; raises InvalidSchedule, PermissionDenied or InvalidQueue.

    ``immediately`` is only a schedule for a job that needs approval (otherwise it is a plain run).
    With ``job_class``, ``data`` is validated now (each run validates it again). Flushed, not committed.
    """
    now = now or utcnow()
    if interval not in INTERVALS:
        raise InvalidSchedule(f"Unknown schedule {interval!r}: choose one of {', '.join(INTERVALS)}")
    check_schedulable(record, interval)
    if interval == IMMEDIATELY and not record.approval_required:
        raise InvalidSchedule(f"{record.class_path} does not need approval: run it at once without a schedule")
    if not user.is_active:
        raise PermissionDenied(f"User {user.username} is inactive")
    if not has_permission(in_session(session), user, RUN_JOB, record):
        raise PermissionDenied(f"User {user.username} does not have permission to run job {record.class_path}")
    queue = check_queue(record, task_queue, default_queue)
    if job_class is not None:
        check_input(session, job_class, data or {})
    tz = zone(time_zone)
    if interval == CUSTOM:
        check_crontab(crontab)
    if interval == IMMEDIATELY or (interval == CUSTOM and start is None):
        start_time = now
    elif start is None:
        raise InvalidSchedule(f"A {interval} schedule needs a start time (--at)")
    else:
        start_time = parse_start(start, tz)
        if start_time < now:
            raise InvalidSchedule(f"Invalid start time {start_time.isoformat()}: {PAST_START}")
    schedule = ScheduledJob(
        id=uuid.uuid4(), name=name or f"{record.job_class_name} - {now.isoformat(timespec='seconds')}",
        job_model_id=record.id, job_class=record.class_path, interval=interval,
        crontab=crontab if interval == CUSTOM else "", time_zone=tz.key, start_time=start_time,
        one_off=interval == FUTURE, enabled=True, next_run_at=first_run(interval, start_time, tz, crontab),
        total_run_count=0, data=data or {}, commit=commit, task_queue=queue, user_id=user.id,
        approval_required=record.approval_required,
        description=f"Job {record.name} scheduled by {user.username} on {now.isoformat(timespec='seconds')}",
        created=now, date_changed=now,
    )
    session.add(schedule)
    session.flush()
    return schedule


def check_input(session: Session, job_class: type[JobClass], data: dict[str, Any]) -> None:
    """Validate a schedule's input when it is made, so a mistake reaches its requester rather than a run
    hours later; raises InvalidSchedule listing every problem. The runs validate it again (objects may go)."""
    from jobruntime.authoring.inputs import InputValidationError, validate_data

    with bind_session(session):
        try:
            validate_data(job_class.variables(), data)
        except InputValidationError as exc:
            raise InvalidSchedule(f"Error initializing job:\n{exc}") from exc


def get_schedule(session: Session, schedule_id: str) -> ScheduledJob:
    """The schedule with this id; raises ScheduleNotFound."""
    try:
        key = uuid.UUID(schedule_id)
    except ValueError:
        raise ScheduleNotFound(f"No schedule {schedule_id!r}: a schedule id is a UUID") from None
    schedule = session.get(ScheduledJob, key)
    if schedule is None:
        raise ScheduleNotFound(f"No schedule {schedule_id}")
    return schedule


def set_enabled(schedule: ScheduledJob, enabled: bool, now: dt.datetime | None = None) -> None:
    """Enable or disable; a recurring schedule enabled again resumes at its next time, without catching up."""
    now = now or utcnow()
    schedule.enabled = enabled
    if enabled:
        if schedule.job_model_id is None:
            raise InvalidSchedule(f"The job of schedule {schedule.id} ({schedule.job_class}) was deleted; "
                                  f"it cannot run again")
        schedule.skip_reason = None
        if schedule.interval in RECURRING and schedule.next_run_at is not None and schedule.next_run_at < now:
            schedule.next_run_at = next(_occurrences(schedule, now), None)


def prune(session: Session, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Delete one-offs that started more than ``older_than`` ago (recurring ones are kept); returns how many."""
    cutoff = (now or utcnow()) - older_than
    table = ScheduledJob.__table__
    result = session.execute(delete(table).where(
        table.c.start_time < cutoff, or_(table.c.one_off.is_(True), table.c.interval.not_in(RECURRING))
    ))
    return result.rowcount


def awaiting_approval(session: Session) -> list[ScheduledJob]:
    """Schedules waiting for an approver, oldest start first (the approval queue)."""
    return list(session.scalars(
        select(ScheduledJob).where(ScheduledJob.approval_required.is_(True), ScheduledJob.approved_at.is_(None))
        .order_by(ScheduledJob.start_time)
    ))


def next_runs(schedule: ScheduledJob, count: int = NEXT_RUNS) -> list[dt.datetime]:
    """The schedule's next ``count`` run times, in its zone (none once it is done or disabled)."""
    if not schedule.enabled or schedule.next_run_at is None:
        return []
    tz = zone(schedule.time_zone)
    first = schedule.next_run_at
    later = itertools.islice(_occurrences(schedule, first), count - 1)
    return [moment.astimezone(tz) for moment in (first, *later)]


def _occurrences(schedule: ScheduledJob, after: dt.datetime) -> Iterator[dt.datetime]:
    return occurrences(schedule.interval, schedule.start_time, zone(schedule.time_zone), after,
                       schedule.crontab or None)


def state(schedule: ScheduledJob) -> str:
    """One word for where the schedule stands."""
    if schedule.awaiting_approval:
        return "awaiting approval"
    if not schedule.enabled:
        return "disabled"
    return "finished" if schedule.next_run_at is None else "scheduled"


def describe(schedule: ScheduledJob) -> dict[str, Any]:
    """The schedule as JSON: its input, owner, next runs (ISO 8601 with offset), last run, count and approval."""
    tz = zone(schedule.time_zone)

    def local(moment: dt.datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(tz).isoformat()

    return {
        "id": str(schedule.id), "name": schedule.name, "job": schedule.job_class,
        "job_model_id": str(schedule.job_model_id) if schedule.job_model_id else None,
        "interval": schedule.interval, "crontab": schedule.crontab, "time_zone": schedule.time_zone,
        "start_time": local(schedule.start_time), "one_off": schedule.one_off, "enabled": schedule.enabled,
        "state": state(schedule), "skip_reason": schedule.skip_reason,
        "next_runs": [moment.isoformat() for moment in next_runs(schedule)],
        "last_run_at": local(schedule.last_run_at), "total_run_count": schedule.total_run_count,
        "user": schedule.user.username if schedule.user else None,
        "data": schedule.data, "commit": schedule.commit, "task_queue": schedule.task_queue,
        "approval_required": schedule.approval_required,
        "approved_by": schedule.approved_by_user.username if schedule.approved_by_user else None,
        "approved_at": local(schedule.approved_at), "description": schedule.description,
    }

