"""``jobruntime runjob``: run a job and report it like the reference's ``runjob``.

Exit codes: 0 completed, 1 failed, 2 errored, 4 the run could not be started.
"""

from __future__ import annotations

import json

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime

EXIT_CODES = {"completed": 0, "failed": 1, "errored": 2}


def _parse_data(raw: str | None) -> dict:
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"Invalid JSON data:\n{exc}") from exc


@click.command()
@click.argument("class_path")
@click.option("-l", "--local", is_flag=True, help="Run in this process instead of on a worker.")
@click.option("-u", "--username", help="User the run is made as (required with --commit).")
@click.option("--commit", is_flag=True, help="Keep the job's database changes.")
@click.option("-d", "--data", "raw_data", help="Job variables as a JSON object.")
@click.option("--profile", is_flag=True, help="Profile run() and write a .pstats file.")
@click.option("--json", "as_json", is_flag=True, help="Print the JobResult as JSON instead of the log.")
def runjob(
    class_path: str, local: bool, username: str | None, commit: bool, raw_data: str | None, profile: bool, as_json: bool
) -> None:
    """Run the job CLASS_PATH (local/<module>/<Class>)."""
    from jobruntime.discovery import InvalidClassPath, split_class_path

    try:
        split_class_path(class_path)
    except InvalidClassPath as exc:
        raise CommandError(str(exc)) from exc
    if commit and not username:
        raise CommandError("--username is mandatory when --commit is used")
    if not local:
        raise CommandError("Running on a worker needs the message bus, which this installation lacks; use --local")
    data = _parse_data(raw_data)
    raise SystemExit(_run_local(class_path, data, commit, username, profile, as_json))


def _run_local(class_path: str, data: dict, commit: bool, username: str | None, profile: bool, as_json: bool) -> int:
    from sqlalchemy import select

    from jobruntime.cli import render
    from jobruntime.models import JobLogEntry
    from jobruntime.runs import RunRefused, run_local
    from jobruntime.serializers import job_result_json

    runtime = get_runtime()
    if not as_json:
        click.echo(f"{render.stamp()} Running {class_path}...")
    listeners = () if as_json else (render.LivePrinter(),)
    try:
        result = run_local(
            runtime, class_path, data=data, commit=commit, username=username, profile=profile, listeners=listeners
        )
    except RunRefused as exc:
        raise CommandError(str(exc)) from exc
    with runtime.session() as session:
        logs = list(
            session.scalars(
                select(JobLogEntry).where(JobLogEntry.job_result_id == result.id).order_by(JobLogEntry.seq)
            )
        )
        if as_json:
            echo_json(job_result_json(result, logs))
        else:
            render.print_summary(logs)
            output = (result.data or {}).get("output")
            render.print_verdict(class_path, result.status, result.duration, output, result.reason)
    return EXIT_CODES.get(result.status, 2)
