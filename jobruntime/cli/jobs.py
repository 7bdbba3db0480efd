"""Job records: list, inspect, enable, override fields, print the input form schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobruntime.models import Job as JobRecord


@click.group()
def jobs() -> None:
    """Manage Job records."""


def _record(session: Session, class_path: str) -> JobRecord:
    from jobruntime.authoring.discovery import InvalidClassPath
    from jobruntime.authoring.records import find_record

    try:
        record = find_record(session, class_path)
    except InvalidClassPath as exc:
        raise CommandError(str(exc)) from exc
    if record is None:
        raise CommandError(f'Job "{class_path}" not found (run `jobruntime sync` after adding a job file)')
    return record


def _describe(record: JobRecord) -> dict[str, Any]:
    from jobruntime.models import JOB_OVERRIDABLE_FIELDS

    return {
        "id": str(record.id),
        "class_path": record.class_path,
        "slug": record.slug,
        "enabled": record.enabled,
        "installed": record.installed,
        **{name: getattr(record, name) for name in JOB_OVERRIDABLE_FIELDS},
        "overridden": [name for name in JOB_OVERRIDABLE_FIELDS if getattr(record, f"{name}_override")],
    }


@jobs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_jobs(as_json: bool) -> None:
    """List Job records by grouping and name."""
    from sqlalchemy import select

    from jobruntime.models import Job as JobRecord

    runtime = get_runtime()
    with runtime.session() as session:
        records = list(session.scalars(select(JobRecord).order_by(JobRecord.grouping, JobRecord.name)))
        if as_json:
            echo_json([_describe(record) for record in records])
            return
        from jobruntime.cli.tables import print_table

        print_table(
            ("class_path", "grouping", "name", "enabled", "installed", "summary"),
            [
                (record.class_path, record.grouping, record.name, str(record.enabled), str(record.installed),
                 record.description.splitlines()[0] if record.description else "")
                for record in records
            ],
        )


@jobs.command("show")
@click.argument("class_path")
def show(class_path: str) -> None:
    """Print a Job record as JSON."""
    runtime = get_runtime()
    with runtime.session() as session:
        echo_json(_describe(_record(session, class_path)))


def _set_enabled(class_path: str, enabled: bool) -> None:
    runtime = get_runtime()
    with runtime.session() as session:
        _record(session, class_path).enabled = enabled
        session.commit()
    click.echo(f"{class_path} {'enabled' if enabled else 'disabled'}")


@jobs.command("enable")
@click.argument("class_path")
def enable(class_path: str) -> None:
    """Allow a job to run."""
    _set_enabled(class_path, True)


@jobs.command("disable")
@click.argument("class_path")
def disable(class_path: str) -> None:
    """Stop a job from running."""
    _set_enabled(class_path, False)


@jobs.command("set")
@click.argument("class_path")
@click.argument("field")
@click.argument("value", required=False)
@click.option("--clear", is_flag=True, help="Remove the override and go back to the value in the code.")
def set_field(class_path: str, field: str, value: str | None, clear: bool) -> None:
    """Override FIELD of a Job record (kept across `jobruntime sync`)."""
    from jobruntime.authoring.discovery import JobNotFound, load_job_class
    from jobruntime.authoring.records import JobRecordError, set_override

    if value is None and not clear:
        raise CommandError("Give a VALUE, or --clear to remove the override")
    runtime = get_runtime()
    with runtime.session() as session:
        record = _record(session, class_path)
        job_class = None
        if clear:
            try:
                job_class = load_job_class(class_path, runtime.settings.jobs_root)
            except JobNotFound:
                job_class = None
        try:
            set_override(session, record, field, None if clear else value, job_class)
        except JobRecordError as exc:
            raise CommandError(str(exc)) from exc
        session.commit()
        click.echo(f"{class_path}: {field} = {getattr(record, field)!r}{'' if clear else ' (overridden)'}")


@jobs.command("schema")
@click.argument("class_path")
def schema(class_path: str) -> None:
    """Print the JSON Schema of a job's input form."""
    from jobruntime.authoring.discovery import InvalidClassPath, JobNotFound, load_job_class

    runtime = get_runtime()
    try:
        job_class = load_job_class(class_path, runtime.settings.jobs_root)
    except (InvalidClassPath, JobNotFound, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from exc
    echo_json(job_class.form_schema())
