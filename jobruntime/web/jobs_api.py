"""``/api/extras/jobs/``: the Job records, their variables, and admins' changes to them."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from jobruntime.authoring.discovery import JobNotFound
from jobruntime.authoring.job import Job
from jobruntime.authoring.records import JobRecordError, set_override
from jobruntime.authoring.variables import ChoiceVar, ObjectVar, ScriptVariable
from jobruntime.core.parsing import as_uuid
from jobruntime.models import JOB_OVERRIDABLE_FIELDS
from jobruntime.models import Job as JobRecord
from jobruntime.run.auth import CHANGE_JOB
from jobruntime.sources.pinning import load_current_class
from jobruntime.sources.remote import GitError
from jobruntime.web.bodies import job_body, page
from jobruntime.web.errors import NOT_FOUND, ApiError, detail
from jobruntime.web.gateway import Gateway
from jobruntime.web.listing import base_url, flag, pagination

FILTERS = ("installed", "enabled", "is_job_hook_receiver", "hidden", "read_only", "approval_required",
           "commit_default", "has_sensitive_variables")


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def list_jobs(request: Request) -> JSONResponse:
    gw = gateway(request)
    gw.authenticate(request.headers.get("authorization"))
    limit, offset = pagination(request)
    query = sa.select(JobRecord)
    for name in FILTERS:
        wanted = flag(request, name)
        if wanted is not None:
            query = query.where(getattr(JobRecord, name) == wanted)
    for name in ("grouping", "module_name", "job_class_name", "slug", "name", "source"):
        if name in request.query_params:
            query = query.where(getattr(JobRecord, name) == request.query_params[name])
    with gw.session() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        records = session.scalars(query.order_by(JobRecord.grouping, JobRecord.name).limit(limit).offset(offset))
        results = [job_body(record, base_url(request)) for record in records]
    return JSONResponse(page(results, count or 0, str(request.url), limit, offset))


def find_job(session: Any, key: str) -> JobRecord:
    """The Job record a URL names by UUID; 404 as Nautobot answers for anything else."""
    job_id = as_uuid(key)
    record = session.get(JobRecord, job_id) if job_id is not None else None
    if record is None:
        raise detail(404, NOT_FOUND)
    return record


def get_job(request: Request) -> JSONResponse:
    gw = gateway(request)
    gw.authenticate(request.headers.get("authorization"))
    with gw.session() as session:
        return JSONResponse(job_body(find_job(session, request.path_params["key"]), base_url(request)))


def job_class_of(gw: Gateway, record: JobRecord) -> type[Job] | None:
    """The record's class, or None when its code cannot be loaded now."""
    try:
        with gw.runtime.session() as session:  # its own: callers may hold the bound session mid-write
            return load_current_class(session, gw.settings, record.class_path)
    except (JobNotFound, ValueError, FileNotFoundError, ImportError, GitError):
        return None


def variable_body(name: str, variable: ScriptVariable) -> dict[str, Any]:
    """One entry of the variables endpoint: name and type, plus whichever options are set."""
    body: dict[str, Any] = {"name": name, "type": type(variable).__name__, "required": variable.required}
    if variable.label:
        body["label"] = variable.label
    if variable.description:
        body["help_text"] = variable.description
    for option in ("min_length", "max_length", "min_value", "max_value"):
        if getattr(variable, option, None) is not None:
            body[option] = getattr(variable, option)
    if isinstance(variable, ChoiceVar):
        body["choices"] = [[value, label] for value, label in variable.choices]
    if isinstance(variable, ObjectVar) and variable.model is not None:
        body["model"] = variable.model._meta_label
    if variable.default is not None:
        body["default"] = variable.default if isinstance(variable.default, (str, int, float, bool, list)) \
            else str(variable.default)
    return body


def job_variables(request: Request) -> JSONResponse:
    gw = gateway(request)
    gw.authenticate(request.headers.get("authorization"))
    with gw.session() as session:
        record = find_job(session, request.path_params["key"])
        job_class = job_class_of(gw, record)
    if job_class is None:
        raise detail(405, "This job's source code could not be located and cannot be run")
    return JSONResponse([variable_body(name, variable) for name, variable in job_class.variables().items()])


def _as_setting(name: str, value: Any) -> str:
    """A JSON value in the text form Job record overrides are parsed from (see ``records.set_override``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, (int, float, str)):
        return str(value)
    raise JobRecordError(f"{name} cannot be set to {json.dumps(value)}")


def patch_job(request: Request, body: Any) -> JSONResponse:
    """Change ``enabled`` and overridable fields; ``<field>_override: false`` restores the code's value."""
    gw = gateway(request)
    caller = gw.authenticate(request.headers.get("authorization"))
    if not isinstance(body, dict):
        raise ApiError(400, {"non_field_errors": ["Invalid data. Expected a dictionary."]})
    with gw.session() as session:
        record = find_job(session, request.path_params["key"])
        if not gw.may(caller, CHANGE_JOB, record):
            gw.refused(caller.user.username, f"no change_job permission on {record.class_path}")
            raise detail(403, "You do not have permission to perform this action.")
        errors = apply_change(session, gw, record, body)
        if errors:
            session.rollback()
            raise ApiError(400, errors)
        session.commit()
        return JSONResponse(job_body(record, base_url(request)))


def apply_change(session: Any, gw: Gateway, record: JobRecord, body: dict[str, Any]) -> dict[str, list[str]]:
    """Apply a PATCH body to ``record`` in ``session``; the problems by field name (empty: all applied).

    The caller commits or rolls back, so a change with any problem changes nothing.
    """
    errors: dict[str, list[str]] = {}
    for name, value in body.items():
        try:
            _apply(session, gw, record, name, value)
        except JobRecordError as exc:
            errors.setdefault(name, []).append(str(exc))
    return errors


def _apply(session: Any, gw: Gateway, record: JobRecord, name: str, value: Any) -> None:
    if name == "enabled":
        if not isinstance(value, bool):
            raise JobRecordError("enabled takes true or false")
        record.enabled = value
    elif name in JOB_OVERRIDABLE_FIELDS:
        set_override(session, record, name, _as_setting(name, value))
    elif name.endswith("_override") and name[: -len("_override")] in JOB_OVERRIDABLE_FIELDS:
        if value is False:
            set_override(session, record, name[: -len("_override")], None, job_class_of(gw, record))
        elif value is not True:
            raise JobRecordError(f"{name} takes true or false")
    # Unknown keys are ignored, as Nautobot's serializers ignore read-only and unknown fields.
