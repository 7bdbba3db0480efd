"""``/api/extras/job-hooks/``: job hooks, with the rules ``jobruntime hooks create`` checks (JOBS-REFERENCE §7.1).

Any signed-in user may read hooks. Creating, changing or deleting one needs
``change_job`` on its receiver job (on both jobs when a change moves it), the
permission that already governs how a job is configured: a hook decides when
that job runs.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jobruntime.changes.hooks import InvalidJobHook, check_hook
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobHook, ValidationError, bind_session
from jobruntime.run.auth import CHANGE_JOB
from jobruntime.web.bodies import nested_job_body, page
from jobruntime.web.errors import NOT_FOUND, ApiError, detail
from jobruntime.web.gateway import Caller, Gateway
from jobruntime.web.listing import base_url, flag, pagination
from jobruntime.web.schemas import JobHookBody, parse_body

NO_PERMISSION = "You do not have permission to perform this action."
REQUIRED = ("name", "content_types", "job")
FLAGS = ("enabled", "type_create", "type_update", "type_delete")


def hook_body(hook: JobHook, base: str) -> dict[str, Any]:
    """Nautobot's JobHook serialisation (content types as ``app_label.model`` strings)."""
    return {
        "id": str(hook.id), "url": f"{base}/api/extras/job-hooks/{hook.id}/", "display": hook.name,
        "name": hook.name, "slug": hook.slug, "content_types": list(hook.content_types),
        "job": nested_job_body(hook.job, base), "enabled": hook.enabled, "type_create": hook.type_create,
        "type_update": hook.type_update, "type_delete": hook.type_delete, "custom_fields": {},
    }


def _find(session: Session, key: str) -> JobHook:
    try:
        hook_id = uuid.UUID(key)
    except ValueError:
        raise detail(404, NOT_FOUND) from None
    hook = session.scalars(sa.select(JobHook).where(JobHook.id == hook_id).options(selectinload(JobHook.job))).first()
    if hook is None:
        raise detail(404, NOT_FOUND)
    return hook


def _receiver(session: Session, key: str) -> JobRecord:
    """The job a body names by UUID; DRF's message for one that does not exist."""
    try:
        record = session.get(JobRecord, uuid.UUID(key))
    except ValueError:
        record = None
    if record is None:
        raise ApiError(400, {"job": [f'Invalid pk "{key}" - object does not exist.']})
    return record


def _may_change(gw: Gateway, caller: Caller, record: JobRecord) -> None:
    if not gw.may(caller, CHANGE_JOB, record):
        gw.refused(caller.user.username, f"no change_job permission on {record.class_path} for a job hook")
        raise detail(403, NO_PERMISSION)


def _save(session: Session, hook: JobHook) -> None:
    """The CLI's checks, then the model's own (length, unique name); each failure a 400 keyed by field."""
    try:
        with bind_session(session):
            check_hook(session, hook)
            hook.validated_save()
    except InvalidJobHook as exc:
        session.rollback()
        raise ApiError(400, {exc.field: [str(exc)]}) from None
    except ValidationError as exc:
        session.rollback()
        args = exc.args[0] if exc.args else None
        raise ApiError(400, exc.message_dict if isinstance(args, dict) else {"non_field_errors": exc.messages}) from None
    session.commit()


def _apply(gw: Gateway, caller: Caller, session: Session, hook: JobHook, body: JobHookBody) -> None:
    if body.job is not None:
        record = _receiver(session, body.job)
        _may_change(gw, caller, record)
        hook.job = record
    if body.name is not None:
        hook.name = body.name
    if body.content_types is not None:
        hook.content_types = [label.strip().lower() for label in body.content_types]
    for name in FLAGS:
        value = getattr(body, name)
        if value is not None:
            setattr(hook, name, value)


def list_hooks(request: Request) -> JSONResponse:
    """Hooks by name, paginated; ``?enabled=`` filters."""
    gw: Gateway = request.app.state.gateway
    gw.caller_of(request)
    limit, offset = pagination(request)
    query = sa.select(JobHook)
    enabled = flag(request, "enabled")
    if enabled is not None:
        query = query.where(JobHook.enabled.is_(enabled))
    query = query.order_by(JobHook.name)
    with gw.session() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        rows = session.scalars(query.options(selectinload(JobHook.job)).limit(limit).offset(offset))
        results = [hook_body(hook, base_url(request)) for hook in rows]
    return JSONResponse(page(results, count or 0, str(request.url), limit, offset))


def get_hook(request: Request) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    gw.caller_of(request)
    with gw.session() as session:
        return JSONResponse(hook_body(_find(session, request.path_params["key"]), base_url(request)))


def create_hook(request: Request, raw: Any) -> JSONResponse:
    """201 with the new hook; ``enabled`` defaults to true and each ``type_*`` to false, as Nautobot's."""
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    body = parse_body(JobHookBody, raw)
    missing = [name for name in REQUIRED if getattr(body, name) in (None, "", [])]
    if missing:
        raise ApiError(400, {name: ["This field is required."] for name in missing})
    with gw.session() as session:
        hook = JobHook(enabled=True, type_create=False, type_update=False, type_delete=False)
        _apply(gw, caller, session, hook, body)
        _save(session, hook)
        return JSONResponse(hook_body(_find(session, str(hook.id)), base_url(request)), status_code=201)


def patch_hook(request: Request, raw: Any) -> JSONResponse:
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    body = parse_body(JobHookBody, raw)
    with gw.session() as session:
        hook = _find(session, request.path_params["key"])
        _may_change(gw, caller, hook.job)
        _apply(gw, caller, session, hook, body)
        _save(session, hook)
        session.expire_all()
        return JSONResponse(hook_body(_find(session, str(hook.id)), base_url(request)))


def delete_hook(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    caller = gw.authenticate(request.headers.get("authorization"))
    with gw.session() as session:
        hook = _find(session, request.path_params["key"])
        _may_change(gw, caller, hook.job)
        session.delete(hook)
        session.commit()
    return Response(status_code=204)
