"""``/api/extras/scheduled-jobs/``: schedules, and approving, denying or dry-running one (JOBS-REFERENCE §6.6).

The rules are the scheduling package's, the ones ``jobruntime approvals`` applies:
an approver needs ``approve_job`` on the job and is never the requester; the
requester may withdraw (deny) their own request; a dry run needs ``run_job``.
Only the status codes and texts are the REST API's. A user lists the schedules
they requested and those of jobs they may approve; superusers list every one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload
from starlette.requests import Request
from starlette.responses import JSONResponse

from jobruntime.models import JobResult, ObjectPermission, ScheduledJob, User
from jobruntime.run.auth import APPROVE_JOB
from jobruntime.scheduling.approvals import (
    ApprovalRefused,
    NotAwaitingApproval,
    NotRunnable,
    StartInPast,
    approve,
    deny,
    dry_run,
)
from jobruntime.scheduling.recurrence import InvalidSchedule, zone
from jobruntime.scheduling.schedules import next_runs, state
from jobruntime.web.bodies import job_result_body, nested_job_body, page, user_body
from jobruntime.web.errors import NOT_FOUND, ApiError, detail
from jobruntime.web.gateway import Caller, Gateway
from jobruntime.web.listing import base_url, pagination

PAST_START_API = ("The job's start time is in the past. If you want to force a run anyway, add the `force` query "
                  "parameter.")
SCHEDULE_TASK = "nautobot.extras.jobs.scheduled_job_handler"  # the ``task`` Nautobot's clients see on every schedule


def schedule_url(schedule_id: Any, base: str) -> str:
    return f"{base}/api/extras/scheduled-jobs/{schedule_id}/"


def _local(schedule: ScheduledJob, moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(zone(schedule.time_zone)).isoformat()


def nested_schedule_body(schedule: ScheduledJob, base: str) -> dict[str, Any]:
    """The ``schedule`` of a run endpoint's 201 answer (Nautobot's nested ScheduledJob)."""
    return {
        "id": str(schedule.id), "display": schedule.name, "url": schedule_url(schedule.id, base),
        "name": schedule.name, "start_time": _local(schedule, schedule.start_time), "interval": schedule.interval,
        "crontab": schedule.crontab,
    }


def schedule_body(schedule: ScheduledJob, base: str) -> dict[str, Any]:
    """Nautobot's ScheduledJob serialisation, plus what our schedules add (state, next runs, the input)."""
    return {
        **nested_schedule_body(schedule, base),
        "task": SCHEDULE_TASK,
        "job_model": nested_job_body(schedule.job_model, base),
        "job_class": schedule.job_class,
        "queue": schedule.task_queue,
        "one_off": schedule.one_off,
        "enabled": schedule.enabled,
        "time_zone": schedule.time_zone,
        "state": state(schedule),
        "skip_reason": schedule.skip_reason,
        "next_runs": [moment.isoformat() for moment in next_runs(schedule)],
        "last_run_at": _local(schedule, schedule.last_run_at),
        "total_run_count": schedule.total_run_count,
        "date_changed": _local(schedule, schedule.date_changed),
        "description": schedule.description,
        "user": user_body(schedule.user, base),
        "approved_by_user": user_body(schedule.approved_by_user, base),
        "approval_required": schedule.approval_required,
        "approved_at": _local(schedule, schedule.approved_at),
        "kwargs": {"data": schedule.data, "commit": schedule.commit, "task_queue": schedule.task_queue,
                   "scheduled_job_pk": str(schedule.id)},
    }


_LOADED = (selectinload(ScheduledJob.user), selectinload(ScheduledJob.approved_by_user),
           selectinload(ScheduledJob.job_model))


def visible_schedules(query: Any, caller: Caller) -> Any:
    """The caller's own requests and the schedules of jobs they may approve (every one for a superuser)."""
    if caller.user.is_superuser:
        return query
    approvable = sa.select(ObjectPermission.job_id).where(
        ObjectPermission.user_id == caller.user.id, ObjectPermission.action == APPROVE_JOB)
    may_approve_all = sa.exists().where(ObjectPermission.user_id == caller.user.id,
                                        ObjectPermission.action == APPROVE_JOB, ObjectPermission.job_id.is_(None))
    return query.where(sa.or_(ScheduledJob.user_id == caller.user.id, ScheduledJob.job_model_id.in_(approvable),
                              may_approve_all))


def _find(session: Session, key: str, caller: Caller | None = None) -> ScheduledJob:
    """The schedule ``key``: among those the caller may see when ``caller`` is given, else any (actions check
    their own permission and answer 403, as Nautobot's do)."""
    try:
        schedule_id = uuid.UUID(key)
    except ValueError:
        raise detail(404, NOT_FOUND) from None
    query = sa.select(ScheduledJob).where(ScheduledJob.id == schedule_id).options(*_LOADED)
    schedule = session.scalars(visible_schedules(query, caller) if caller is not None else query).first()
    if schedule is None:
        raise detail(404, NOT_FOUND)
    return schedule


def list_schedules(request: Request) -> JSONResponse:
    """Schedules by start time, paginated; ``?awaiting_approval=true`` gives the approval queue."""
    gw: Gateway = request.app.state.gateway
    caller = gw.caller_of(request)
    limit, offset = pagination(request)
    query = visible_schedules(sa.select(ScheduledJob), caller)
    if request.query_params.get("awaiting_approval", "").lower() in ("true", "1", "yes", "on"):
        query = query.where(ScheduledJob.approval_required.is_(True), ScheduledJob.approved_at.is_(None))
    query = query.order_by(ScheduledJob.start_time, ScheduledJob.id)
    with gw.session() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = session.scalars(query.options(*_LOADED).limit(limit).offset(offset))
        results = [schedule_body(schedule, base_url(request)) for schedule in rows]
    return JSONResponse(page(results, count or 0, str(request.url), limit, offset))


def get_schedule(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    caller = gw.caller_of(request)
    with gw.session() as session:
        return JSONResponse(schedule_body(_find(session, request.path_params["key"], caller), base_url(request)))


def _refused(gw: Gateway, caller: Caller, schedule: ScheduledJob, exc: Exception) -> ApiError:
    """The REST answer to a refusal of the scheduling package, logged with who and why."""
    gw.refused(caller.user.username, f"schedule {schedule.id}: {exc}")
    if isinstance(exc, StartInPast):
        return ApiError(400, [PAST_START_API])
    if isinstance(exc, NotRunnable):
        return detail(405, f'Method "{exc}" not allowed.')
    if isinstance(exc, ApprovalRefused):
        return detail(403, str(exc))
    return ApiError(400, {"detail": str(exc)})


def _user(session: Session, caller: Caller) -> User:
    user = session.get(User, caller.user.id)
    if user is None:
        raise detail(403, "User inactive or deleted.")
    return user


def approve_as(gw: Gateway, caller: Caller, key: str, *, force: bool, base: str) -> dict[str, Any]:
    """Approve schedule ``key`` as ``caller``; returns its body. The REST endpoint and the approval page share it."""
    with gw.session() as session:
        schedule = _find(session, key)
        try:
            approve(session, schedule, _user(session, caller), force=force)
        except (ApprovalRefused, NotAwaitingApproval, InvalidSchedule) as exc:
            raise _refused(gw, caller, schedule, exc) from None
        session.commit()
        session.expire_all()
        return schedule_body(_find(session, key), base)


def deny_as(gw: Gateway, caller: Caller, key: str) -> str:
    """Deny (delete) schedule ``key`` as ``caller``; returns what happened, in the reference's words."""
    with gw.session() as session:
        schedule = _find(session, key)
        try:
            message = deny(session, schedule, _user(session, caller))
        except (ApprovalRefused, NotAwaitingApproval) as exc:
            raise _refused(gw, caller, schedule, exc) from None
        session.commit()
    return message


def dry_run_as(gw: Gateway, caller: Caller, key: str) -> uuid.UUID:
    """Record and publish a dry run of schedule ``key`` as ``caller``; returns the run's id."""
    with gw.session() as session:
        schedule = _find(session, key)
        try:
            run_id, events = dry_run(session, schedule, _user(session, caller), default_queue=gw.settings.default_queue)
        except ApprovalRefused as exc:
            raise _refused(gw, caller, schedule, exc) from None
        session.commit()
    gw.publish_rows(events)
    return run_id


def approve_schedule(request: Request) -> JSONResponse:
    """200 with the approved schedule; any non-empty ``force`` approves a one-off whose time has passed."""
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    return JSONResponse(approve_as(gw, caller, request.path_params["key"],
                                   force=bool(request.query_params.get("force")), base=base_url(request)))


def deny_schedule(request: Request) -> JSONResponse:
    """Deletes the request; 200 with a null body, as Nautobot answers."""
    gw: Gateway = request.app.state.gateway
    deny_as(gw, gw.authenticate(request.headers.get("authorization")), request.path_params["key"])
    return JSONResponse(None)


def dry_run_schedule(request: Request) -> JSONResponse:
    """Runs the schedule's input now with commit off, as the caller; 200 with the pending JobResult."""
    gw: Gateway = request.app.state.gateway
    run_id = dry_run_as(gw, gw.authenticate(request.headers.get("authorization")), request.path_params["key"])
    with gw.session() as session:
        result = session.scalars(sa.select(JobResult).where(JobResult.id == run_id).options(
            selectinload(JobResult.user), selectinload(JobResult.job_model))).one()
        return JSONResponse(job_result_body(result, base_url(request)))
