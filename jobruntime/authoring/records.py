"""Job records: the database rows that describe installed Job classes.

``sync`` creates a record for each new class (disabled until an admin enables
it), refreshes the class-owned fields of existing ones, and marks vanished
classes ``installed=False``. Admin overrides (``<field>_override``) survive.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from jobruntime.authoring.discovery import Discovery, InvalidClassPath, split_class_path
from jobruntime.authoring.job import Job
from jobruntime.core.errors import RefusalError
from jobruntime.core.parsing import parse_flag
from jobruntime.core.settings import MAX_TIME_LIMIT
from jobruntime.core.text import slugify
from jobruntime.models import JOB_OVERRIDABLE_FIELDS
from jobruntime.models import Job as JobRecord
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, as_model


class JobRecordError(RefusalError, ValueError):
    """An admin change to a Job record that cannot be applied."""


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    uninstalled: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def class_values(job_class: type[Job]) -> dict[str, Any]:
    """The overridable fields as the class's code defines them."""
    meta = job_class.meta()
    return {
        "grouping": job_class.job_grouping()[:255],
        "name": meta.name[:100],
        "description": meta.description,
        "commit_default": bool(meta.commit_default),
        "hidden": bool(meta.hidden),
        "read_only": bool(meta.read_only),
        "approval_required": bool(meta.approval_required),
        "soft_time_limit": meta.soft_time_limit,
        "time_limit": meta.time_limit,
        "has_sensitive_variables": bool(meta.has_sensitive_variables),
        "task_queues": list(meta.task_queues),
    }


_RECORDS = JobRecord.__table__
BY_CLASS_PATH = (
    _RECORDS.c.source == bindparam("source"),
    _RECORDS.c.module_name == bindparam("module_name"),
    _RECORDS.c.job_class_name == bindparam("class_name"),
)
_SNAPSHOT_BY_CLASS_PATH = Prebuilt(select(_RECORDS).where(*BY_CLASS_PATH))
_SNAPSHOT_BY_ID = Prebuilt(select(_RECORDS).where(_RECORDS.c.id == bindparam("id")))


def class_path_parameters(class_path: str) -> dict[str, str]:
    """The bind parameters of ``BY_CLASS_PATH``; raises InvalidClassPath for a malformed one."""
    source, module_name, class_name = split_class_path(class_path)
    return {"source": source, "module_name": module_name, "class_name": class_name}


def find_record(session: Session, class_path: str) -> JobRecord | None:
    """The Job record of ``class_path`` in ``session``, to change it; raises InvalidClassPath for a malformed one."""
    return session.scalars(select(JobRecord).where(*BY_CLASS_PATH), class_path_parameters(class_path)).first()


def record_parameters(job: str) -> dict[str, Any] | None:
    """Bind parameters finding the record ``job`` names: ``{"id": ...}`` for a UUID, else ``BY_CLASS_PATH``'s.

    None for a name that is neither (a malformed class path).
    """
    try:
        return {"id": uuid.UUID(job)}
    except ValueError:
        try:
            return class_path_parameters(job)
        except InvalidClassPath:
            return None


def lookup_record(db: DriverConnection, job: str) -> JobRecord | None:
    """A detached snapshot of the record a run names, by record UUID or class_path; None if there is none.

    The run path reads records this way (see ``prebuilt.as_model``): a snapshot costs a
    fraction of an ORM load.
    """
    parameters = record_parameters(job)
    if parameters is None:
        return None
    row = (_SNAPSHOT_BY_ID if "id" in parameters else _SNAPSHOT_BY_CLASS_PATH).first(db, parameters)
    return None if row is None else as_model(JobRecord, row)


def _grouping_name_taken(session: Session, record: JobRecord) -> JobRecord | None:
    query = select(JobRecord).where(JobRecord.grouping == record.grouping, JobRecord.name == record.name)
    if record.id is not None:
        query = query.where(JobRecord.id != record.id)
    return session.scalars(query).first()


def refresh_record(session: Session, job_class: type[Job]) -> tuple[JobRecord, bool]:
    """Create or refresh one class's record; raises JobRecordError on a (grouping, name) clash."""
    class_path = job_class.class_path()
    record = find_record(session, class_path)
    created = record is None
    if record is None:
        source, module_name, class_name = split_class_path(class_path)
        record = JobRecord(source=source, module_name=module_name[:100], job_class_name=class_name[:100], enabled=False)
        record.slug = slugify(record.slug_basis)[:320]
    with session.no_autoflush:
        for name, value in class_values(job_class).items():
            if created or not getattr(record, f"{name}_override"):
                setattr(record, name, value)
        clash = _grouping_name_taken(session, record)
    if clash is not None:
        if not created:
            session.expire(record)
        raise JobRecordError(
            f'Job "{record.grouping}: {record.name}" ({class_path}) has the same grouping and name as '
            f"{clash.class_path}; rename one of them (Meta.name or the module-level name)"
        )
    record.installed = True
    record.is_job_hook_receiver = job_class.is_job_hook_receiver
    session.add(record)
    session.flush()
    return record, created


def sync(session: Session, discovery: Discovery, sources: Collection[str] = ("local", "plugins")) -> SyncReport:
    """Bring the Job records of ``sources`` in line with the discovered classes; the caller commits.

    Records of other sources (each Git repository is synced on its own) are left alone.
    """
    report = SyncReport(errors=dict(discovery.errors))
    seen: set[str] = set()
    for class_path, job_class in discovery.jobs.items():
        try:
            _record, created = refresh_record(session, job_class)
        except JobRecordError as exc:
            report.errors[class_path] = str(exc)
            continue
        seen.add(class_path)
        (report.created if created else report.refreshed).append(class_path)
    installed = select(JobRecord).where(JobRecord.installed.is_(True), JobRecord.source.in_(list(sources)))
    for record in session.scalars(installed):
        if record.class_path not in seen and record.class_path not in report.errors:
            record.installed = False
            report.uninstalled.append(record.class_path)
    session.flush()
    return report


def _parse_value(field_name: str, raw: str) -> Any:
    if field_name in ("commit_default", "hidden", "read_only", "approval_required", "has_sensitive_variables"):
        try:
            return parse_flag(raw)
        except ValueError:
            raise JobRecordError(f"{field_name} takes true or false, not {raw!r}") from None
    if field_name in ("soft_time_limit", "time_limit"):
        try:
            value = float(raw)
        except ValueError:
            raise JobRecordError(f"{field_name} takes a number of seconds, not {raw!r}") from None
        if not 0 <= value <= MAX_TIME_LIMIT:  # NaN fails too; infinity would break the worker's deadline
            raise JobRecordError(
                f"{field_name} takes 0 (use the default) to {MAX_TIME_LIMIT} seconds (7 days), not {raw!r}"
            )
        return value
    if field_name == "task_queues":
        text = raw.strip()
        queues = json.loads(text) if text.startswith("[") else [q.strip() for q in text.split(",") if q.strip()]
        if not all(isinstance(q, str) and 0 < len(q) <= 100 for q in queues):
            raise JobRecordError("task_queues takes queue names of 1 to 100 characters")
        return queues
    limit = {"grouping": 255, "name": 100}.get(field_name)
    if limit and not 0 < len(raw) <= limit:
        raise JobRecordError(f"{field_name} must be 1 to {limit} characters")
    return raw


def set_override(
    session: Session, record: JobRecord, field_name: str, raw: str | None, job_class: type[Job] | None = None
) -> None:
    """Override a class-owned field; ``raw=None`` clears the override and restores the code value."""
    if field_name not in JOB_OVERRIDABLE_FIELDS:
        raise JobRecordError(f"{field_name} cannot be overridden; choose one of: {', '.join(JOB_OVERRIDABLE_FIELDS)}")
    if raw is None:
        setattr(record, f"{field_name}_override", False)
        if job_class is not None:
            setattr(record, field_name, class_values(job_class)[field_name])
        return
    setattr(record, field_name, _parse_value(field_name, raw))
    setattr(record, f"{field_name}_override", True)
    if record.has_sensitive_variables and record.approval_required:
        raise JobRecordError("A job that may have sensitive variables cannot be marked as requiring approval")
    if field_name in ("grouping", "name") and _grouping_name_taken(session, record) is not None:
        raise JobRecordError(f'Another job is already named "{record.grouping}: {record.name}"')
