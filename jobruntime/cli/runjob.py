"""``jobruntime runjob``: run a job and report it like the reference's ``runjob``.

With ``--local`` the job runs in this process. Otherwise the request is published
to the bus and the run is followed live from its events (with the embedded
``memory://`` broker, a worker is started inside this process for the run).
Exit codes: 0 completed, 1 failed, 2 errored, 4 the run could not be started.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import click

from jobruntime.cli.common import EXIT_REFUSED, CommandError, echo_json, get_runtime, loaded
from jobruntime.cli.schedules import SCHEDULE_CHOICES, needs_schedule, schedule_run

EXIT_CODES = {"completed": 0, "failed": 1, "errored": 2}


def _parse_data(raw: str | None) -> dict:
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"Invalid JSON data:\n{exc}") from exc


@click.command()
@click.argument("job")
@click.option("-l", "--local", is_flag=True, help="Run in this process instead of on a worker.")
@click.option("-u", "--username", help="User the run is made as (required with --commit and on the bus).")
@click.option("--commit", is_flag=True, help="Keep the job's database changes.")
@click.option("-d", "--data", "raw_data", help="Job variables as a JSON object.")
@click.option("--profile", is_flag=True, help="Profile run() and write a .pstats file.")
@click.option("--json", "as_json", is_flag=True, help="Print the JobResult as JSON instead of the log.")
@click.option("--task-queue", help="Queue to run on (bus only; default: the job's first task queue).")
@click.option("--no-wait", is_flag=True, help="Publish, print the job_result_id and return (bus only).")
@click.option("--token", envvar="JOBRUNTIME_TOKEN", help="API token of --username (or JOBRUNTIME_TOKEN).")
@click.option("-f", "--file", "file_args", multiple=True, metavar="VAR=@PATH",
              help="A file for the FileVar VAR (repeat for several); uploaded to the store unless --local.")
@click.option("--schedule", "interval", type=click.Choice(SCHEDULE_CHOICES), default="immediately",
              show_default=True,
              help="Run now, once later, or on a recurrence (a job needing approval: always a schedule).")
@click.option("--at", "start", help="Schedule start, ISO 8601; without an offset, wall-clock time in --tz.")
@click.option("--crontab", help='Custom schedule: "minute hour day-of-month month day-of-week".')
@click.option("--name", help="Schedule name (default: the job class and the time it was made).")
@click.option("--tz", "time_zone", help="Schedule time zone, e.g. Europe/Paris (default JOBRUNTIME_TIME_ZONE).")
def runjob(
    job: str, local: bool, username: str | None, commit: bool, raw_data: str | None, profile: bool,
    as_json: bool, task_queue: str | None, no_wait: bool, token: str | None, interval: str, start: str | None,
    crontab: str | None, name: str | None, time_zone: str | None, file_args: tuple[str, ...],
) -> None:
    """Run JOB (a class path local/<module>/<Class>, or on the bus also a Job record UUID)."""
    if commit and not username:
        raise CommandError("--username is mandatory when --commit is used")
    data = _parse_data(raw_data)
    files = parse_files(file_args, data)
    if needs_schedule(job, interval, start, crontab):
        if files:
            raise CommandError("A scheduled run cannot take --file: uploads live only for one run")
        raise SystemExit(schedule_run(job, username, interval=interval, start=start, crontab=crontab, name=name,
                                      time_zone=time_zone, data=data, commit=commit, task_queue=task_queue,
                                      as_json=as_json))
    if local:
        from jobruntime.authoring.discovery import InvalidClassPath, split_class_path

        try:
            split_class_path(job)
        except InvalidClassPath as exc:
            raise CommandError(str(exc)) from exc
        raise SystemExit(_run_local(job, data, files, commit, username, profile, as_json))
    if not username:
        raise CommandError("--username is mandatory when the run goes through a worker (it checks permissions)")
    raise SystemExit(_run_on_bus(job, data, files, commit, username, token, task_queue, profile, as_json, no_wait))


def parse_files(file_args: tuple[str, ...], data: dict) -> dict[str, Path]:
    """``VAR=@PATH`` arguments as {variable: path}; one file per variable, none also given in ``--data``."""
    files: dict[str, Path] = {}
    for argument in file_args:
        variable, separator, path = argument.partition("=")
        variable = variable.strip()
        if not separator or not variable or not path.startswith("@") or len(path) == 1:
            raise CommandError(f"--file {argument!r}: expected VAR=@PATH, e.g. devices=@inventory.csv")
        if variable in files:
            raise CommandError(f"--file: two files for {variable}; a FileVar takes one file")
        if variable in data:
            raise CommandError(f"--file: {variable} already has a value in the data; give a file only with --file")
        files[variable] = Path(path[1:]).expanduser()
        if not files[variable].is_file():
            raise CommandError(f"--file {variable}: {files[variable]} is not a readable file")
    return files


def _run_local(
    class_path: str, data: dict, files: dict[str, Path], commit: bool, username: str | None, profile: bool,
    as_json: bool,
) -> int:
    from jobruntime.cli import render
    from jobruntime.run.local import RunRefused, run_local
    from jobruntime.storage import UploadedFile

    runtime = get_runtime()
    loaded()
    if not as_json:
        click.echo(f"{render.stamp()} Running {class_path}...")
    listeners = () if as_json else (render.LivePrinter(),)
    opened = {variable: UploadedFile.from_path(path) for variable, path in files.items()}
    try:
        result = run_local(
            runtime, class_path, data=data, files=opened, commit=commit, username=username, profile=profile,
            listeners=listeners,
        )
    except RunRefused as exc:
        raise CommandError(str(exc)) from exc
    finally:
        for uploaded in opened.values():
            uploaded.close()
    return _report(runtime, result.id, as_json, printed=None)


def _run_on_bus(
    job: str, data: dict, files: dict[str, Path], commit: bool, username: str, token: str | None,
    task_queue: str | None, profile: bool, as_json: bool, no_wait: bool,
) -> int:
    from jobruntime.bus.broker import PublishRefused
    from jobruntime.bus.messages import MalformedMessage
    from jobruntime.bus.transport import Transport
    from jobruntime.cli import render
    from jobruntime.client import Client, FollowTimeout, RunRejected
    from jobruntime.storage import StoreError

    runtime = get_runtime()
    loaded()
    settings = runtime.settings
    embedded_broker = Transport.for_url(settings.broker_url).in_process
    if embedded_broker and not settings.signing_secret:
        # Only this process can publish to its in-memory broker, so it may vouch for the user itself.
        settings = settings.replace(signing_secret=secrets.token_hex(16))
    with Client(settings, username=username, token=token, record_pending=True) as client:
        try:
            request = client.request(job, data=data, commit=commit, task_queue=task_queue, profile=profile,
                                     files=files)
        except (MalformedMessage, ValueError, StoreError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        embedded = _start_embedded_worker(settings, client.queue_for(request)) if embedded_broker else None
        try:
            with client.follow(request.job_result_id, job=request.job, sent=request.to_json()) as follower:
                try:
                    client.publish(request)
                except PublishRefused as exc:
                    raise CommandError(str(exc)) from exc
                if no_wait:
                    click.echo(str(request.job_result_id))
                    return 0
                printer = render.LivePrinter()
                if not as_json:
                    click.echo(f"{render.stamp()} Running {job} on the bus as {request.job_result_id}...")
                try:
                    follower.wait(on_log=None if as_json else printer)
                except (FollowTimeout, RunRejected) as exc:
                    raise CommandError(str(exc)) from exc
        finally:
            if embedded is not None:
                embedded.stop()
    return _report(runtime, request.job_result_id, as_json, printed=None if as_json else follower.seen)


def _start_embedded_worker(settings, queue: str):
    """The in-process worker of the embedded memory:// broker, consuming the run's queue on a thread."""
    from jobruntime.worker.supervisor import WorkerProcess, load_handler

    embedded = WorkerProcess(settings, [queue], load_handler())
    embedded.start_in_thread()
    return embedded


def _report(runtime, result_id, as_json: bool, printed: set[int] | None) -> int:
    """Print the stored result (entries not yet shown, the summary, output and verdict); return the exit code."""
    from sqlalchemy.orm import selectinload

    from jobruntime.cli import render
    from jobruntime.cli.results import log_entries
    from jobruntime.models import JobResult
    from jobruntime.run.serializers import job_result_json

    with runtime.session() as session:
        result = session.get(JobResult, result_id, options=[selectinload(JobResult.user)])
        logs = log_entries(session, result_id)
        if as_json:
            echo_json(job_result_json(result, logs))
        else:
            if printed is not None:
                render.print_log(entry for entry in logs if entry.seq not in printed)
            render.print_summary(logs)
            render.print_verdict(result.name, result.status, result.duration, (result.data or {}).get("output"),
                                 result.reason)
    if result.status == "errored" and result.started is None and result.cancel_requested_by is None:
        return EXIT_REFUSED  # refused before it started (credentials, permission, queue), as --local refuses
    return EXIT_CODES.get(result.status, 2)
