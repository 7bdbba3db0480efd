"""What a hook's run request says, as written to the outbox with the change (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest
from sqlalchemy import select, text

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import find_record, sync
from jobruntime.bus.messages import RunRequest
from jobruntime.bus.outbox import EVENTS_EXCHANGE, RUN_EXCHANGE
from jobruntime.changes.hooks import hook_run_id, write_with_hook_runs
from jobruntime.changes.recorder import Change
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.models import JobHook, ObjectChange, OutboxEvent
from jobruntime.store.prebuilt import in_session, on_connection
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


def device_created() -> Change:
    return Change({
        "id": uuid.uuid4(), "time": utcnow(), "user_id": None, "user_name": "alice", "request_id": None,
        "action": "create", "changed_object_type": "dcim.device", "changed_object_id": uuid.uuid4(),
        "related_object_type": None, "related_object_id": None, "object_repr": "sw0", "object_data": {},
        "change_context": "job", "change_context_detail": "",
    }, None)


def test_a_change_its_event_and_the_hook_read_make_one_round_trip_and_the_hook_run_another(runtime, tmp_path):
    if not Capabilities.of(runtime.engine).pipelines:
        pytest.skip("statements are pipelined on PostgreSQL only")
    runtime = hooked_runtime(runtime)
    change = device_created()
    trace = tmp_path / "protocol.txt"
    with runtime.session() as session:
        db = in_session(session)
        session.execute(text("SELECT 1"))  # the transaction is open: BEGIN is not part of what is counted
        with trace.open("w") as out:
            db.connection.pgconn.trace(out.fileno())
            try:
                rows = write_with_hook_runs(db, [change], runtime.settings, events=True)
            finally:
                db.connection.pgconn.untrace()
        session.commit()
    waits = [line for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]
             and line.split("\t")[3] in ("Sync", "Query")]
    assert len(waits) == 2
    assert [row["exchange"] for row in rows] == [EVENTS_EXCHANGE, RUN_EXCHANGE]
    [(_row, request)] = dispatched(runtime)
    assert request.data == {"object_change": str(change.row["id"])}
    with runtime.session() as session:
        assert session.get(ObjectChange, change.row["id"]).object_repr == "sw0"


def test_a_change_recorded_twice_is_refused_as_the_drivers_integrity_error_and_leaves_the_connection_usable(runtime):
    """What ``record_external`` relies on when another delivery of the same change committed first."""
    runtime = hooked_runtime(runtime)
    change = device_created()
    with runtime.engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # as record_external's reads do, so commit() ends a transaction
        write_with_hook_runs(on_connection(connection), [change], runtime.settings, events=True)
        connection.commit()
        connection.execute(text("SELECT 1"))
        with pytest.raises(connection.dialect.loaded_dbapi.IntegrityError):
            write_with_hook_runs(on_connection(connection), [change], runtime.settings, events=True)
        connection.rollback()
        assert connection.execute(select(ObjectChange.id)).scalars().all() == [change.row["id"]]
    assert len(dispatched(runtime)) == 1
