"""``runjob --schedule``, ``jobruntime schedules``, ``jobruntime approvals`` and ``jobruntime scheduler``."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import TYPE_CHECKING, Any

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime, loaded

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from jobruntime.models import ScheduledJob, User

SCHEDULE_CHOICES = ("immediately", "future", "hourly", "daily", "weekly", "custom")
_AGE = re.compile(r"^(\d+)([dhm]?)$")
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes", "": "days"}


def needs_schedule(job: str, interval: str, start: str | None = None, crontab: str | None = None) -> bool:
    """Whether ``runjob`` makes a schedule: any interval but ``immediately``, or a job that needs approval."""
    if interval != "immediately":
        return True
    if start is not None or crontab is not None:
        raise CommandError("--at and --crontab need --schedule future, hourly, daily, weekly or custom")
    from jobruntime.authoring.records import lookup_record
    from jobruntime.store.prebuilt import transaction

    with transaction(get_runtime().autocommit_engine) as db:
        record = lookup_record(db, job)
    return record is not None and record.approval_required


def schedule_run(
    job: str, username: str | None, *, interval: str, start: str | None, crontab: str | None, name: str | None,
    time_zone: str | None, data: dict, commit: bool, task_queue: str | None, as_json: bool,
) -> int:
    """Store the schedule ``runjob --schedule`` asks for and print its id and first run; returns the exit code."""
    from jobruntime.authoring.discovery import JobNotFound, load_job_class
    from jobruntime.cli.jobs import _record
    from jobruntime.cli.users import _user
    from jobruntime.run.auth import InvalidQueue, PermissionDenied
    from jobruntime.scheduling.recurrence import InvalidSchedule
    from jobruntime.scheduling.schedules import create_schedule, describe

    if not username:
        raise CommandError("--username is mandatory for a schedule (its runs are made as that user)")
    runtime = get_runtime()
    loaded()
    settings = runtime.settings
    with runtime.session() as session:
        record = _record(session, job)
        user = _user(session, username)
        try:
            schedule = create_schedule(
                session, record, user, interval=interval, start=start, crontab=crontab, name=name,
                time_zone=time_zone or settings.time_zone, default_queue=settings.default_queue, data=data,
                commit=commit, task_queue=task_queue, job_class=load_job_class(record.class_path, settings.jobs_root),
            )
        except (InvalidSchedule, InvalidQueue, PermissionDenied, JobNotFound) as exc:
            raise CommandError(str(exc)) from exc
        body = describe(schedule)
        session.commit()
    if as_json:
        echo_json({"schedule": body, "job_result": None})
    elif schedule.approval_required:
        click.echo(f"{body['id']}\nSchedule {body['name']!r} awaits approval; it first runs at "
                   f"{body['start_time']} once another user approves it (`jobruntime approvals approve {body['id']}`)")
    else:
        click.echo(f"{body['id']}\nSchedule {body['name']!r} first runs at {body['next_runs'][0]}")
    return 0


def _schedule(session: Session, schedule_id: str) -> ScheduledJob:
    from jobruntime.scheduling.schedules import ScheduleNotFound, get_schedule

    try:
        return get_schedule(session, schedule_id)
    except ScheduleNotFound as exc:
        raise CommandError(str(exc)) from exc


def _print_schedules(rows: list[dict[str, Any]], *, approvals: bool = False) -> None:
    from jobruntime.cli.tables import print_table

    if approvals:
        print_table(("id", "job", "requested by", "start", "input"),
                    [(row["id"], row["job"], row["user"] or "", row["start_time"], _input(row)) for row in rows])
        return
    print_table(("id", "name", "job", "interval", "state", "next run", "runs"),
                [(row["id"], row["name"], row["job"], row["interval"], row["state"],
                  (row["next_runs"] or [""])[0], str(row["total_run_count"])) for row in rows])


def _input(row: dict[str, Any]) -> str:
    import json

    return json.dumps({"data": row["data"], "commit": row["commit"]}, sort_keys=True)


@click.group()
def schedules() -> None:
    """List and manage scheduled runs."""


@schedules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--awaiting-approval", is_flag=True, help="Only schedules waiting for an approver.")
def list_schedules(as_json: bool, awaiting_approval: bool) -> None:
    """List schedules by start time."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from jobruntime.models import ScheduledJob
    from jobruntime.scheduling.schedules import describe

    with get_runtime().session() as session:
        query = select(ScheduledJob).options(
            selectinload(ScheduledJob.user), selectinload(ScheduledJob.approved_by_user)
        ).order_by(ScheduledJob.start_time)
        if awaiting_approval:
            query = query.where(ScheduledJob.approval_required.is_(True), ScheduledJob.approved_at.is_(None))
        rows = [describe(schedule) for schedule in session.scalars(query)]
    if as_json:
        echo_json(rows)
    else:
        _print_schedules(rows)


@schedules.command("show")
@click.argument("schedule_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_schedule(schedule_id: str, as_json: bool) -> None:
    """Show a schedule: input, owner, next run times, last run, run count, approval."""
    from jobruntime.scheduling.schedules import describe

    with get_runtime().session() as session:
        body = describe(_schedule(session, schedule_id))
    if as_json:
        echo_json(body)
        return
    for key, value in body.items():
        if key == "next_runs":
            value = ", ".join(value) or "none"
        click.echo(f"{key}: {'' if value is None else value}")


@schedules.command("enable")
@click.argument("schedule_id")
def enable_schedule(schedule_id: str) -> None:
    """Let a schedule run again (a recurring one resumes at its next time, without catching up)."""
    _set_enabled(schedule_id, True)


@schedules.command("disable")
@click.argument("schedule_id")
def disable_schedule(schedule_id: str) -> None:
    """Stop a schedule from running until it is enabled again."""
    _set_enabled(schedule_id, False)


def _set_enabled(schedule_id: str, enabled: bool) -> None:
    from jobruntime.scheduling.recurrence import InvalidSchedule
    from jobruntime.scheduling.schedules import set_enabled

    with get_runtime().session() as session:
        schedule = _schedule(session, schedule_id)
        try:
            set_enabled(schedule, enabled)
        except InvalidSchedule as exc:
            raise CommandError(str(exc)) from exc
        session.commit()
    click.echo(f"{schedule_id}: {'enabled' if enabled else 'disabled'}")


@schedules.command("delete")
@click.argument("schedule_id")
def delete_schedule(schedule_id: str) -> None:
    """Delete a schedule (its past runs are kept)."""
    with get_runtime().session() as session:
        session.delete(_schedule(session, schedule_id))
        session.commit()
    click.echo(f"{schedule_id}: deleted")


@schedules.command("prune")
@click.option("--older-than", required=True, help="Age of the start time, e.g. 30d, 12h or 90m (a bare number: days).")
def prune_schedules(older_than: str) -> None:
    """Delete one-off schedules that started longer ago than --older-than; recurring ones are kept."""
    from jobruntime.scheduling.schedules import prune

    match = _AGE.match(older_than.strip())
    if match is None:
        raise CommandError(f"Invalid age {older_than!r}: give a number of days, hours or minutes (30d, 12h, 90m)")
    age = dt.timedelta(**{_AGE_UNITS[match.group(2)]: int(match.group(1))})
    with get_runtime().session() as session:
        count = prune(session, age)
        session.commit()
    click.echo(f"Stale scheduled jobs deleted successfully ({count})")


@click.group()
def approvals() -> None:
    """The approval queue: approve, deny or dry-run another user's schedule."""


@approvals.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_approvals(as_json: bool) -> None:
    """Schedules awaiting approval, oldest first, with the job, requester, input as submitted and start time."""
    from jobruntime.scheduling.schedules import awaiting_approval, describe

    with get_runtime().session() as session:
        rows = [describe(schedule) for schedule in awaiting_approval(session)]
    if as_json:
        echo_json(rows)
    else:
        _print_schedules(rows, approvals=True)


def _judge(schedule_id: str, username: str, decide: Callable[[Session, ScheduledJob, User], str]) -> str:
    """Run ``decide(session, schedule, user)`` and commit; refusals become the command's error."""
    from jobruntime.cli.users import _user
    from jobruntime.scheduling.approvals import ApprovalRefused, NotAwaitingApproval
    from jobruntime.scheduling.recurrence import InvalidSchedule

    with get_runtime().session() as session:
        schedule = _schedule(session, schedule_id)
        try:
            message = decide(session, schedule, _user(session, username))
        except (ApprovalRefused, NotAwaitingApproval, InvalidSchedule) as exc:
            raise CommandError(str(exc)) from exc
        session.commit()
    return message


@approvals.command("approve")
@click.argument("schedule_id")
@click.option("-u", "--username", required=True, help="The approver (needs approve_job on the job).")
@click.option("--force", is_flag=True, help="Approve a one-off whose start time has passed: it runs at once.")
def approve_schedule(schedule_id: str, username: str, force: bool) -> None:
    """Approve a schedule; it then runs at its time (at once if that has passed)."""
    from jobruntime.scheduling.approvals import approve

    def decide(session: Session, schedule: ScheduledJob, user: User) -> str:
        approve(session, schedule, user, force=force)
        return f"Schedule {schedule.name} approved by {user.username}; next run {schedule.next_run_at.isoformat()}"

    click.echo(_judge(schedule_id, username, decide))


@approvals.command("deny")
@click.argument("schedule_id")
@click.option("-u", "--username", required=True, help="The approver, or the requester withdrawing the request.")
def deny_schedule(schedule_id: str, username: str) -> None:
    """Deny (delete) a schedule awaiting approval."""
    from jobruntime.scheduling.approvals import deny

    click.echo(_judge(schedule_id, username, deny))


@approvals.command("dry-run")
@click.argument("schedule_id")
@click.option("-u", "--username", required=True, help="Who runs it (needs run_job on the job).")
@click.option("--json", "as_json", is_flag=True, help="Print the JobResult as JSON instead of the log.")
def dry_run_schedule(schedule_id: str, username: str, as_json: bool) -> None:
    """Run the schedule's input now with commit=False as USERNAME and follow it like runjob."""
    from jobruntime.bus.outbox import OutboxRelay
    from jobruntime.bus.transport import Transport
    from jobruntime.cli import render
    from jobruntime.cli.runjob import _report, _start_embedded_worker
    from jobruntime.cli.users import _user
    from jobruntime.client import Client, FollowTimeout, RunRejected
    from jobruntime.scheduling.approvals import ApprovalRefused, dry_run

    runtime = get_runtime()
    loaded()
    settings = runtime.settings
    run_id = uuid.uuid4()
    with runtime.session() as session:
        schedule = _schedule(session, schedule_id)
        job, queue = schedule.job_class, schedule.task_queue or settings.default_queue
        user = _user(session, username)
    with Client(settings, username=username) as client:
        embedded = _start_embedded_worker(settings, queue) if Transport.for_url(settings.broker_url).in_process else None
        try:
            with client.follow(run_id, job=job) as follower:
                with runtime.session() as session:
                    try:
                        _, events = dry_run(session, _schedule(session, schedule_id), user,
                                            default_queue=settings.default_queue, job_result_id=run_id)
                    except ApprovalRefused as exc:
                        raise CommandError(str(exc)) from exc
                    session.commit()
                relay = OutboxRelay(runtime.engine, client.bus)
                relay.publish_rows(events)
                relay.close()
                if not as_json:
                    click.echo(f"{render.stamp()} Dry run of schedule {schedule_id} ({job}) as {run_id}...")
                try:
                    follower.wait(on_log=None if as_json else render.LivePrinter())
                except (FollowTimeout, RunRejected) as exc:
                    raise CommandError(str(exc)) from exc
        finally:
            if embedded is not None:
                embedded.stop()
    raise SystemExit(_report(runtime, run_id, as_json, printed=None if as_json else follower.seen))


@click.command()
@click.option("-Q", "--queues", help="With the embedded memory:// broker only: the queues whose runs this process "
                                     "runs itself (comma-separated; default: the default queue).")
def scheduler(queues: str | None) -> None:
    """Fire due schedules until SIGTERM (every `jobruntime worker` does this too).

    On a real broker it runs no jobs. With the embedded memory:// broker nothing else can
    take the runs, so it runs them too, on a worker inside this process.
    """
    from jobruntime.bus.transport import Transport
    from jobruntime.scheduling.loop import run_scheduler
    from jobruntime.worker.supervisor import WorkerProcess, load_handler

    settings = get_runtime().settings
    embedded = None
    if Transport.for_url(settings.broker_url).in_process:
        names = [name.strip() for name in (queues or settings.default_queue).split(",") if name.strip()]
        embedded = WorkerProcess(settings, names, load_handler())
        embedded.start_in_thread()
    elif queues:
        raise CommandError("--queues is for the embedded memory:// broker; on RabbitMQ run `jobruntime worker -Q`")
    try:
        code = run_scheduler(settings)
    finally:
        if embedded is not None:
            embedded.stop()
    raise SystemExit(code)
