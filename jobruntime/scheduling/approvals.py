"""Approving, denying and dry-running a schedule that awaits approval, with the reference's rules.

An approver needs ``approve_job`` on the job (superusers have every permission)
and is never the requester, superusers included. The requester may withdraw
(deny) their own request. A dry run is the schedule's input run now with
``commit=False`` as the approver, who needs ``run_job``; the schedule is untouched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from jobruntime.core.clock import utcnow
from jobruntime.core.errors import RefusalError
from jobruntime.models import ScheduledJob, User
from jobruntime.run.auth import APPROVE_JOB, RUN_JOB, has_permission
from jobruntime.scheduling.firing import pending_run, queue_runs, run_request
from jobruntime.scheduling.schedules import check_schedulable
from jobruntime.store.prebuilt import in_session

SELF_APPROVAL = "You cannot approve your own job request!"
NO_APPROVE_PERMISSION = "You do not have permission to approve this request."
NO_DENY_PERMISSION = "You do not have permission to deny this request."
NO_RUN_PERMISSION = "You do not have permission to run this job."
NOT_RUNNABLE = "This job cannot be dry-run at this time."
PAST_ONE_OFF = "The job's start time is in the past. If you want to force a run anyway, add the `--force` option."


class ApprovalRefused(RefusalError, PermissionError):
    """The user may not approve, deny or dry-run this schedule; the message says why."""


class StartInPast(ApprovalRefused):
    """A one-off whose start time has passed needs ``force`` to be approved (it would run at once)."""


class NotRunnable(ApprovalRefused):
    """The schedule's job is gone, disabled or not installed, so it cannot be dry-run."""


class NotAwaitingApproval(RefusalError, ValueError):
    """The schedule has no pending approval request."""


def _holds(session: Session, user: User, action: str, schedule: ScheduledJob) -> bool:
    return schedule.job_model is not None and has_permission(in_session(session), user, action, schedule.job_model)


def _awaiting(schedule: ScheduledJob) -> None:
    if not schedule.awaiting_approval:
        raise NotAwaitingApproval(f"Schedule {schedule.id} ({schedule.name}) is not awaiting approval")


def approve(session: Session, schedule: ScheduledJob, user: User, *, force: bool = False,
            now: dt.datetime | None = None) -> None:
    """Approve; a schedule whose time has passed then runs at once, a past one-off only with ``force``."""
    now = now or utcnow()
    _awaiting(schedule)
    if not _holds(session, user, APPROVE_JOB, schedule):
        raise ApprovalRefused(NO_APPROVE_PERMISSION)
    if user.id == schedule.user_id:
        raise ApprovalRefused(SELF_APPROVAL)
    if schedule.job_model is not None:
        check_schedulable(schedule.job_model, schedule.interval)
    if schedule.one_off and schedule.start_time < now and not force:
        raise StartInPast(PAST_ONE_OFF)
    schedule.approved_by_user_id = user.id
    schedule.approved_at = now
    session.flush()


def deny(session: Session, schedule: ScheduledJob, user: User) -> str:
    """Deny (delete) the request; the requester withdraws their own. Returns the reference's message."""
    _awaiting(schedule)
    revoked = user.id == schedule.user_id
    if not revoked and not _holds(session, user, APPROVE_JOB, schedule):
        raise ApprovalRefused(NO_DENY_PERMISSION)
    name = schedule.name
    session.delete(schedule)
    session.flush()
    return f"Approval request for {name} was revoked" if revoked else f"Approval of {name} was denied"


def dry_run(session: Session, schedule: ScheduledJob, user: User, *, default_queue: str,
            job_result_id: uuid.UUID | None = None, now: dt.datetime | None = None
            ) -> tuple[uuid.UUID, list[dict[str, Any]]]:
    """Record a run of the schedule's input with ``commit=False`` as ``user`` and queue it in the outbox.

    Returns the run's id and the outbox rows to publish once the caller commits.
    """
    record = schedule.job_model
    if record is None or not (record.enabled and record.installed):
        raise NotRunnable(NOT_RUNNABLE)
    if not _holds(session, user, RUN_JOB, schedule):
        raise ApprovalRefused(NO_RUN_PERMISSION)
    queue = schedule.task_queue or default_queue
    request = run_request(schedule, record, user.username, job_result_id or uuid.uuid4(), queue, commit=False)
    run = pending_run(schedule, record, user.id, request, now or utcnow())
    session.flush()
    events = queue_runs(session.connection(), [run])
    return run["id"], events
