"""Reading JobResults back: list, show, logs."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime
from jobruntime.core.statuses import RESULT_STATUSES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobruntime.models import JobLogEntry, JobResult


@click.group()
def results() -> None:
    """Inspect job results."""


def _result_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise CommandError(f"{raw!r} is not a JobResult id (a UUID)") from exc


def _find_result(session: Session, raw: str) -> JobResult:
    from jobruntime.models import JobResult

    result = session.get(JobResult, _result_id(raw))
    if result is None:
        raise CommandError(f"No JobResult {raw}")
    return result


def log_entries(session: Session, result_id: uuid.UUID) -> list[JobLogEntry]:
    """A run's log in the order the job wrote it: ``seq``, since entries can share a timestamp."""
    from sqlalchemy import select

    from jobruntime.models import JobLogEntry

    query = select(JobLogEntry).where(JobLogEntry.job_result_id == result_id).order_by(JobLogEntry.seq)
    return list(session.scalars(query))


@results.command("list")
@click.option("--limit", default=20, show_default=True, help="How many of the newest results.")
@click.option("--status", type=click.Choice(RESULT_STATUSES), help="Only results with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_results(limit: int, status: str | None, as_json: bool) -> None:
    """List the newest results (counts come from the result row, not the log table)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from jobruntime.models import JobResult
    from jobruntime.run.serializers import job_result_json

    runtime = get_runtime()
    with runtime.session() as session:
        query = select(JobResult).options(selectinload(JobResult.user)).order_by(JobResult.created.desc()).limit(limit)
        if status:
            query = query.where(JobResult.status == status)
        rows = [job_result_json(result) for result in session.scalars(query)]
    if as_json:
        echo_json(rows)
        return
    from jobruntime.cli.tables import print_table

    print_table(
        ("id", "job", "status", "created", "duration", "failures"),
        [
            (row["id"], row["job"], row["status"], row["created"], row["duration"] or "",
             str(row["log_counts"]["failure"]))
            for row in rows
        ],
    )


@results.command("show")
@click.argument("result_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with log entries).")
def show(result_id: str, as_json: bool) -> None:
    """Show one result with its log."""
    from jobruntime.cli import render
    from jobruntime.run.serializers import job_result_json

    runtime = get_runtime()
    with runtime.session() as session:
        result = _find_result(session, result_id)
        entries = log_entries(session, result.id)
        if as_json:
            echo_json(job_result_json(result, entries))
            return
        render.print_stored_result(result, entries)


@results.command("logs")
@click.argument("result_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def logs(result_id: str, as_json: bool) -> None:
    """Print a result's log entries in order."""
    from jobruntime.cli import render
    from jobruntime.run.serializers import log_entry_json

    runtime = get_runtime()
    with runtime.session() as session:
        entries = log_entries(session, _find_result(session, result_id).id)
    if as_json:
        echo_json([log_entry_json(entry) for entry in entries])
        return
    render.print_log(entries)


@results.command("cancel")
@click.argument("result_id")
@click.option("-u", "--username", envvar="JOBRUNTIME_USERNAME", required=True,
              help="Who cancels (recorded as the reason; or JOBRUNTIME_USERNAME).")
def cancel(result_id: str, username: str) -> None:
    """Stop a pending or running run; it ends errored "cancelled by USERNAME"."""
    from jobruntime.run.events import result_event_row
    from jobruntime.worker.leases import request_cancel

    runtime = get_runtime()
    status = request_cancel(runtime.engine, _result_id(result_id), username, events=[result_event_row])
    if status is None:
        raise CommandError(f"No JobResult {result_id}")
    if status not in ("pending", "running"):
        raise CommandError(f"JobResult {result_id} already ended ({status}); nothing to cancel")
    click.echo(f"{result_id}: cancel requested ({status} → errored, cancelled by {username})")
