"""A batch's deciding writes (``jobruntime.run.decisions``), sent together at its close (PostgreSQL: batches and
unclaimed runs need its concurrent writes).

Each run is decided exactly as its own deciding write would decide it: a new or a
pending row is taken, anything else (a copy decided in the same batch, a run that
ended) writes nothing, log entries and events included. A failed batch writes
nothing at all and leaves every run to be decided again.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import find_record, lookup_record, sync
from jobruntime.core.clock import utcnow
from jobruntime.models import JobLogEntry, JobResult, Site
from jobruntime.run.claim import ClaimState, RunClaim
from jobruntime.run.decisions import PendingDecision, write_decisions
from jobruntime.run.events import result_event_row
from jobruntime.run.execution import JobExecution, RunOptions
from jobruntime.run.log import RunLog
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import as_model, transaction
from jobruntime.worker.batching import RunBatch
from tests.conftest import JOB_MODULES

JOB = "local/basic/PassingJob"

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def workers_runtime(runtime):
    """The test runtime as a worker's: it records outbox events."""
    return Runtime(settings=runtime.settings, engine=runtime.engine, sanitizer=runtime.sanitizer, events=True)


def _claim(runtime: Runtime, job_result_id: uuid.UUID, **values) -> RunClaim:
    return RunClaim(runtime.engine, {"id": job_result_id, "name": JOB, "task_queue": "default", "request": None,
                                     **values},
                    worker="w1", lease_seconds=30, events=[], on_claimed=lambda claim: None)


def _pending(runtime: Runtime, job_result_id: uuid.UUID | None = None, *messages: str, **values) -> PendingDecision:
    """A run that ended ``completed`` without writing, its deciding write held as a batch holds it."""
    claim = _claim(runtime, job_result_id or uuid.uuid4(), **values)
    run_log = RunLog(claim.job_result_id, runtime.log_writer, runtime.sanitizer)
    for message in messages:
        run_log.add("info", "run", message)
    assert claim.start_deciding()
    entries, log_events = run_log.take()
    row = {**claim.snapshot(), "status": "completed", "completed": utcnow(), "verdict": None, "log_info": len(messages)}
    return PendingDecision(claim, run_log, row, result_event_row(row), entries, log_events)


def _rows(engine) -> dict[uuid.UUID, tuple[str, int, int]]:
    with engine.connect() as connection:
        return {row.id: (row.status, row.attempt, row.log_info)
                for row in connection.execute(select(JobResult.id, JobResult.status, JobResult.attempt,
                                                     JobResult.log_info))}


def _messages(engine, job_result_id: uuid.UUID) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(JobLogEntry.message).where(JobLogEntry.job_result_id == job_result_id)
                                       .order_by(JobLogEntry.seq)))


def test_each_run_of_a_batch_is_decided_once_with_its_entries_and_events(workers_runtime, engine):
    first, second, third = (_pending(workers_runtime, None, "one", "two"), _pending(workers_runtime),
                            _pending(workers_runtime))
    copy = _pending(workers_runtime, first.claim.job_result_id, "from the copy")  # a duplicate in the same batch

    events = write_decisions(workers_runtime, [first, second, third, copy])

    assert _rows(engine) == {first.claim.job_result_id: ("completed", 1, 2),
                             second.claim.job_result_id: ("completed", 1, 0),
                             third.claim.job_result_id: ("completed", 1, 0)}
    assert _messages(engine, first.claim.job_result_id) == ["one", "two"]
    assert [(event["routing_key"], event["body"]["job_result_id"]) for event in events] == [
        *[(event["routing_key"], event["body"]["job_result_id"]) for event in first.log_events],
        ("job.result.completed", str(first.claim.job_result_id)),
        ("job.result.completed", str(second.claim.job_result_id)),
        ("job.result.completed", str(third.claim.job_result_id)),
    ]
    assert [entry["message"] for event in first.log_events for entry in event["body"]["entries"]] == ["one", "two"]
    assert [each.claim.state for each in (first, second, third, copy)] == [ClaimState.DECIDED] * 3 + [ClaimState.LOST]
    assert (first.run_log.buffered, copy.run_log.buffered) == (False, True)  # the copy's entries were never written


def test_a_pending_row_is_taken_over_and_an_ended_one_is_left_as_it_was(workers_runtime, engine):
    pending_id, ended_id = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(insert(JobResult), [
            {"id": pending_id, "name": JOB, "status": "pending", "attempt": 0, "created": utcnow()},
            {"id": ended_id, "name": JOB, "status": "failed", "attempt": 1, "created": utcnow()},
        ])
    pending, ended = _pending(workers_runtime, pending_id), _pending(workers_runtime, ended_id, "late")

    events = write_decisions(workers_runtime, [pending, ended])

    assert _rows(engine) == {pending_id: ("completed", 1, 0), ended_id: ("failed", 1, 0)}
    assert [event["body"]["job_result_id"] for event in events] == [str(pending_id)]
    assert _messages(engine, ended_id) == []
    assert (pending.claim.state, ended.claim.state) == (ClaimState.DECIDED, ClaimState.LOST)


def test_a_batch_that_fails_writes_nothing_and_leaves_every_run_to_be_decided_again(workers_runtime, engine):
    good = _pending(workers_runtime, None, "kept for the next write")
    broken = _pending(workers_runtime, job_model_id=uuid.uuid4())  # no such Job record: the foreign key refuses it

    with pytest.raises(psycopg.errors.ForeignKeyViolation):  # the driver's own: the statements run on it
        write_decisions(workers_runtime, [good, broken])

    assert _rows(engine) == {}
    assert [each.claim.state for each in (good, broken)] == [ClaimState.UNCLAIMED] * 2
    assert good.run_log.take()[0][0].message == "kept for the next write"


@pytest.mark.parametrize(("job", "commit", "deferred", "site"), [
    (JOB, False, True, None), ("local/bus_jobs/Quick", True, True, None), (JOB, True, False, "Passing Site"),
], ids=["dry run: with the batch", "committed, nothing written: with the batch", "changes: with them, at once"])
def test_only_a_run_that_leaves_nothing_to_commit_is_decided_with_its_batch(workers_runtime, engine, job, commit,
                                                                             deferred, site):
    with Session(engine) as session:
        sync(session, discover(JOB_MODULES))
        find_record(session, job).enabled = True
        session.commit()
    with transaction(engine) as db:
        record = lookup_record(db, job)
    claim = _claim(workers_runtime, uuid.uuid4(), name=job, job_model_id=record.id)
    held: list[PendingDecision] = []
    result = JobExecution(workers_runtime, as_model(JobResult, claim.snapshot(), job_model=record, user=None),
                          RunOptions(commit=commit, claim=claim, defer_decision=held.append)).execute()

    assert (result.status, len(held), claim.state) == ("completed", int(deferred),
                                                        ClaimState.DECIDING if deferred else ClaimState.DECIDED)
    if deferred:
        assert _rows(engine) == {}  # nothing written before the batch's write
        write_decisions(workers_runtime, held)
    with engine.connect() as connection:
        written_site = connection.scalar(select(Site.name).where(Site.name == "Passing Site"))
    assert (_rows(engine)[claim.job_result_id][0], written_site, claim.state) == ("completed", site,
                                                                                  ClaimState.DECIDED)
    assert len(_messages(engine, claim.job_result_id)) == result.log_info + result.log_success > 0


class _KeptDelivery:
    """Stands in for a bus delivery a batch keeps: records how the batch settles it."""

    def __init__(self) -> None:
        self.settled = False
        self.kept = False
        self.outcome: str | None = None

    def keep(self) -> None:
        self.kept = True

    def ack(self, *, multiple: bool = False) -> None:
        self.settled, self.outcome = True, "acked"

    def hand_back(self) -> None:
        self.settled, self.outcome = True, "handed back"


def test_a_batch_whose_decisions_cannot_be_written_hands_its_deliveries_back_unspent(workers_runtime, engine):
    published: list = []
    batch = RunBatch(workers_runtime, workers_runtime, published.extend, size=100, max_age=60)
    good, broken = _pending(workers_runtime), _pending(workers_runtime, job_model_id=uuid.uuid4())  # FK refuses it
    deliveries = [_KeptDelivery(), _KeptDelivery()]
    for decision, delivery in zip((good, broken), deliveries, strict=True):
        batch.defer(decision)
        batch.handled(delivery, workers_runtime)

    assert batch.close() is False
    assert ([delivery.outcome for delivery in deliveries], published, _rows(engine)) == (
        ["handed back", "handed back"], [], {})
    assert [each.claim.state for each in (good, broken)] == [ClaimState.UNCLAIMED] * 2
    ok = _pending(workers_runtime)
    batch.defer(ok)
    batch.handled(delivery := _KeptDelivery(), workers_runtime)
    assert (batch.close(), delivery.outcome, [event["routing_key"] for event in published]) == (
        True, "acked", ["job.result.completed"])
