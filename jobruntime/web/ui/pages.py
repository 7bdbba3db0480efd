"""The pages of the web interface: sign-in, jobs, a job's run form, results, approvals and Job record edits."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlencode

import anyio
import sqlalchemy as sa
from markupsafe import escape
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from jobruntime.authoring.job import Job
from jobruntime.core.statuses import TERMINAL_STATUSES
from jobruntime.models import JOB_OVERRIDABLE_FIELDS, JobLogEntry, JobResult, ScheduledJob
from jobruntime.models import Job as JobRecord
from jobruntime.run.auth import CHANGE_JOB, valid_queues
from jobruntime.scheduling.schedules import next_runs, state
from jobruntime.web.errors import ApiError, detail
from jobruntime.web.gateway import Caller, Gateway
from jobruntime.web.jobs_api import apply_change, find_job, job_class_of
from jobruntime.web.listing import base_url
from jobruntime.web.results_api import find_result, visible
from jobruntime.web.run_api import submit
from jobruntime.web.schedules_api import PAST_START_API, approve_as, deny_as, dry_run_as, visible_schedules
from jobruntime.web.ui.forms import (
    COMMIT_FIELD,
    QUEUE_FIELD,
    Field,
    build_fields,
    offered_objects,
    place_errors,
    read_form,
    read_schedule,
    refill,
    schedule_fields,
)
from jobruntime.web.ui.render import page
from jobruntime.web.ui.session import CSRF_FIELD, SignInRequired, check_csrf, safe_next, sign_in, signed_in

LOG_LEVELS = ("default", "success", "info", "warning", "failure")
RESULTS_PAGE = 50
TEXT_FIELDS = ("grouping", "name", "description")
FLAG_FIELDS = ("commit_default", "hidden", "read_only", "approval_required", "has_sensitive_variables")
NUMBER_FIELDS = ("soft_time_limit", "time_limit")


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


async def checked_form(request: Request) -> Any:
    form = await request.form()
    check_csrf(request, form.get(CSRF_FIELD))
    return form


async def login(request: Request) -> Response:
    """Sign in with a username and an API token (``jobruntime users token``); the token stays in the cookie only."""
    next_path = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return page(request, "login.html", next_path=next_path, error=None, entered="")
    form = await checked_form(request)
    username, token = str(form.get("username", "")).strip(), str(form.get("token", "")).strip()
    gw = gateway(request)
    try:
        caller = await anyio.to_thread.run_sync(gw.authenticate, f"Token {token}" if token else None)
    except ApiError:
        caller = None
    if caller is None or caller.user.username != username:
        gw.refused(username or None, "web sign-in with a wrong username or token")
        return page(request, "login.html", status_code=403, next_path=next_path, entered=username,
                    error="That username and token do not match an active user.")
    sign_in(request, caller)
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/login/", status_code=303)


def home(request: Request) -> Response:
    return RedirectResponse("/jobs/", status_code=303)


def jobs(request: Request) -> Response:
    """Every Job record, grouped by ``grouping`` as Nautobot lists them; hidden jobs and hook receivers on request."""
    signed_in(request)
    show_hidden = request.query_params.get("hidden") == "true"
    show_receivers = request.query_params.get("is_job_hook_receiver") == "true"
    query = sa.select(JobRecord).order_by(JobRecord.grouping, JobRecord.name)
    if not show_hidden:
        query = query.where(JobRecord.hidden.is_(False))
    if not show_receivers:
        query = query.where(JobRecord.is_job_hook_receiver.is_(False))
    with gateway(request).session() as session:
        records = session.scalars(query).all()
        groups = [(grouping, list(members))
                  for grouping, members in itertools.groupby(records, key=lambda record: record.grouping)]
        return page(request, "jobs.html", groups=groups, show_hidden=show_hidden, show_receivers=show_receivers)


def _job_and_class(gw: Gateway, key: str) -> tuple[JobRecord, type[Job] | None]:
    with gw.session() as session:
        record = find_job(session, key)
        session.expunge(record)
    return record, job_class_of(gw, record)


def _run_form(gw: Gateway, record: JobRecord, job_class: type[Job], values: dict[str, Any] | None = None,
              ) -> list[Field]:
    """The run form's fields: the job's variables, then commit and task queue as Nautobot's form has them."""
    fields = build_fields(job_class.form_schema())
    if values is not None:
        refill(fields, values)
    variables = job_class.variables()
    with gw.session():
        for spec in fields:
            if spec.widget == "picker":
                current = {name: values.get(name) for name in spec.refers_to} if values else {}
                spec.choices += offered_objects(variables[spec.name], variables, current)
    if not record.read_only:
        commit = record.commit_default if values is None else bool(values.get(COMMIT_FIELD))
        fields.append(Field(name=COMMIT_FIELD, label="Commit changes", widget="checkbox", value=commit,
                            help="Unchecked, the job runs as a dry run and its database changes are rolled back."))
    queues = valid_queues(record, gw.settings.default_queue)
    if len(queues) > 1:
        chosen = values.get(QUEUE_FIELD) if values else None
        fields.append(Field(name=QUEUE_FIELD, label="Task queue", widget="select", value=chosen or queues[0],
                            choices=[(queue, queue) for queue in queues]))
    if not record.has_sensitive_variables:  # such a job never runs from a schedule
        when = schedule_fields(gw.settings.time_zone)
        if values is not None:
            refill(when, values)
        fields.extend(when)
    return fields


async def job(request: Request) -> Response:
    """A job's description and its run form; a valid run goes to its result page, a refusal stays on the form."""
    caller = signed_in(request)
    gw = gateway(request)
    record, job_class = await anyio.to_thread.run_sync(_job_and_class, gw, request.path_params["key"])
    may_change = await anyio.to_thread.run_sync(gw.may, caller, CHANGE_JOB, record)
    context = {"record": record, "may_change": may_change, "general": []}
    if job_class is None:
        return page(request, "job.html", fields=None, **context)
    if request.method == "GET":
        fields = await anyio.to_thread.run_sync(_run_form, gw, record, job_class)
        return page(request, "job.html", fields=fields, **context)
    form = await checked_form(request)
    probe = build_fields(job_class.form_schema())
    data, files = read_form(probe, form)
    schedule, schedule_values = read_schedule(form)
    body: dict[str, Any] = {"data": data, "commit": COMMIT_FIELD in form, "task_queue": form.get(QUEUE_FIELD),
                            "schedule": schedule}
    values = {**data, COMMIT_FIELD: body["commit"], QUEUE_FIELD: body["task_queue"], **schedule_values}
    try:
        result = await anyio.to_thread.run_sync(submit, gw, caller, record, body, files)
    except ApiError as refusal:
        fields = await anyio.to_thread.run_sync(_run_form, gw, record, job_class, values)
        general = place_errors(fields, refusal)
        return page(request, "job.html", status_code=refusal.status, fields=fields,
                    **{**context, "general": general})
    if isinstance(result, ScheduledJob):
        return RedirectResponse("/approvals/" if result.approval_required else "/schedules/", status_code=303)
    return RedirectResponse(f"/results/{result.id}/", status_code=303)


def job_objects(request: Request) -> Response:
    """What an object picker offers as the user types: ``q`` narrows it, the other fields' values fill ``$name``."""
    signed_in(request)
    gw = gateway(request)
    _record, job_class = _job_and_class(gw, request.path_params["key"])
    variables = job_class.variables() if job_class else {}
    variable = variables.get(request.path_params["variable"])
    if variable is None or not hasattr(variable, "model"):
        raise detail(404, "This job has no object field of that name.")
    with gw.session():
        offered = offered_objects(variable, variables, dict(request.query_params), request.query_params.get("q", ""))
    return JSONResponse({"results": [{"id": pk, "display": label} for pk, label in offered]})


def results(request: Request) -> Response:
    """The caller's runs (everyone's for a superuser), newest first, optionally of one status."""
    caller = signed_in(request)
    status = request.query_params.get("status") or None
    query = visible(sa.select(JobResult), caller).options(selectinload(JobResult.user), selectinload(JobResult.job_model))
    if status:
        query = query.where(JobResult.status == status)
    with gateway(request).session() as session:
        rows = session.scalars(query.order_by(JobResult.created.desc()).limit(RESULTS_PAGE)).all()
        return page(request, "results.html", results=rows, status=status)


def result(request: Request) -> Response:
    """A run's status, log and output; the log keeps arriving live while the run goes on (``static/ui.js``)."""
    caller = signed_in(request)
    with gateway(request).session() as session:
        found = find_result(session, caller, request.path_params["key"])
        entries = session.scalars(sa.select(JobLogEntry).where(JobLogEntry.job_result_id == found.id)
                                  .order_by(JobLogEntry.seq)).all()
        return page(request, "result.html", result=found, entries=entries, levels=LOG_LEVELS,
                    live=found.status not in TERMINAL_STATUSES)


def schedules(request: Request) -> Response:
    """The schedules the caller may see (their own, and those they may approve), by start time."""
    caller = signed_in(request)
    query = visible_schedules(sa.select(ScheduledJob), caller).options(
        selectinload(ScheduledJob.user), selectinload(ScheduledJob.job_model)).order_by(ScheduledJob.start_time)
    with gateway(request).session() as session:
        rows = [(schedule, state(schedule), next_runs(schedule, 1)) for schedule in session.scalars(query)]
        return page(request, "schedules.html", rows=rows)


def approvals(request: Request, message: str | None = None, error: ApiError | None = None,
              past: str | None = None) -> Response:
    """The approval queue: each request with the input as submitted, and approve / deny / dry-run.

    ``past`` names a one-off whose start time has passed: the page asks to confirm before it runs at once.
    """
    caller = signed_in(request)
    query = visible_schedules(sa.select(ScheduledJob), caller).where(
        ScheduledJob.approval_required.is_(True), ScheduledJob.approved_at.is_(None)).options(
        selectinload(ScheduledJob.user), selectinload(ScheduledJob.job_model)).order_by(ScheduledJob.start_time)
    with gateway(request).session() as session:
        rows = session.scalars(query).all()
        return page(request, "approvals.html", status_code=error.status if error else 200, rows=rows,
                    message=message or request.query_params.get("done"),
                    error=refused_message(error) if error else None, past=past)


async def approval_action(request: Request) -> Response:
    """A button of the approval queue; the outcome is shown on the queue (a dry run opens its result)."""
    caller = signed_in(request)
    form = await checked_form(request)
    gw, key, action = gateway(request), request.path_params["key"], request.path_params["action"]
    try:
        if action == "approve":
            body = await anyio.to_thread.run_sync(
                lambda: approve_as(gw, caller, key, force=bool(form.get("force")), base=base_url(request)))
            done = f"Schedule {body['name']} approved"
        elif action == "deny":
            done = await anyio.to_thread.run_sync(deny_as, gw, caller, key)
        elif action == "dry-run":
            run_id = await anyio.to_thread.run_sync(dry_run_as, gw, caller, key)
            return RedirectResponse(f"/results/{run_id}/", status_code=303)
        else:
            raise detail(404, "Not found.")
    except ApiError as refusal:
        past = key if refusal.status == 400 and refusal.body == [PAST_START_API] else None
        return approvals(request, error=refusal, past=past)
    return RedirectResponse(f"/approvals/?{urlencode({'done': done})}", status_code=303)


def _may_change(gw: Gateway, caller: Caller, key: str) -> JobRecord:
    record, _job_class = _job_and_class(gw, key)
    if not gw.may(caller, CHANGE_JOB, record):
        gw.refused(caller.user.username, f"no change_job permission on {record.class_path}")
        raise detail(403, "You do not have permission to perform this action.")
    return record


def _submitted(form: Any, name: str) -> Any:
    """One field of the edit form as the JSON value a PATCH body would carry."""
    if name in FLAG_FIELDS:
        return name in form
    raw = str(form.get(name, "")).strip()
    if name in NUMBER_FIELDS:
        try:
            return float(raw)
        except ValueError:
            return raw  # refused by the record's own check, with its message
    if name == "task_queues":
        return [queue.strip() for queue in raw.split(",") if queue.strip()]
    return raw


def _changes(form: Any, record: JobRecord) -> dict[str, Any]:
    """The edit form as the PATCH body it stands for: only what changed (an unchanged field stays un-overridden),
    and ``<field>_override: false`` for each field set back to the code's value."""
    changes: dict[str, Any] = {"enabled": "enabled" in form}
    for name in JOB_OVERRIDABLE_FIELDS:
        value, current = _submitted(form, name), getattr(record, name)
        current = list(current or []) if name == "task_queues" else (current or "") if name in TEXT_FIELDS else current
        if f"{name}_reset" in form:
            changes[f"{name}_override"] = False
        elif value != current:
            changes[name] = value
    return changes


def _apply_changes(gw: Gateway, caller: Caller, key: str, changes: dict[str, Any]) -> dict[str, list[str]]:
    _may_change(gw, caller, key)
    with gw.session() as session:
        record = find_job(session, key)
        errors = apply_change(session, gw, record, changes)
        if errors:
            session.rollback()
        else:
            session.commit()
        return errors


async def job_edit(request: Request) -> Response:
    """Enable a job and override what its code says (name, grouping, limits...), for users with ``change_job``."""
    caller = signed_in(request)
    gw = gateway(request)
    key = request.path_params["key"]
    record = await anyio.to_thread.run_sync(_may_change, gw, caller, key)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = await checked_form(request)
        errors = await anyio.to_thread.run_sync(_apply_changes, gw, caller, key, _changes(form, record))
        if not errors:
            return RedirectResponse(f"/jobs/{key}/", status_code=303)
        record = await anyio.to_thread.run_sync(_may_change, gw, caller, key)
    return page(request, "job_edit.html", status_code=400 if errors else 200, record=record, errors=errors,
                text_fields=TEXT_FIELDS, flag_fields=FLAG_FIELDS, number_fields=NUMBER_FIELDS)


def refused_message(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, list):
        return " ".join(str(message) for message in body)
    return body.get("detail", str(body)) if isinstance(body, dict) else str(body)


def refused(request: Request, exc: ApiError) -> Response:
    return page(request, "refused.html", status_code=exc.status, message=refused_message(exc))


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/login/?{urlencode({'next': exc.path})}", status_code=303)


def csrf_refused(request: Request, exc: Exception) -> Response:
    gateway(request).refused(request.session.get("username"), f"form without a valid CSRF token at {request.url.path}")
    return HTMLResponse(f"<!doctype html><title>Refused</title><p>{escape(str(exc))}</p>", status_code=403)
