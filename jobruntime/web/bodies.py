"""The JSON bodies of Nautobot 1.x's REST API for jobs, job results and job logs.

Field names and nesting follow Nautobot's serializers, so its clients (pynautobot,
Ansible's ``uri``, scripts) read them unchanged; a few fields of our own
(``reason``, ``started``, ``log_counts``) are added where Nautobot has none.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import URL

from jobruntime.authoring.job import LOG_LEVELS
from jobruntime.models import JOB_OVERRIDABLE_FIELDS, JobLogEntry, JobResult, User
from jobruntime.models import Job as JobRecord

API_VERSION = "1.3"  # the newest REST API version of Nautobot 1.x: clients pick the job-UUID run endpoint from it


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _status(status: str) -> dict[str, str]:
    return {"value": status, "label": status.capitalize()}


def user_body(user: User | None, base: str) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": str(user.id), "url": f"{base}/api/users/users/{user.id}/", "username": user.username,
            "display": user.username}


def job_url(record: JobRecord, base: str) -> str:
    return f"{base}/api/extras/jobs/{record.id}/"


def nested_job_body(record: JobRecord | None, base: str) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"id": str(record.id), "url": job_url(record, base), "display": record.name, "name": record.name,
            "slug": record.slug}


def job_body(record: JobRecord, base: str) -> dict[str, Any]:
    overrides = {f"{name}_override": getattr(record, f"{name}_override") for name in JOB_OVERRIDABLE_FIELDS}
    return {
        "id": str(record.id),
        "url": job_url(record, base),
        "display": record.name,
        "source": record.source,
        "module_name": record.module_name,
        "job_class_name": record.job_class_name,
        "class_path": record.class_path,
        "slug": record.slug,
        **{name: getattr(record, name) for name in JOB_OVERRIDABLE_FIELDS},
        **overrides,
        "installed": record.installed,
        "enabled": record.enabled,
        "is_job_hook_receiver": record.is_job_hook_receiver,
        "is_job_button_receiver": False,
        "created": _iso(record.created),
        "last_updated": _iso(record.last_updated),
        "custom_fields": {},
        "tags": [],
    }


def job_result_url(result_id: Any, base: str) -> str:
    return f"{base}/api/extras/job-results/{result_id}/"


def nested_job_result_body(result: JobResult, base: str) -> dict[str, Any]:
    """The ``job_result`` of a run endpoint's 201 answer (Nautobot's nested JobResult)."""
    return {
        "id": str(result.id), "url": job_result_url(result.id, base), "display": result.name, "name": result.name,
        "created": _iso(result.created), "completed": _iso(result.completed),
        "user": user_body(result.user, base), "status": _status(result.status),
    }


def job_result_body(result: JobResult, base: str) -> dict[str, Any]:
    return {
        **nested_job_result_body(result, base),
        "obj_type": "extras.job",
        "job_model": nested_job_body(result.job_model, base),
        "job_id": str(result.job_model_id) if result.job_model_id else None,
        "started": _iso(result.started),
        "reason": result.reason,
        "task_queue": result.task_queue,
        "data": result.data,
        "job_kwargs": result.job_kwargs,
        "schedule": None,
        "log_counts": {level: getattr(result, f"log_{level}") for level in LOG_LEVELS},
        "custom_fields": {},
    }


def log_entry_body(entry: JobLogEntry, base: str) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "url": f"{base}/api/extras/job-logs/{entry.id}/",
        "display": entry.message[:100],
        "absolute_url": entry.absolute_url,
        "created": _iso(entry.created),
        "grouping": entry.grouping,
        "job_result": str(entry.job_result_id),
        "log_level": entry.log_level,
        "log_object": entry.log_object,
        "message": entry.message,
    }


def page(results: list[dict[str, Any]], count: int, url: str, limit: int, offset: int) -> dict[str, Any]:
    """Nautobot's pagination envelope; ``url`` is the request's URL, whose limit/offset are replaced."""

    def at(new_offset: int) -> str:
        return str(URL(url).include_query_params(limit=limit, offset=new_offset))

    return {
        "count": count,
        "next": at(offset + limit) if offset + limit < count else None,
        "previous": (at(max(offset - limit, 0)) if offset > 0 else None),
        "results": results,
    }
