"""Reading JobResults back (list, show, logs, output files) and deleting them."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime
from jobruntime.core.statuses import RESULT_STATUSES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobruntime.models import JobLogEntry, JobResult
    from jobruntime.run.runtime import Runtime


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
        files = _output_files(runtime, result)
        if as_json:
            echo_json({**job_result_json(result, entries), "files": files})
            return
        render.print_stored_result(result, entries)
    for entry in files:
        click.echo(f"file {entry['name']} ({entry['size']} bytes): {entry['download_url']}")


def _output_files(runtime: Runtime, result: JobResult) -> list[dict]:
    """The result's output files, with download URLs made now."""
    if not (result.data or {}).get("files"):
        return []
    from jobruntime.storage import StoreError
    from jobruntime.storage.outputs import listed_files

    try:
        return listed_files(runtime.store, result.data)
    except StoreError as exc:
        raise CommandError(str(exc)) from exc


@results.command("files")
@click.argument("result_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def files(result_id: str, as_json: bool) -> None:
    """List the files a run created (name, size, sha256, download URL)."""
    runtime = get_runtime()
    with runtime.session() as session:
        listed = _output_files(runtime, _find_result(session, result_id))
    if as_json:
        echo_json(listed)
        return
    from jobruntime.cli.tables import print_table

    print_table(("name", "size", "sha256", "download_url"),
                [(entry["name"], str(entry["size"]), entry["sha256"], entry["download_url"]) for entry in listed])


@results.command("download")
@click.argument("result_id")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it (default: NAME in the current directory; - for standard output).")
def download(result_id: str, name: str, output: Path | None) -> None:
    """Fetch one output file of a run, checking its sha256."""
    import hashlib

    from jobruntime.storage import StoreError

    runtime = get_runtime()
    with runtime.session() as session:
        result = _find_result(session, result_id)
    entry = next((item for item in (result.data or {}).get("files", []) if item["name"] == name), None)
    if entry is None:
        raise CommandError(f"JobResult {result_id} has no output file {name!r}")
    target = output or Path(entry["name"])
    digest = hashlib.sha256()
    try:
        chunks = runtime.store.read(runtime.store.key_for(entry["url"]))
        with click.open_file(str(target), "wb", atomic=str(target) != "-") as sink:
            for chunk in chunks:
                digest.update(chunk)
                sink.write(chunk)
            if digest.hexdigest() != entry["sha256"]:
                raise CommandError(f"{name}: the stored file's checksum does not match; nothing was written")
    except StoreError as exc:
        raise CommandError(str(exc)) from exc
    if str(target) != "-":
        click.echo(f"{name}: {entry['size']} bytes written to {target}", err=True)


@results.command("delete")
@click.argument("result_id")
def delete(result_id: str) -> None:
    """Delete a finished result with its log entries and output files."""
    runtime = get_runtime()
    with runtime.session() as session:
        result = _find_result(session, result_id)
    _delete_results(runtime, [result])
    click.echo(f"Deleted JobResult {result_id}")


_AGE = re.compile(r"(\d+)([dhm])")
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@results.command("prune")
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Delete finished results created longer ago than AGE: 30d, 12h or 45m.")
def prune(older_than: str) -> None:
    """Delete finished results older than AGE, with their log entries and output files."""
    import datetime as dt

    from sqlalchemy import select

    from jobruntime.core.statuses import TERMINAL_STATUSES
    from jobruntime.models import JobResult

    match = _AGE.fullmatch(older_than.strip())
    if match is None:
        raise CommandError(f"--older-than {older_than!r}: expected a number of days, hours or minutes (30d, 12h, 45m)")
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(**{_AGE_UNITS[match[2]]: int(match[1])})
    runtime = get_runtime()
    with runtime.session() as session:
        old = list(session.scalars(select(JobResult).where(
            JobResult.created < cutoff, JobResult.status.in_(sorted(TERMINAL_STATUSES))
        )))
    _delete_results(runtime, old)
    click.echo(f"Deleted {len(old)} JobResult(s) created before {cutoff:%Y-%m-%d %H:%M:%S} UTC")


def _delete_results(runtime: Runtime, doomed: list[JobResult]) -> None:
    """Output files first (a file without its result is an orphan no listing shows), then the rows."""
    from sqlalchemy import delete as sql_delete

    from jobruntime.core.statuses import TERMINAL_STATUSES
    from jobruntime.models import JobLogEntry, JobResult
    from jobruntime.storage import StoreError
    from jobruntime.storage.outputs import delete_outputs

    running = [str(result.id) for result in doomed if result.status not in TERMINAL_STATUSES]
    if running:
        raise CommandError(f"JobResult {running[0]} has not ended; cancel it first")
    ids = [result.id for result in doomed]
    try:
        for result in doomed:
            if (result.data or {}).get("files"):
                delete_outputs(runtime.store, result.id)
    except StoreError as exc:
        raise CommandError(str(exc)) from exc
    with runtime.engine.begin() as connection:
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            connection.execute(sql_delete(JobLogEntry.__table__).where(JobLogEntry.__table__.c.job_result_id.in_(batch)))
            connection.execute(sql_delete(JobResult.__table__).where(JobResult.__table__.c.id.in_(batch)))


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
