"""Reading JobResults back: list, show, logs."""

from __future__ import annotations

import uuid

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime


@click.group()
def results() -> None:
    """Inspect job results."""


def _result_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise CommandError(f"{raw!r} is not a JobResult id (a UUID)") from exc


@results.command("list")
@click.option("--limit", default=20, show_default=True, help="How many of the newest results.")
@click.option("--status", help="Only results with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_results(limit: int, status: str | None, as_json: bool) -> None:
    """List the newest results (counts come from the result row, not the log table)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from jobruntime.models import JobResult
    from jobruntime.serializers import job_result_json

    runtime = get_runtime()
    with runtime.session() as session:
        query = select(JobResult).options(selectinload(JobResult.user)).order_by(JobResult.created.desc()).limit(limit)
        if status:
            query = query.where(JobResult.status == status)
        rows = [job_result_json(result) for result in session.scalars(query)]
    if as_json:
        echo_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "job", "status", "created", "duration", "failures")
    for row in rows:
        table.add_row(
            row["id"], row["job"], row["status"], row["created"], row["duration"] or "",
            str(row["log_counts"]["failure"]),
        )
    Console().print(table)


@results.command("show")
@click.argument("result_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with log entries).")
def show(result_id: str, as_json: bool) -> None:
    """Show one result with its log."""
    from sqlalchemy.orm import selectinload

    from jobruntime.cli import render
    from jobruntime.models import JobResult
    from jobruntime.serializers import job_result_json

    runtime = get_runtime()
    with runtime.session() as session:
        result = session.get(JobResult, _result_id(result_id), options=[selectinload(JobResult.logs)])
        if result is None:
            raise CommandError(f"No JobResult {result_id}")
        if as_json:
            echo_json(job_result_json(result, result.logs))
            return
        click.echo(f"{result.name}  {result.status}" + (f" ({result.reason})" if result.reason else ""))
        render.print_summary(result.logs)
        render.print_verdict(result.name, result.status, result.duration, (result.data or {}).get("output"), None)


@results.command("logs")
@click.argument("result_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def logs(result_id: str, as_json: bool) -> None:
    """Print a result's log entries in order."""
    from sqlalchemy import select

    from jobruntime.cli import render
    from jobruntime.models import JobLogEntry
    from jobruntime.serializers import log_entry_json

    runtime = get_runtime()
    with runtime.session() as session:
        entries = list(
            session.scalars(
                select(JobLogEntry).where(JobLogEntry.job_result_id == _result_id(result_id)).order_by(JobLogEntry.seq)
            )
        )
    if as_json:
        echo_json([log_entry_json(entry) for entry in entries])
        return
    printer = render.LivePrinter()
    for entry in entries:
        printer(entry)


@results.command("cancel")
@click.argument("result_id")
@click.option("-u", "--username", envvar="JOBRUNTIME_USERNAME", required=True,
              help="Who cancels (recorded as the reason; or JOBRUNTIME_USERNAME).")
def cancel(result_id: str, username: str) -> None:
    """Stop a pending or running run; it ends errored "cancelled by USERNAME"."""
    from jobruntime.leases import request_cancel

    runtime = get_runtime()
    status = request_cancel(runtime.engine, _result_id(result_id), username)
    if status is None:
        raise CommandError(f"No JobResult {result_id}")
    if status not in ("pending", "running"):
        raise CommandError(f"JobResult {result_id} already ended ({status}); nothing to cancel")
    click.echo(f"{result_id}: cancel requested ({status} → errored, cancelled by {username})")
