"""JSON views of JobResults and their log entries, shared by the CLI and result events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jobruntime.authoring.job import LOG_LEVELS
from jobruntime.models import JobLogEntry, JobResult


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def log_entry_json(entry: JobLogEntry) -> dict[str, Any]:
    return {
        "created": _iso(entry.created),
        "grouping": entry.grouping,
        "log_level": entry.log_level,
        "message": entry.message,
        "log_object": entry.log_object,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "absolute_url": entry.absolute_url,
    }


def job_result_json(result: JobResult, logs: Iterable[JobLogEntry] | None = None) -> dict[str, Any]:
    """The JobResult as ``runjob --json`` and ``results show --json`` print it."""
    data = result.data or {}
    body: dict[str, Any] = {
        "id": str(result.id),
        "job": result.name,
        "status": result.status,
        "reason": result.reason,
        "user": result.user.username if result.user is not None else None,
        "created": _iso(result.created),
        "started": _iso(result.started),
        "completed": _iso(result.completed),
        "duration": result.duration,
        "task_queue": result.task_queue,
        "schedule": str(result.schedule_id) if result.schedule_id is not None else None,
        "source": result.source,
        "output": data.get("output"),
        "files": data.get("files", []),
        "data": result.data,
        "log_counts": {level: getattr(result, f"log_{level}") for level in LOG_LEVELS},
    }
    if logs is not None:
        body["logs"] = [log_entry_json(entry) for entry in logs]
    return body
