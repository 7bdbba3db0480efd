"""``POST /api/extras/jobs/<uuid>/run/`` (and the legacy ``<class_path>/run/``): Nautobot 1.6's run endpoint.

The checks run in the reference's order (JOBS-REFERENCE §4.4), so every refusal
has Nautobot's status code and text; the input is validated here as a worker
would, so bad input is a 400 at once instead of an errored run later. Nothing
runs here: the run is recorded pending and published for a worker.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from jobruntime.authoring.inputs import InputValidationError, serialize_value, validate_data
from jobruntime.authoring.job import Job, declared_test_methods
from jobruntime.authoring.records import lookup_record
from jobruntime.authoring.variables import FileVar, ObjectVar
from jobruntime.bus.broker import NoWorkers, PublishRefused
from jobruntime.core.clock import utcnow
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, ScheduledJob, User
from jobruntime.run.auth import RUN_JOB, InvalidQueue, valid_queues
from jobruntime.scheduling.recurrence import CUSTOM, IMMEDIATELY, INTERVALS, InvalidSchedule, check_crontab, zone
from jobruntime.scheduling.schedules import PAST_START, create_schedule, parse_start
from jobruntime.storage import FileTooLarge, StoreError
from jobruntime.store.prebuilt import transaction
from jobruntime.web.bodies import job_result_body, nested_job_result_body
from jobruntime.web.errors import ApiError, detail
from jobruntime.web.gateway import Caller, Gateway
from jobruntime.web.jobs_api import job_class_of
from jobruntime.web.listing import base_url
from jobruntime.web.schedules_api import nested_schedule_body
from jobruntime.web.schemas import parse_run_body

NOT_ENABLED = "This job is not enabled to be run."
NOT_INSTALLED = "This job is not presently installed and cannot be run"
NO_SOURCE = "This job's source code could not be located and cannot be run"
SENSITIVE_SCHEDULE = "Unable to schedule job: Job may have sensitive input variables"
SENSITIVE_APPROVAL = (
    "Unable to run or schedule job: This job is flagged as possibly having sensitive variables but is also "
    "flagged as requiring approval.One of these two flags must be removed before this job can be scheduled or run."
)
NO_SCHEDULE_NAME = "Please provide a name for the job schedule."
NO_CRONTAB = "Please enter a valid crontab."
BAD_DATETIME = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
EARLIEST_START = dt.timedelta(seconds=15)  # a start time must be at least this far ahead, as Nautobot requires
SCHEDULED_FILES = "A scheduled run cannot take files: uploads are kept only for one run"
_TRUE = (True, 1, "true", "True", "TRUE", "1", "yes", "on")
_FALSE = (False, 0, "false", "False", "FALSE", "0", "no", "off")
_CONTROL = ("_commit", "_task_queue", "_schedule_name", "_schedule_start_time", "_schedule_interval",
            "_schedule_crontab")


@dataclass
class RunInput:
    """The body of a run request, in either content type, before the job's own rules apply."""

    data: dict[str, Any] = field(default_factory=dict)
    commit: bool | None = None
    task_queue: str | None = None
    schedule: dict[str, Any] | None = None
    files: dict[str, UploadFile] = field(default_factory=dict)
    multipart: bool = False

    def schedule_key(self, name: str) -> str:
        """Where an error about schedule field ``name`` goes: ``_schedule_<name>`` in a form, nested in JSON."""
        return f"_schedule_{name}" if self.multipart else name


def _boolean(name: str, value: Any) -> bool | None:
    """A boolean as Django REST framework reads one (``"true"``, ``1``...); null stays null."""
    if value is None or value == "":
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, {name: ["Must be a valid boolean."]})


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def parse_json(raw: bytes) -> Any:
    """A JSON body (empty: ``{}``); a parse error is a 400, as Nautobot's parser gives."""
    try:
        return json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, {"detail": f"JSON parse error - {exc}"}) from None


def requested_interval(body: Any) -> str:
    """The schedule interval a raw body asks for (``immediately`` when none), read before the body is validated."""
    if isinstance(body, dict):
        schedule = body.get("schedule")
        return schedule.get("interval", "immediately") if isinstance(schedule, dict) else "immediately"
    return body.get("_schedule_interval") or "immediately"


def parse_input(body: Any) -> RunInput:
    """The body as a RunInput; serializer-shaped 400s for wrong shapes."""
    if not isinstance(body, (dict, list, str, int, float, bool, type(None))):
        return _from_form(body)
    parsed = parse_run_body(body)
    schedule = parsed.schedule.model_dump(exclude_none=True) if parsed.schedule is not None else None
    return RunInput(data=parsed.data or {}, commit=parsed.commit, task_queue=parsed.task_queue or None,
                    schedule=schedule)


def _from_form(form: Any) -> RunInput:
    """Multipart: control keys start with ``_``; every other key is a variable; file parts are FileVars."""
    run = RunInput(multipart=True)
    unknown = [key for key in form.keys() if key.startswith("_") and key not in _CONTROL]
    if unknown:
        raise ApiError(400, {key: ["This field is not a known control field."] for key in unknown})
    run.commit = _boolean("_commit", form.get("_commit"))
    run.task_queue = form.get("_task_queue") or None
    schedule = {key[len("_schedule_"):]: form[key] for key in _CONTROL[2:] if key in form}
    run.schedule = schedule or None
    for key, value in form.multi_items():
        if key.startswith("_"):
            continue
        if isinstance(value, UploadFile):
            run.files[key] = value
        else:
            run.data[key] = value  # the last value wins, as QueryDict.dict() keeps it
    return run


def _authorize(gw: Gateway, caller: Caller, record: JobRecord) -> None:
    """403 with no run permission at all; 404 when the user may run only other jobs (as Nautobot hides them)."""
    if gw.may(caller, RUN_JOB, record):
        return
    gw.refused(caller.user.username, f"no run_job permission on {record.class_path}")
    if gw.has_any_grant(caller, RUN_JOB):
        raise detail(404, "Not found.")
    raise detail(403, "You do not have permission to perform this action.")


def _check_job(record: JobRecord, interval: str) -> None:
    """Steps 2-4: enabled, installed, and the sensitive-variables rules, before the body is validated."""
    if not record.enabled:
        raise detail(403, NOT_ENABLED)
    if not record.installed:
        raise detail(405, NOT_INSTALLED)
    if record.has_sensitive_variables:
        if interval != "immediately":
            raise ApiError(400, {"schedule": {"interval": [SENSITIVE_SCHEDULE]}})
        if record.approval_required:
            raise ApiError(400, [SENSITIVE_APPROVAL])


def _validate(gw: Gateway, job_class: type[Job], record: JobRecord, run: RunInput) -> tuple[bool, str | None]:
    """Steps 7-10: the schedule's fields, the commit flag, the task queue, then the job's own input rules."""
    if run.schedule is not None:
        _check_schedule(run, gw.settings.time_zone)
    commit = record.commit_default if run.commit is None else run.commit
    queues = valid_queues(record, gw.settings.default_queue)
    if run.task_queue is not None and run.task_queue not in queues:
        raise ApiError(400, {"task_queue": [f'"{run.task_queue}" is not a valid choice.']})
    variables = job_class.variables()
    _check_files(run, variables)
    try:
        with gw.session():
            cleaned = validate_data(variables, {**run.data, **{name: upload.file for name, upload in run.files.items()}})
            run.data = {**run.data, **{  # an object as its pk, as Nautobot stores it: a lookup may match another later
                name: serialize_value(variable, cleaned[name]) for name, variable in variables.items()
                if isinstance(variable, ObjectVar) and name in run.data}}
    except InputValidationError as exc:
        raise ApiError(400, {"errors": exc.as_dict()}) from None
    return commit, run.task_queue


class FilePart:
    """A multipart file part as the store reads an upload: streamed from its spooled copy, under the name it came with."""

    def __init__(self, part: UploadFile) -> None:
        self.name = part.filename or ""
        self._file = part.file

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)


def _check_files(run: RunInput, variables: dict[str, Any]) -> None:
    """Every file part names a FileVar of the job and comes alone (a variable is a file or a value, not both)."""
    errors = {name: ["This field is not a file input of this job."] for name in run.files
              if not isinstance(variables.get(name), FileVar)}
    errors.update({name: ["Give this file as a file part only."] for name in run.files if name in run.data})
    if errors:
        raise ApiError(400, {"errors": errors})
    if run.files and run.schedule is not None and run.schedule.get("interval", IMMEDIATELY) != IMMEDIATELY:
        raise ApiError(400, {run.schedule_key("interval"): [SCHEDULED_FILES]})


def _check_schedule(run: RunInput, time_zone: str) -> None:
    """Step 7 for ``schedule`` (or the ``_schedule_*`` form keys): Nautobot's messages, keyed as it keys them."""
    schedule = run.schedule or {}
    interval = schedule.get("interval")
    errors: dict[str, list[str]] = {}
    if interval is None:
        errors[run.schedule_key("interval")] = ["This field is required."]
    elif interval not in INTERVALS:
        errors[run.schedule_key("interval")] = [f'"{interval}" is not a valid choice.']
    elif interval != IMMEDIATELY:
        errors.update(_timing_errors(run, schedule, interval, time_zone))
    if errors:
        raise ApiError(400, errors if run.multipart else {"schedule": errors})


def _timing_errors(run: RunInput, schedule: dict[str, Any], interval: str, time_zone: str) -> dict[str, list[str]]:
    """The first of name, start time and crontab that is wrong, as Nautobot stops at the first."""
    if not schedule.get("name"):
        return {run.schedule_key("name"): [NO_SCHEDULE_NAME]}
    start = schedule.get("start_time") or None
    if start is not None:
        try:
            start_time = parse_start(start, zone(time_zone))
        except InvalidSchedule:
            return {run.schedule_key("start_time"): [BAD_DATETIME]}
        schedule["start_time"] = start_time.isoformat()
    if (start is None and interval != CUSTOM) or (start is not None and start_time < utcnow() + EARLIEST_START):
        return {run.schedule_key("start_time"): [PAST_START]}
    if interval == CUSTOM:
        if schedule.get("crontab") is None:
            return {run.schedule_key("crontab"): [NO_CRONTAB]}
        try:
            check_crontab(schedule["crontab"])
        except InvalidSchedule as exc:
            return {run.schedule_key("crontab"): [str(exc)]}
    return {}


def _schedule_wanted(record: JobRecord, run: RunInput) -> dict[str, Any] | None:
    """Step 12: an approval-required job always goes through a schedule; ``immediately`` alone does not."""
    schedule = run.schedule or {"interval": IMMEDIATELY}
    if record.approval_required or schedule["interval"] != IMMEDIATELY:
        return schedule
    return None


def _store_schedule(gw: Gateway, caller: Caller, record: JobRecord, run: RunInput, schedule: dict[str, Any],
                    commit: bool) -> ScheduledJob:
    """Step 13: the schedule, stored for the caller; no JobResult until it fires."""
    with gw.session() as session:
        user, current = session.get(User, caller.user.id), session.get(JobRecord, record.id)
        if user is None:
            raise detail(403, "User inactive or deleted.")
        if current is None:  # deleted since the checks
            raise detail(404, "Not found.")
        try:
            stored = create_schedule(  # the input was validated by _validate already
                session, current, user, interval=schedule["interval"], default_queue=gw.settings.default_queue,
                time_zone=gw.settings.time_zone, start=schedule.get("start_time"), crontab=schedule.get("crontab"),
                name=schedule.get("name") or None, data=run.data, commit=commit, task_queue=run.task_queue,
            )
        except (InvalidSchedule, InvalidQueue) as exc:
            raise ApiError(400, {"schedule": [str(exc)]}) from None
        except PermissionError as exc:
            raise detail(403, str(exc)) from None
        session.commit()
        session.refresh(stored)
        session.expunge(stored)
        return stored


async def _run(request: Request, job: str) -> tuple[Gateway, JobRecord, JobResult | ScheduledJob]:
    """The endpoint's work. Database and broker round trips run in a thread, so the event loop keeps taking
    other requests meanwhile; a JSON body takes one trip there, a form is read only once the caller may run."""
    gw: Gateway = request.app.state.gateway
    authorization = request.headers.get("authorization")
    if is_multipart(request):
        caller, record = await anyio.to_thread.run_sync(_caller_and_record, gw, authorization, job)
        form = await request.form()
        return gw, record, await anyio.to_thread.run_sync(_checked_run, gw, caller, record, form)
    raw = await request.body()

    def json_run() -> tuple[Gateway, JobRecord, JobResult | ScheduledJob]:
        caller, record = _caller_and_record(gw, authorization, job)
        return gw, record, _checked_run(gw, caller, record, parse_json(raw))

    return await anyio.to_thread.run_sync(json_run)


def _caller_and_record(gw: Gateway, authorization: str | None, job: str) -> tuple[Caller, JobRecord]:
    """The caller, and a snapshot of the Job record ``job`` names (UUID or class path): a fraction of an ORM load."""
    caller = gw.authenticate(authorization)
    with transaction(gw.runtime.autocommit_engine) as db:
        record = lookup_record(db, job)
    if record is None:
        raise detail(404, "Not found.")
    _authorize(gw, caller, record)
    return caller, record


def submit(
    gw: Gateway, caller: Caller, record: JobRecord, body: Any, files: dict[str, UploadFile] | None = None
) -> JobResult | ScheduledJob:
    """Check, record and publish one run as §4.4 orders it; every refusal is an ApiError with Nautobot's answer.

    The REST endpoints and the web form both come through here, so a person sees
    exactly the refusals a script gets. ``files`` are the web form's file inputs (a
    multipart body brings its own). Returns the pending run, or the schedule when the
    request is scheduled or the job needs approval.
    """
    _authorize(gw, caller, record)
    return _checked_run(gw, caller, record, body, files)


def _checked_run(
    gw: Gateway, caller: Caller, record: JobRecord, body: Any, files: dict[str, UploadFile] | None = None
) -> JobResult | ScheduledJob:
    _check_job(record, requested_interval(body))
    job_class = job_class_of(gw, record)
    if job_class is None:
        raise detail(405, NO_SOURCE)
    run = parse_input(body)
    run.files.update(files or {})
    commit, task_queue = _validate(gw, job_class, record, run)
    schedule = _schedule_wanted(record, run)
    if schedule is not None:
        return _store_schedule(gw, caller, record, run, schedule, commit)
    try:
        published = gw.request(caller, record.class_path, data=run.data, commit=commit, task_queue=task_queue,
                               files={name: FilePart(upload) for name, upload in run.files.items()} or None)
    except FileTooLarge as exc:
        raise detail(413, str(exc)) from None
    except StoreError as exc:
        raise detail(503, f"The file store cannot take the upload: {exc}") from None
    try:
        result = gw.publish(published, task_queue or valid_queues(record, gw.settings.default_queue)[0])
    except PublishRefused as exc:
        gw.discard_uploads(published)
        if isinstance(exc, NoWorkers):
            raise detail(503, f"Unable to process request: No celery workers running on queue {exc.queue}.") from None
        raise detail(503, str(exc)) from None
    if result is None:  # the job's record went between the checks and the publish
        raise detail(404, "Not found.")
    return result


async def run_job(request: Request) -> JSONResponse:
    """The current endpoint: 201 with the pending JobResult."""
    gw, _record, outcome = await _run(request, request.path_params["key"])
    return JSONResponse(run_body(outcome, base_url(request)), status_code=201)


def run_body(outcome: JobResult | ScheduledJob, base: str) -> dict[str, Any]:
    """Step 14: exactly one of ``schedule`` and ``job_result`` is set."""
    if isinstance(outcome, ScheduledJob):
        return {"schedule": nested_schedule_body(outcome, base), "job_result": None}
    return {"schedule": None, "job_result": nested_job_result_body(outcome, base)}


async def run_job_by_class_path(request: Request) -> JSONResponse:
    """The deprecated endpoint: 200 with the job class's description and the full JobResult."""
    gw, record, outcome = await _run(request, request.path_params["class_path"])
    result = outcome if isinstance(outcome, JobResult) else None
    job_class = job_class_of(gw, record)
    base = base_url(request)
    return JSONResponse({
        "id": record.class_path, "pk": str(record.id), "name": record.name, "description": record.description,
        "test_methods": declared_test_methods(job_class) if job_class else [],
        "vars": {name: type(variable).__name__ for name, variable in job_class.variables().items()}
        if job_class else {},
        "result": job_result_body(result, base) if result is not None else None,
    })
