"""Claims, cancellation and the reaper, directly against both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobruntime import Job
from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import find_record, lookup_record, sync
from jobruntime.core.clock import utcnow
from jobruntime.models import JobLogEntry, JobResult, OutboxEvent, Site, Status, User
from jobruntime.run.claim_statements import claim_run
from jobruntime.run.events import result_event_row
from jobruntime.run.execution import LeaseLost, RunOptions, execute
from jobruntime.store.prebuilt import as_model, transaction
from jobruntime.worker.leases import refuse_run, renew_lease, request_cancel, rerun_request
from jobruntime.worker.reaper import reap_expired
from jobruntime.worker.timelimits import RunSlot

JOB_MODULES = Path(__file__).parent / "job_modules"


def _values(**extra):
    return {"id": uuid.uuid4(), "name": "local/basic/PassingJob", "task_queue": "default",
            "request": {"job": "local/basic/PassingJob", "requested_by": "alice"}, **extra}


def _row(engine, job_result_id):
    with engine.connect() as connection:
        return connection.execute(select(JobResult.__table__).where(JobResult.id == job_result_id)).one()


def _passing_job_record(engine):
    """The enabled Job record of the test modules' PassingJob, as a snapshot the run path uses."""
    with Session(engine) as session:
        sync(session, discover(JOB_MODULES))
        find_record(session, "local/basic/PassingJob").enabled = True
        session.commit()
    with transaction(engine) as db:
        return lookup_record(db, "local/basic/PassingJob")


def _expire(engine, job_result_id):
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.update().where(JobResult.id == job_result_id)
                           .values(lease_expires=utcnow() - timedelta(seconds=1)))


def _reap(engine, max_attempts=3):
    return reap_expired(engine, max_attempts=max_attempts, result_event=result_event_row, default_queue="default")


def test_a_claim_is_taken_once(engine):
    values = _values()
    first = claim_run(engine, values, worker="w1", lease_seconds=30)
    second = claim_run(engine, values, worker="w2", lease_seconds=30)
    assert first is not None and first.attempt == 1
    assert second is None
    assert _row(engine, values["id"]).worker == "w1"


def test_a_new_claim_is_created_when_it_starts_and_a_takeover_keeps_the_creation_time(engine):
    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    first = _row(engine, values["id"])
    assert first.created == first.started
    _expire(engine, values["id"])
    _reap(engine)
    claim_run(engine, values, worker="w2", lease_seconds=30)
    again = _row(engine, values["id"])
    assert again.created == first.created and again.started > first.started


def test_claim_commits_its_events_with_it(engine):
    claim = claim_run(engine, _values(), worker="w1", lease_seconds=30, events=[result_event_row])
    assert claim.events[0]["routing_key"] == "job.result.running"
    with engine.connect() as connection:
        assert connection.execute(select(OutboxEvent.routing_key)).scalars().all() == ["job.result.running"]


def test_expired_lease_is_requeued_through_the_outbox_and_claimable_again(engine):
    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    _expire(engine, values["id"])
    reaped = _reap(engine)
    assert [(item.job_result_id, item.requeued) for item in reaped] == [(values["id"], True)]
    assert _row(engine, values["id"]).status == "pending"
    assert rerun_request(_row(engine, values["id"])._asdict()) == values["request"]
    with engine.connect() as connection:
        announced, requeue = sorted(connection.execute(select(OutboxEvent)).all(), key=lambda row: row.exchange)
    assert (announced.routing_key, announced.body["status"]) == ("job.result.pending", "pending")
    assert (requeue.exchange, requeue.routing_key) == ("jobruntime.run", "default")
    again = claim_run(engine, values, worker="w2", lease_seconds=30)
    assert again is not None and again.attempt == 2 and again.requeued


def test_attempts_run_out_and_the_run_ends_worker_lost(engine):
    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    _expire(engine, values["id"])
    reaped = _reap(engine, max_attempts=1)
    assert reaped[0].reason == "worker lost after 1 attempts"
    row = _row(engine, values["id"])
    assert (row.status, row.reason) == ("errored", "worker lost after 1 attempts")
    assert row.completed is not None


def test_a_run_without_stored_input_cannot_be_requeued(engine):
    values = _values(request=None)
    claim_run(engine, values, worker="w1", lease_seconds=30)
    _expire(engine, values["id"])
    _reap(engine)
    assert _row(engine, values["id"]).reason.startswith("worker lost: its input was not stored")


def test_live_leases_are_left_alone(engine):
    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    assert _reap(engine) == []
    assert _row(engine, values["id"]).status == "running"


def test_a_lease_is_renewed_by_its_holder_only(engine):
    values = _values()
    claim_run(engine, values, worker="host:1:2", lease_seconds=1)
    before = _row(engine, values["id"]).lease_expires
    renew_lease(engine, values["id"], "host:9:9", 60)
    assert _row(engine, values["id"]).lease_expires == before
    renew_lease(engine, values["id"], "host:1:2", 60)
    assert _row(engine, values["id"]).lease_expires > utcnow() + timedelta(seconds=30)


def test_a_supervisor_keeps_a_run_its_process_claimed_before_it_could_say_so(engine):
    """The slot names the holder before the claim commits: a process that then holds the GIL (and so cannot
    record the claim's attempt) still has its lease renewed by the supervisor."""
    values = _values()
    slot = RunSlot()
    slot.start(values["id"], 60, "host:1:2")
    claim_run(engine, values, worker="host:1:2", lease_seconds=1)
    renew_lease(engine, *slot.running(), 60)
    assert _row(engine, values["id"]).lease_expires > utcnow() + timedelta(seconds=30)
    assert _reap(engine) == []  # the lease it renewed is live


def test_cancelling_a_pending_run_ends_it_at_once(engine):
    values = _values()
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.insert().values(**values, status="pending"))
    assert request_cancel(engine, values["id"], "carol") == "pending"
    row = _row(engine, values["id"])
    assert (row.status, row.reason) == ("errored", "cancelled by carol")
    assert claim_run(engine, values, worker="w1", lease_seconds=30) is None


def test_cancelling_a_running_run_flags_it_for_its_worker(engine):
    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    assert request_cancel(engine, values["id"], "carol") == "running"
    assert _row(engine, values["id"]).cancel_requested_by == "carol"
    assert request_cancel(engine, uuid.uuid4(), "carol") is None


def test_a_refused_run_is_recorded_once(engine):
    values = _values()
    assert refuse_run(engine, values, "Invalid token for user bob", events=[result_event_row])
    assert refuse_run(engine, values, "again", events=[result_event_row]) is None
    row = _row(engine, values["id"])
    assert (row.status, row.reason) == ("errored", "Invalid token for user bob")
    assert row.created == row.completed  # so its duration is 0, never negative


def _user_id(engine, username):
    with engine.begin() as connection:
        return connection.execute(User.__table__.insert().values(username=username).returning(User.id)).scalar()


def test_a_refusal_errors_its_users_pending_run_in_place(engine):
    values = _values(user_id=_user_id(engine, "alice"))
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.insert().values(id=values["id"], name=values["name"], status="pending",
                                                               user_id=values["user_id"],
                                                               created=utcnow() - timedelta(seconds=5)))
    events = refuse_run(engine, values, "User alice does not have permission", events=[result_event_row])
    row = _row(engine, values["id"])
    assert (row.status, row.reason, len(events)) == ("errored", "User alice does not have permission", 1)
    assert row.created < row.completed  # the pending row's creation time is kept


@pytest.mark.parametrize("owner", ["bob", None], ids=["another-user", "no-user"])
def test_a_refusal_never_changes_a_pending_run_of_another_user(engine, owner):
    values = _values(user_id=_user_id(engine, "mallory"))
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.insert().values(
            id=values["id"], name=values["name"], status="pending", user_id=owner and _user_id(engine, owner)))
    assert refuse_run(engine, values, "User mallory does not have permission", events=[result_event_row]) is None
    assert refuse_run(engine, {**values, "user_id": None}, "No credentials", events=[result_event_row]) is None
    row = _row(engine, values["id"])
    assert (row.status, row.reason) == ("pending", None)


def test_a_pending_run_is_taken_over_or_refused_only_by_a_request_for_its_own_job(engine):
    values = _values()
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.insert().values(id=values["id"], name=values["name"], status="pending"))
    other_job = {**values, "name": "local/basic/FailingJob"}
    assert claim_run(engine, other_job, worker="w1", lease_seconds=30) is None
    assert refuse_run(engine, other_job, "Invalid token for user mallory", events=[result_event_row]) is None
    assert (_row(engine, values["id"]).status, _row(engine, values["id"]).name) == ("pending", values["name"])
    assert claim_run(engine, values, worker="w1", lease_seconds=30) is not None


def test_a_lost_run_with_a_cancel_request_ends_cancelled_instead_of_running_again(engine):
    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    assert request_cancel(engine, values["id"], "carol") == "running"
    _expire(engine, values["id"])
    (reaped,) = _reap(engine)
    assert (reaped.requeued, reaped.reason) == (False, "cancelled by carol")
    assert (_row(engine, values["id"]).status, _row(engine, values["id"]).reason) == ("errored", "cancelled by carol")


def test_a_lost_run_whose_changes_are_committed_ends_errored_instead_of_running_again(engine):
    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    with engine.begin() as connection:  # run() committed with a verdict, then the worker died in post_run()
        connection.execute(JobResult.__table__.update().where(JobResult.id == values["id"]).values(verdict="failed"))
    _expire(engine, values["id"])
    (reaped,) = _reap(engine)
    expected = "worker lost during post_run(); run() and the tests had ended failed"
    assert (reaped.requeued, reaped.reason) == (False, expected)
    assert [event["routing_key"] for event in reaped.events] == ["job.result.errored"]
    assert (_row(engine, values["id"]).status, _row(engine, values["id"]).reason) == ("errored", expected)


def test_a_run_killed_at_its_hard_limit_after_its_verdict_ends_errored(runtime, engine):
    from jobruntime.worker.supervisor import Supervisor

    values = _values()
    claim_run(engine, values, worker="w1", lease_seconds=30)
    with engine.begin() as connection:  # the verdict committed, then post_run() hung
        connection.execute(JobResult.__table__.update().where(JobResult.id == values["id"]).values(verdict="completed"))
    events = Supervisor._record_hard_limit(runtime, values["id"], 5)
    row = _row(engine, values["id"])
    assert (row.status, row.reason, len(events)) == ("errored", "hard time limit (5 s) exceeded", 1)


@pytest.mark.parametrize("commit", [False, True], ids=["dry run", "commit, database never used"])
def test_a_stalled_run_cannot_overwrite_the_attempt_that_took_it_over(runtime, engine, commit):
    """A dry run's final write, and a verdict written as a statement of its own, are guarded by the attempt too."""
    record = _passing_job_record(engine)
    claim = claim_run(engine, _values(job_model_id=record.id), worker="w1", lease_seconds=30)
    with pytest.raises(LeaseLost, match="was taken over"):
        execute(runtime, as_model(JobResult, claim.row, job_model=record), RunOptions(job_class=OvertakenIdle,
                                                                                     commit=commit))
    assert _row(engine, claim.job_result_id).status == "running"


class OvertakenIdle(Job):
    """Stalls past its lease: while it runs, the reaper hands its run to another worker.

    It does not touch the database itself, so its verdict is a statement of its own.
    """

    def run(self, data, commit):
        table = JobResult.__table__
        with self.session.get_bind().begin() as connection:
            connection.execute(table.update().where(table.c.id == self.job_result.id)
                               .values(attempt=table.c.attempt + 1))


class Overtaken(OvertakenIdle):
    """Taken over like ``OvertakenIdle``, after changing data in its own transaction."""

    def run(self, data, commit):
        super().run(data, commit)
        Site(name="overtaken", slug="overtaken", status=Status.objects.get(slug="active")).validated_save()


def test_a_run_taken_over_while_it_ran_commits_none_of_its_changes(runtime, engine):
    record = _passing_job_record(engine)
    claim = claim_run(engine, _values(job_model_id=record.id), worker="w1", lease_seconds=30)
    result = as_model(JobResult, claim.row, job_model=record)

    with pytest.raises(LeaseLost, match="was taken over"):
        execute(runtime, result, RunOptions(job_class=Overtaken, commit=True))

    row = _row(engine, claim.job_result_id)
    assert (row.status, row.attempt, row.worker) == ("running", 2, "w1")
    with Session(engine) as session:
        assert session.scalars(select(Site).where(Site.slug == "overtaken")).first() is None
        assert session.scalars(select(OutboxEvent).where(OutboxEvent.routing_key == "job.result.completed")).all() == []


def test_a_rerun_numbers_its_log_entries_after_the_earlier_attempts(runtime, engine):
    """A follower dedupes entries by seq: a second attempt starting again at 1 would be swallowed."""
    record = _passing_job_record(engine)
    values = _values(job_model_id=record.id)
    first = claim_run(engine, values, worker="w1", lease_seconds=30)
    execute(runtime, as_model(JobResult, first.row, job_model=record), RunOptions(commit=False))
    with Session(engine) as session:
        logged_first = session.scalars(select(JobLogEntry.seq).where(JobLogEntry.job_result_id == values["id"])).all()
        session.execute(JobResult.__table__.update().where(JobResult.id == values["id"])
                        .values(status="running", lease_expires=utcnow() - timedelta(seconds=1)))
        session.commit()
    _reap(engine)
    second = claim_run(engine, values, worker="w2", lease_seconds=30)
    assert second.attempt == 2
    execute(runtime, as_model(JobResult, second.row, job_model=record), RunOptions(commit=False))
    with Session(engine) as session:
        seqs = session.scalars(select(JobLogEntry.seq).where(JobLogEntry.job_result_id == values["id"])
                               .order_by(JobLogEntry.seq)).all()
    assert logged_first and seqs == list(range(1, 2 * len(logged_first) + 1))
