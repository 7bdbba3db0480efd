"""A lost PostgreSQL connection is the infrastructure's fault: the run is handed back, never errored as the job's.

Real `jobruntime worker` processes on PostgreSQL and RabbitMQ; the faults are real
too: backends of this session's own test database are ended with
``pg_terminate_backend``, never anyone else's, and the server is never restarted.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import psycopg
import pytest
from kombu import Connection
from sqlalchemy import func, make_url, select
from sqlalchemy.exc import OperationalError

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import sync
from jobruntime.client import Client
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, Site, User
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import connection_lost, transaction
from tests.bus_support import JOB_MODULES, RABBIT_URL, bus_environment, running_worker, settings_from, wait_for_result

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

WORKER_APPLICATION = "jobruntime-fault-test-worker"  # names the worker's connections, so only they are ended


@pytest.fixture
def stack(engine, db_url, tmp_path):
    worker_url = make_url(db_url).update_query_dict({"application_name": WORKER_APPLICATION})
    env = bus_environment(worker_url.render_as_string(hide_password=False), tmp_path, JOBRUNTIME_MAX_ATTEMPTS="50")
    settings = settings_from(env)
    runtime = Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))
    with runtime.session() as session:
        sync(session, discover(JOB_MODULES))
        for record in session.scalars(select(JobRecord)):
            record.enabled = True
        session.add(User(username="alice", is_superuser=True))
        session.commit()
    yield SimpleNamespace(env=env, settings=settings, runtime=runtime, queue=env["JOBRUNTIME_DEFAULT_QUEUE"],
                          admin_conninfo=make_url(db_url).set(drivername="postgresql").render_as_string(False))
    with Connection(RABBIT_URL) as connection:
        connection.channel().queue_delete(env["JOBRUNTIME_DEFAULT_QUEUE"])


def publish(stack, job, **data):
    with Client(stack.settings, username="alice") as client:
        request = client.request(job, data=data, task_queue=stack.queue)
        client.publish(request)
    return request


def sites(stack, name_prefix):
    with stack.runtime.session() as session:
        return dict(session.execute(
            select(Site.name, func.count()).where(Site.name.startswith(name_prefix)).group_by(Site.name)
        ).all())


def test_a_connection_the_server_ends_is_lost(engine):
    with pytest.raises(OperationalError) as caught, engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
    assert connection_lost(caught.value)


def test_a_connection_the_server_ends_under_a_prebuilt_statement_is_lost(engine):
    with pytest.raises(psycopg.OperationalError) as caught, transaction(engine) as db:
        db.connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    assert connection_lost(caught.value)


def test_a_statement_timeout_is_the_querys_own_error(engine):
    with pytest.raises(OperationalError) as caught, engine.connect() as connection:
        connection.exec_driver_sql("SET statement_timeout = 50")
        connection.exec_driver_sql("SELECT pg_sleep(5)")
    assert not connection_lost(caught.value)


def test_a_run_that_loses_its_connection_mid_job_is_run_again_and_applied_once(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/LosesItsConnection", number=1, lose_on=1)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=60)
    assert (result.status, result.reason) == ("completed", None)
    assert result.attempt == 2
    assert sites(stack, "Lost ") == {"Lost 1": 1}


def test_a_run_that_keeps_losing_its_connection_ends_errored_with_an_infrastructure_reason(stack):
    env = {**stack.env, "JOBRUNTIME_MAX_ATTEMPTS": "2"}
    with running_worker(env):
        request = publish(stack, "local/bus_jobs/LosesItsConnection", number=2, lose_on=5)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=60)
    assert (result.status, result.reason) == ("errored", "database connection lost after 2 attempts")
    assert sites(stack, "Lost ") == {}


def test_a_sensitive_run_that_loses_its_connection_ends_errored_saying_it_cannot_be_rerun(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SensitiveLosesItsConnection", number=3, lose_on=1)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=60)
    assert result.status == "errored"
    assert result.reason == (
        "database connection lost: its input was not stored (sensitive variables), so it cannot be re-run"
    )
    assert sites(stack, "Lost ") == {}


def test_a_jobs_own_database_error_stays_the_jobs_error(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/DuplicateSite")
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=60)
    assert result.status == "errored"
    assert result.reason.startswith("IntegrityError: ")
    assert result.attempt == 1


class ConnectionKiller:
    """Ends the worker's backends (only those of this test database) every ``interval`` seconds until stopped."""

    def __init__(self, conninfo: str, interval: float) -> None:
        self.conninfo = conninfo
        self.interval = interval
        self.ended = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="connection-killer", daemon=True)

    def __enter__(self) -> ConnectionKiller:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            while not self._stop.wait(self.interval):
                ended = connection.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = %s",
                    (WORKER_APPLICATION,),
                ).fetchone()[0]
                self.ended += ended


def test_every_stored_run_completes_exactly_once_while_the_workers_connections_are_killed(stack):
    count = 40
    with running_worker(stack.env, concurrency=2):
        with ConnectionKiller(stack.admin_conninfo, interval=0.3) as killer:
            requests = [publish(stack, "local/bus_jobs/SlowSite", number=number, seconds=0)
                        for number in range(count)]
            results = [wait_for_result(stack.runtime, request.job_result_id, timeout=240) for request in requests]
    assert killer.ended > 0
    assert [(result.status, result.reason) for result in results] == [("completed", None)] * count
    assert sites(stack, "Slow ") == {f"Slow {number}": 1 for number in range(count)}
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(JobResult)) == count
