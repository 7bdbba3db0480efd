"""Handing back a claimed run whose worker lost its database connection, against both databases."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from jobruntime.models import JobResult, OutboxEvent
from jobruntime.run.claim_statements import claim_run
from jobruntime.run.events import result_event_row
from jobruntime.worker.reaper import release_run


def _claimed(engine, **extra):
    values = {"id": uuid.uuid4(), "name": "local/basic/PassingJob", "task_queue": "default",
              "request": {"job": "local/basic/PassingJob", "requested_by": "alice"}, **extra}
    return claim_run(engine, values, worker="w1", lease_seconds=30)


def _release(engine, claim, max_attempts=3):
    return release_run(engine, claim.job_result_id, claim.attempt, max_attempts=max_attempts,
                       result_event=result_event_row, default_queue="default")


def _row(engine, job_result_id):
    with engine.connect() as connection:
        return connection.execute(select(JobResult.__table__).where(JobResult.id == job_result_id)).one()


def test_a_released_run_is_pending_again_and_its_request_is_queued_once_more(engine):
    claim = _claimed(engine)
    released = _release(engine, claim)
    assert released.requeued
    assert (_row(engine, claim.job_result_id).status, _row(engine, claim.job_result_id).worker) == ("pending", None)
    with engine.connect() as connection:
        queued = connection.execute(select(OutboxEvent.body).where(OutboxEvent.exchange == "jobruntime.run")).all()
    assert [body for (body,) in queued] == [{"job": "local/basic/PassingJob", "requested_by": "alice"}]


def test_a_released_run_without_attempts_left_ends_errored_saying_the_database_was_lost(engine):
    claim = _claimed(engine)
    released = _release(engine, claim, max_attempts=1)
    assert not released.requeued
    row = _row(engine, claim.job_result_id)
    assert (row.status, row.reason) == ("errored", "database connection lost after 1 attempts")


def test_a_run_whose_outcome_committed_is_not_released(engine):
    claim = _claimed(engine)
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.update().where(JobResult.id == claim.job_result_id)
                           .values(status="completed"))
    assert _release(engine, claim) is None
    assert _row(engine, claim.job_result_id).status == "completed"
