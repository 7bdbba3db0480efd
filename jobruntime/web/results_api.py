"""``/api/extras/job-results/`` and ``/api/extras/job-logs/``: runs and their log entries.

A user sees the results of their own runs; superusers see every run. Another
user's result answers 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jobruntime.core.parsing import as_uuid
from jobruntime.core.statuses import TERMINAL_STATUSES
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobLogEntry, JobResult, User
from jobruntime.web.bodies import job_result_body, log_entry_body, page
from jobruntime.web.errors import NOT_FOUND, ApiError, detail
from jobruntime.web.gateway import Caller, Gateway
from jobruntime.web.listing import base_url, pagination

ORDERINGS = {"created": JobResult.created, "completed": JobResult.completed, "name": JobResult.name,
             "status": JobResult.status}


def visible(query: Any, caller: Caller) -> Any:
    """Restrict a JobResult query to what the caller may see."""
    return query if caller.user.is_superuser else query.where(JobResult.user_id == caller.user.id)


def _uuid(value: str, name: str) -> uuid.UUID:
    found = as_uuid(value)
    if found is None:
        raise ApiError(400, {name: [f"“{value}” is not a valid UUID."]})
    return found


def find_result(session: Any, caller: Caller, key: str) -> JobResult:
    result_id = as_uuid(key)
    if result_id is None:
        raise detail(404, NOT_FOUND)
    query = visible(sa.select(JobResult).where(JobResult.id == result_id), caller)
    result = session.scalars(query.options(selectinload(JobResult.user), selectinload(JobResult.job_model))).first()
    if result is None:
        raise detail(404, NOT_FOUND)
    return result


def list_results(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    limit, offset = pagination(request)
    params = request.query_params
    query = visible(sa.select(JobResult), caller)
    if "status" in params:
        query = query.where(JobResult.status.in_(params.getlist("status")))
    if "job_model" in params:
        job_models = params.getlist("job_model")
        ids = [found for found in map(as_uuid, job_models) if found is not None]
        query = query.where(JobResult.job_model_id.in_(
            sa.select(JobRecord.id).where(sa.or_(JobRecord.id.in_(ids), JobRecord.slug.in_(job_models)))))
    if "job_model_id" in params:
        query = query.where(JobResult.job_model_id == _uuid(params["job_model_id"], "job_model_id"))
    if "user" in params:
        users = params.getlist("user")
        ids = [found for found in map(as_uuid, users) if found is not None]
        query = query.where(JobResult.user_id.in_(
            sa.select(User.id).where(sa.or_(User.id.in_(ids), User.username.in_(users)))))
    ordering = params.get("ordering", "-created")
    column = ORDERINGS.get(ordering.lstrip("-"))
    if column is None:
        raise ApiError(400, {"ordering": [f"Ordering by {ordering!r} is not available; use one of "
                                          f"{', '.join(sorted(ORDERINGS))}, with - for descending."]})
    query = query.order_by(column.desc() if ordering.startswith("-") else column, JobResult.id)
    with gw.session() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = session.scalars(query.options(selectinload(JobResult.user), selectinload(JobResult.job_model))
                               .limit(limit).offset(offset))
        results = [job_result_body(result, base_url(request)) for result in rows]
    return JSONResponse(page(results, count or 0, str(request.url), limit, offset))


def get_result(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    with gw.session() as session:
        return JSONResponse(job_result_body(find_result(session, caller, request.path_params["key"]),
                                            base_url(request)))


def delete_result(request: Request) -> Response:
    """Delete a finished run and its log; a run still pending or running must be cancelled first."""
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    with gw.session() as session:
        result = find_result(session, caller, request.path_params["key"])
        if result.status not in TERMINAL_STATUSES:
            raise ApiError(409, {"detail": f"Job result {result.id} is {result.status}; cancel it first "
                                           f"(jobruntime results cancel {result.id})"})
        session.delete(result)
        session.commit()
    return Response(status_code=204)


def _log_query(result_id: uuid.UUID) -> Any:
    return sa.select(JobLogEntry).where(JobLogEntry.job_result_id == result_id).order_by(JobLogEntry.seq)


def result_logs(request: Request) -> JSONResponse:
    """Every log entry of one run, in the order they were logged (not paginated, as Nautobot's action)."""
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    with gw.session() as session:
        result = find_result(session, caller, request.path_params["key"])
        entries = session.scalars(_log_query(result.id))
        return JSONResponse([log_entry_body(entry, base_url(request)) for entry in entries])


def list_logs(request: Request) -> JSONResponse:
    """``/api/extras/job-logs/?job_result=<id>``: one run's entries, paginated."""
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    limit, offset = pagination(request)
    key = request.query_params.get("job_result")
    if key is None:
        raise ApiError(400, {"job_result": ["Give the job result whose log entries you want: ?job_result=<id>"]})
    with gw.session() as session:
        result = find_result(session, caller, str(_uuid(key, "job_result")))
        query = _log_query(result.id)
        count = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        entries = session.scalars(query.limit(limit).offset(offset))
        results = [log_entry_body(entry, base_url(request)) for entry in entries]
    return JSONResponse(page(results, count or 0, str(request.url), limit, offset))
