"""What a hook's run request says, as written to the outbox with the change (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select

from jobruntime.changes.hooks import hook_run_id
from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import find_record, sync
from jobruntime.bus.messages import RunRequest
from jobruntime.models import JobHook, ObjectChange, OutboxEvent
from jobruntime.bus.outbox import RUN_EXCHANGE
from jobruntime.testing import run_job_for_testing
from tests.conftest import JOB_MODULES
from tests.job_modules import change_jobs

RECEIVER = "local/change_jobs/LogReceiver"


def hooked_runtime(runtime, **receiver):
    runtime = type(runtime)(settings=runtime.settings.replace(signing_secret="s3cret"), engine=runtime.engine,
                            sanitizer=runtime.sanitizer)
    with runtime.session() as session:
        sync(session, discover(JOB_MODULES))
        record = find_record(session, RECEIVER)
        for key, value in receiver.items():
            setattr(record, key, value)
        session.add(JobHook(name="h", slug="h", job=record, content_types=["dcim.device"], type_create=True))
        session.commit()
    return runtime


def dispatched(runtime) -> list[tuple[OutboxEvent, RunRequest]]:
    with runtime.session() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.exchange == RUN_EXCHANGE)).all()
    return [(row, RunRequest.model_validate(row.body)) for row in rows]


def test_a_hook_run_goes_to_the_receivers_first_queue_signed_for_the_changes_user(runtime):
    runtime = hooked_runtime(runtime, task_queues=["net", "default"])
    result = run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    with runtime.session() as session:
        changes = session.scalars(select(ObjectChange).where(ObjectChange.changed_object_type == "dcim.device")).all()
        hook = session.scalars(select(JobHook)).one()
    sent = dispatched(runtime)
    assert len(sent) == 3
    expected = {hook_run_id(hook.id, change.id): change for change in changes}
    for row, request in sent:
        change = expected[request.job_result_id]
        assert row.routing_key == "net" and request.task_queue == "net"
        assert (request.job, request.data, request.commit) == (RECEIVER, {"object_change": str(change.id)}, True)
        assert request.requested_by == "test-user" == change.user_name and change.request_id == result.id
        assert request.signature == hmac.new(b"s3cret", request.canonical_bytes(), hashlib.sha256).hexdigest()


def test_a_read_only_receiver_is_asked_for_no_commit(runtime):
    runtime = hooked_runtime(runtime, read_only=True)
    run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    assert {request.commit for _row, request in dispatched(runtime)} == {False}


def test_deleting_the_receivers_job_record_deletes_its_hooks(runtime):
    runtime = hooked_runtime(runtime)
    with runtime.session() as session:
        session.delete(find_record(session, RECEIVER))
        session.commit()
        assert session.scalars(select(JobHook)).all() == []
