"""A run that kills its worker every time ends ``errored`` after ``max_attempts``, whatever the queue type.

Its first delivery starts unclaimed and dies with the process; the broker delivers it
again, and a delivery that came back is claimed before its job starts, so from then on
its attempts count in its row and the reaper ends it. Classic queues count no
deliveries, so without that the request would come back for ever.
"""

from __future__ import annotations

import pytest
from kombu import Connection

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import find_record, sync
from jobruntime.client import Client
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import User
from jobruntime.run.runtime import Runtime
from tests.bus_support import JOB_MODULES, RABBIT_URL, bus_environment, running_worker, settings_from, wait_for_result

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_run_killing_its_worker_every_time_ends_errored_after_its_attempts(engine, db_url, tmp_path, queue_type):
    env = bus_environment(db_url, tmp_path, JOBRUNTIME_QUEUE_TYPE=queue_type, JOBRUNTIME_MAX_ATTEMPTS="2")
    settings = settings_from(env)
    runtime = Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))
    with runtime.session() as session:
        sync(session, discover(JOB_MODULES))
        find_record(session, "local/bus_jobs/KillsItsWorker").enabled = True
        session.add(User(username="admin", is_superuser=True))
        session.commit()
    marker = tmp_path / "attempts"
    try:
        with running_worker(env):
            with Client(settings, username="admin") as client:
                request = client.request("local/bus_jobs/KillsItsWorker", data={"marker": str(marker)}, commit=True)
                client.publish(request)
            result = wait_for_result(runtime, request.job_result_id, timeout=60)
    finally:
        with Connection(RABBIT_URL) as connection:
            connection.channel().queue_delete(env["JOBRUNTIME_DEFAULT_QUEUE"])
    assert (result.status, result.reason, result.attempt) == ("errored", "worker lost after 2 attempts", 2)
    # The unclaimed first delivery (as attempt 1, its row not written), then the claimed attempts 1 and 2.
    assert marker.read_text().split() == ["1", "1", "2"]
