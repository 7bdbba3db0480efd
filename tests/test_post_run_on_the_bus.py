"""A job with post_run() run with commit by a worker: it completes, whatever its length and the queue type.

The run phase commits its changes with the verdict and post_run() follows; how the
run was claimed depends on whether it outlasts its claim window (the log flush
interval), so each case runs short, with run() longer than the window, and with
post_run() longer than it, on classic and on quorum queues, with and without log lines.
"""

from __future__ import annotations

import pytest
from kombu import Connection
from sqlalchemy import func, select

from jobruntime.client import Client
from jobruntime.discovery import discover
from jobruntime.job_records import find_record, sync
from jobruntime.models import JobLogEntry, OutboxEvent, Site, User
from jobruntime.runtime import Runtime
from jobruntime.sanitize import Sanitizer
from tests.bus_support import JOB_MODULES, RABBIT_URL, bus_environment, running_worker, settings_from, wait_for_result

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

JOB = "local/bus_jobs/CheckedSite"
SHORT = {"window": "10", "seconds": 0, "phase": 0}  # the whole run ends well within its claim window
LONG_RUN = {"window": "0.5", "seconds": 3, "phase": 0}  # run() outlasts the window: claimed while it runs
LONG_POST_RUN = {"window": "1", "seconds": 3, "phase": 1}  # run() ends within it, post_run() outlasts it


def _runtime(engine, env):
    settings = settings_from(env)
    return Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))


def _run_with_commit(engine, db_url, tmp_path, queue_type, length, log):
    """Publish one CheckedSite run with commit (recorded pending first, as `runjob` does) and wait for its end."""
    env = bus_environment(db_url, tmp_path, JOBRUNTIME_QUEUE_TYPE=queue_type,
                          JOBRUNTIME_LOG_FLUSH_INTERVAL=length["window"])
    runtime = _runtime(engine, env)
    with runtime.session() as session:
        sync(session, discover(JOB_MODULES))
        find_record(session, JOB).enabled = True
        session.add(User(username="admin", is_superuser=True))
        session.commit()
    data = {"number": 1, "seconds": length["seconds"], "phase": length["phase"], "log": log}
    try:
        with running_worker(env):
            with Client(settings_from(env), username="admin", record_pending=True) as client:
                request = client.request(JOB, data=data, commit=True)
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
@pytest.mark.parametrize("length", [SHORT, LONG_RUN, LONG_POST_RUN], ids=["short", "long-run", "long-post-run"])
@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_job_with_post_run_completes_on_the_bus_with_commit(engine, db_url, tmp_path, queue_type, length, log):
    runtime, result = _run_with_commit(engine, db_url, tmp_path, queue_type, length, log)
    assert (result.status, result.reason, result.attempt) == ("completed", None, 1)
    assert result.data["output"] == "\nsite created\npost_run done"
    with runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(Site).where(Site.name == "Checked 1")) == 1
    logged = [f"{method} of attempt 1" for method in ("run", "test_site_exists", "test_site_is_active", "post_run")]
    assert _log_messages(runtime, result.id) == (logged if log else [])
    announced = _announced_statuses(runtime, result.id)
    assert announced[-1] == "completed" and announced.count("completed") == 1 and "errored" not in announced
