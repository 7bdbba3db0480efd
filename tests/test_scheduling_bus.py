"""Schedules fired by real `jobruntime worker` supervisors on RabbitMQ and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter
from types import SimpleNamespace

import pytest
from kombu import Connection
from sqlalchemy import func, select

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import find_record, sync
from jobruntime.bus.outbox import RUN_EXCHANGE
from jobruntime.client import Client
from jobruntime.core.clock import utcnow
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, OutboxEvent, ScheduledJob, Site, Status, User
from jobruntime.run.auth import APPROVE_JOB, RUN_JOB, grant
from jobruntime.run.runtime import Runtime
from jobruntime.scheduling.schedules import create_schedule
from tests.bus_support import JOB_MODULES, RABBIT_URL, bus_environment, running_worker, settings_from, wait_for_result
from tests.cli_support import invoker

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
QUICK = "local/bus_jobs/Quick"


@pytest.fixture
def stack(engine, db_url, tmp_path):
    env = bus_environment(db_url, tmp_path, JOBRUNTIME_SCHEDULE_INTERVAL="0.2")
    settings = settings_from(env)
    runtime = Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))
    with runtime.session() as session:
        sync(session, discover(JOB_MODULES))
        for record in session.scalars(select(JobRecord)):
            record.enabled = True
        session.add_all([User(username="alice", is_superuser=True), User(username="bob")])
        session.commit()
    yield SimpleNamespace(env=env, settings=settings, runtime=runtime, queue=env["JOBRUNTIME_DEFAULT_QUEUE"],
                          invoke=invoker(env))
    with Connection(RABBIT_URL) as connection:
        try:
            connection.channel().queue_delete(env["JOBRUNTIME_DEFAULT_QUEUE"])
        except Exception:  # noqa: BLE001 - the queue may not exist
            pass


def _schedules(stack, count, *, job=QUICK, due_in=3.0, interval="future", data=None):
    """``count`` schedules of ``job`` by alice, all due ``due_in`` seconds from now (the same second)."""
    now = utcnow()
    start = (now + dt.timedelta(seconds=due_in)).replace(microsecond=0).isoformat()
    with stack.runtime.session() as session:
        record, alice = find_record(session, job), session.scalars(select(User).where(User.username == "alice")).one()
        ids = [create_schedule(session, record, alice, interval=interval, start=start, data=data or {},
                               default_queue=stack.queue, time_zone="UTC", now=now).id for _ in range(count)]
        session.commit()
    return ids


def _scheduled_runs(session) -> int:
    """How many runs schedules made (the dead-letter queue all test sessions share may add other rows)."""
    return session.scalar(select(func.count()).select_from(JobResult).where(JobResult.schedule_id.is_not(None)))


def _wait_for_runs(stack, count, timeout=120.0, statuses=("completed", "failed", "errored")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.runtime.session() as session:
            done = session.scalar(select(func.count()).select_from(JobResult).where(
                JobResult.schedule_id.is_not(None), JobResult.status.in_(statuses)))
        if done >= count:
            return
        time.sleep(0.3)
    raise TimeoutError(f"{done} of {count} scheduled runs ended within {timeout} s")


def _runs_per_schedule(stack):
    with stack.runtime.session() as session:
        runs = Counter(session.scalars(select(JobResult.schedule_id).where(JobResult.schedule_id.is_not(None))))
        requests = Counter(body["job_result_id"] for body in session.scalars(
            select(OutboxEvent.body).where(OutboxEvent.exchange == RUN_EXCHANGE)))
        counts = {schedule.id: schedule.total_run_count for schedule in session.scalars(select(ScheduledJob))}
    return runs, requests, counts


def test_three_supervisors_fire_each_of_200_schedules_due_in_the_same_second_once(stack):
    ids = _schedules(stack, 200, due_in=4)
    with running_worker(stack.env), running_worker(stack.env), running_worker(stack.env):
        _wait_for_runs(stack, 200)
        time.sleep(2)  # a second firing, if there were one, would have happened by now
    runs, requests, counts = _runs_per_schedule(stack)
    assert runs == Counter({schedule_id: 1 for schedule_id in ids})
    assert set(requests.values()) == {1} and len(requests) == 200
    assert set(counts.values()) == {1}
    with stack.runtime.session() as session:
        # Only the schedules' runs: the dead-letter queue all test sessions share may add others' refusals here.
        outcomes = Counter(session.execute(select(JobResult.status, JobResult.reason)
                                           .where(JobResult.schedule_id.is_not(None))).all())
        assert outcomes == Counter({("completed", None): 200})


def test_a_supervisor_killed_while_firing_loses_and_repeats_nothing(stack):
    ids = _schedules(stack, 200, due_in=3)
    with running_worker(stack.env) as first:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with stack.runtime.session() as session:
                if _scheduled_runs(session):
                    break
            time.sleep(0.05)
        first.kill()
        first.wait()
    with running_worker(stack.env):
        _wait_for_runs(stack, 200)
    runs, requests, counts = _runs_per_schedule(stack)
    assert runs == Counter({schedule_id: 1 for schedule_id in ids})
    assert set(requests.values()) == {1} and set(counts.values()) == {1}


def test_a_recurring_schedule_catches_up_once_after_downtime(stack):
    [schedule_id] = _schedules(stack, 1, interval="hourly", due_in=1)
    with stack.runtime.session() as session:  # as if no supervisor had run for three and a half hours
        schedule = session.get(ScheduledJob, schedule_id)
        # four missed hourly slots, the next one half an hour ahead (not seconds ahead, where a slow
        # worker start would see it fall due too and fire it as a second, legitimate run)
        schedule.start_time = schedule.next_run_at = schedule.start_time - dt.timedelta(hours=3, minutes=30)
        session.commit()
    with running_worker(stack.env):
        _wait_for_runs(stack, 1)
        time.sleep(1.5)
    with stack.runtime.session() as session:
        schedule = session.get(ScheduledJob, schedule_id)
        assert schedule.total_run_count == 1
        assert schedule.next_run_at > utcnow()
        assert _scheduled_runs(session) == 1


def test_a_scheduled_run_whose_object_was_deleted_errors_and_the_schedule_goes_on(stack):
    with stack.runtime.session() as session:
        doomed = Status(name="Doomed", slug="doomed")
        session.add(doomed)
        session.commit()
        doomed_id = str(doomed.id)
    data = {"count": 1, "site_name": "Alpha", "flag": True, "status": doomed_id}
    [schedule_id] = _schedules(stack, 1, job="local/variables_job/EveryVariable", interval="hourly", data=data)
    with stack.runtime.session() as session:
        session.delete(session.get(Status, doomed.id))
        session.commit()
    with running_worker(stack.env):
        _wait_for_runs(stack, 1)
    with stack.runtime.session() as session:
        run = session.scalars(select(JobResult).where(JobResult.schedule_id.is_not(None))).one()
        schedule = session.get(ScheduledJob, schedule_id)
    assert run.status == "errored" and "status" in (run.reason or "")
    assert schedule.enabled and schedule.next_run_at > utcnow() and schedule.total_run_count == 1


def _sites(stack, name):
    with stack.runtime.session() as session:
        return session.scalar(select(func.count()).select_from(Site).where(Site.name == name))


def test_approval_flow_end_to_end(stack):
    job = "local/bus_jobs/SlowSite"
    with stack.runtime.session() as session:
        record = find_record(session, job)
        record.approval_required = True
        bob = session.scalars(select(User).where(User.username == "bob")).one()
        session.add(User(username="carol"))
        grant(session, bob, APPROVE_JOB, record)
        grant(session, bob, RUN_JOB, record)
        session.commit()
    invoke = stack.invoke
    with running_worker(stack.env):
        made = invoke("runjob", "-u", "alice", "--commit", "--data", '{"number": 7}', job)
        schedule_id = made.output.splitlines()[0]
        assert "awaits approval" in made.output
        with stack.runtime.session() as session:
            assert session.scalar(select(func.count()).select_from(JobResult).where(JobResult.name == job)) == 0

        with Client(stack.settings, username="alice") as client:  # a request that skips approval
            request = client.request(job, data={"number": 8}, commit=True)
            client.publish(request)
        refused = wait_for_result(stack.runtime, request.job_result_id)
        assert refused.status == "errored" and "requires approval" in refused.reason

        [waiting] = json.loads(invoke("approvals", "list", "--json").output)
        assert (waiting["id"], waiting["user"], waiting["data"], waiting["commit"]) == (
            schedule_id, "alice", {"number": 7}, True)

        self_approval = invoke("approvals", "approve", schedule_id, "-u", "alice", code=4)
        assert "You cannot approve your own job request!" in self_approval.output
        no_permission = invoke("approvals", "approve", schedule_id, "-u", "carol", code=4)
        assert "You do not have permission to approve this request." in no_permission.output

        dry = json.loads(invoke("approvals", "dry-run", schedule_id, "-u", "bob", "--json").output)
        assert (dry["status"], dry["user"], dry["schedule"]) == ("completed", "bob", schedule_id)
        assert _sites(stack, "Slow 7") == 0
        with stack.runtime.session() as session:
            assert session.get(ScheduledJob, uuid.UUID(schedule_id)).approved_at is None

        invoke("approvals", "approve", schedule_id, "-u", "bob")
        _wait_for_runs(stack, 2)
        with stack.runtime.session() as session:
            run = session.scalars(select(JobResult).where(JobResult.schedule_id == uuid.UUID(schedule_id),
                                                          JobResult.id != uuid.UUID(dry["id"]))).one()
            assert (run.status, run.user.username) == ("completed", "alice")
        assert _sites(stack, "Slow 7") == 1
        shown = json.loads(invoke("results", "show", str(run.id), "--json").output)
        assert shown["schedule"] == schedule_id
        assert json.loads(invoke("schedules", "show", schedule_id, "--json").output)["total_run_count"] == 1

        second = invoke("runjob", "-u", "alice", job).output.splitlines()[0]
        assert "was denied" in invoke("approvals", "deny", second, "-u", "bob").output
        assert json.loads(invoke("approvals", "list", "--json").output) == []
