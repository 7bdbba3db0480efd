"""A job with post_run() run with commit by a worker: it completes, whatever its length and the queue type.

A run that ends within its claim window (the log flush interval) writes its row claimed
and decided at once, and one with post_run() stays running in that write, with its
verdict, until post_run() has ended; its final write must then update the row it owns.
Each case runs on classic and on quorum queues, with and without log lines, shorter
than the claim window and longer than it (post_run() outlasting the window and the lease).
"""

from __future__ import annotations

import pytest
from kombu import Connection
from sqlalchemy import func, select

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import find_record, sync
from jobruntime.client import Client
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import JobLogEntry, OutboxEvent, Site, User
from jobruntime.run.runtime import Runtime
from tests.bus_support import JOB_MODULES, RABBIT_URL, bus_environment, running_worker, settings_from, wait_for_result

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

JOB = "local/bus_jobs/CheckedSite"
SHORT = {"window": "10", "seconds": 0}  # the whole run ends well within its claim window
LONG = {"window": "2", "seconds": 5}  # run() and the tests end within it, post_run() outlasts it and the lease


def _runtime(engine, env):
    settings = settings_from(env)
    return Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))


def _run_with_commit(engine, db_url, tmp_path, queue_type, window, job, data):
    """Publish one run of ``job`` with commit (recorded pending first, as `runjob` does) and wait for its end."""
    env = bus_environment(db_url, tmp_path, JOBRUNTIME_QUEUE_TYPE=queue_type, JOBRUNTIME_LOG_FLUSH_INTERVAL=window)
    runtime = _runtime(engine, env)
    with runtime.session() as session:
        sync(session, discover(JOB_MODULES))
        find_record(session, job).enabled = True
        session.add(User(username="admin", is_superuser=True))
        session.commit()
    try:
        with running_worker(env):
            with Client(settings_from(env), username="admin", record_pending=True) as client:
                request = client.request(job, data=data, commit=True)
                client.publish(request)
            result = wait_for_result(runtime, request.job_result_id, timeout=90)
    finally:
        with Connection(RABBIT_URL) as connection:
            connection.channel().queue_delete(env["JOBRUNTIME_DEFAULT_QUEUE"])
    return runtime, result


def _log_messages(runtime, job_result_id):
    with runtime.session() as session:
        return list(session.scalars(
            select(JobLogEntry.message).where(JobLogEntry.job_result_id == job_result_id).order_by(JobLogEntry.seq)
        ))


def _announced_statuses(runtime, job_result_id):
    with runtime.session() as session:
        bodies = session.scalars(select(OutboxEvent.body).order_by(OutboxEvent.created))
        return [body["status"] for body in bodies
                if isinstance(body, dict) and body.get("job_result_id") == str(job_result_id) and "status" in body]


@pytest.mark.parametrize("log", [0, 1], ids=["silent", "logging"])
@pytest.mark.parametrize("length", [SHORT, LONG], ids=["short", "long"])
@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_job_with_post_run_completes_on_the_bus_with_commit(engine, db_url, tmp_path, queue_type, length, log):
    data = {"number": 1, "seconds": length["seconds"], "log": log}
    runtime, result = _run_with_commit(engine, db_url, tmp_path, queue_type, length["window"], JOB, data)
    assert (result.status, result.reason, result.attempt) == ("completed", None, 1)
    assert result.data["output"] == "\nsite created\npost_run done"
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Site).where(Site.name == "Checked 1")) == 1
    logged = [f"{method} of attempt 1" for method in ("run", "test_site_exists", "test_site_is_active", "post_run")]
    assert _log_messages(runtime, result.id) == (logged if log else [])
    assert _announced_statuses(runtime, result.id) == ["running", "completed"]  # running with its verdict, then done


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_post_run_that_raises_in_a_short_run_ends_errored_with_its_own_reason(engine, db_url, tmp_path, queue_type):
    """Not "worker lost": the run's final write, after post_run(), is its worker's to make."""
    runtime, result = _run_with_commit(engine, db_url, tmp_path, queue_type, SHORT["window"],
                                       "local/bus_jobs/SiteThenPostRun", {"seconds": 0, "fail": 1})
    assert (result.status, result.reason, result.attempt) == ("errored", "post_run: RuntimeError: post_run broke", 1)
    assert _log_messages(runtime, result.id)[0] == "post_run of attempt 1"
    assert _announced_statuses(runtime, result.id) == ["running", "errored"]
