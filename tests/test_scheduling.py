"""Schedules in the database: when they run, firing each occurrence once, approvals and their refusals."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from jobruntime.bus.broker import Bus
from jobruntime.bus.outbox import OutboxRelay
from jobruntime.core.settings import Settings
from jobruntime.models import JobResult, OutboxEvent, ScheduledJob, User
from jobruntime.run.auth import APPROVE_JOB, RUN_JOB, PermissionDenied, grant
from jobruntime.scheduling import approvals
from jobruntime.scheduling.firing import fire_due
from jobruntime.scheduling.loop import ScheduleFirer
from jobruntime.scheduling.recurrence import InvalidSchedule, check_crontab, first_run, occurrences, zone
from jobruntime.scheduling.schedules import (
    SENSITIVE_APPROVAL,
    SENSITIVE_SCHEDULE,
    create_schedule,
    describe,
    next_runs,
    prune,
    set_enabled,
)

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _runs(interval, start, after, count=5, crontab=None, tz=PARIS):
    moments = occurrences(interval, start, tz, after, crontab)
    return [moment.astimezone(tz) for moment in itertools.islice(moments, count)]


def test_daily_keeps_its_wall_clock_time_across_the_spring_change_and_a_missing_time_runs_at_the_first_valid_one():
    start = dt.datetime(2026, 3, 27, 2, 30, tzinfo=PARIS)
    runs = _runs("daily", start, start - dt.timedelta(seconds=1), 4)
    assert [run.isoformat() for run in runs] == [
        "2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day in Paris
        "2026-03-30T02:30:00+02:00",
    ]


def test_daily_at_an_ambiguous_autumn_time_runs_once_that_day():
    start = dt.datetime(2026, 10, 24, 2, 30, tzinfo=PARIS)
    runs = _runs("daily", start, start - dt.timedelta(seconds=1), 3)
    assert [run.isoformat() for run in runs] == [
        "2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00",
    ]


def test_hourly_runs_every_hour_from_its_start_across_the_autumn_change():
    start = dt.datetime(2026, 10, 25, 0, 15, tzinfo=UTC)
    runs = [run.astimezone(UTC) for run in _runs("hourly", start, start - dt.timedelta(seconds=1), 4)]
    assert [run - start for run in runs] == [dt.timedelta(hours=hours) for hours in range(4)]


def test_weekly_runs_on_the_weekday_of_its_start_in_its_zone():
    start = dt.datetime(2026, 12, 6, 0, 30, tzinfo=PARIS)  # a Sunday in Paris, still Saturday in UTC
    runs = _runs("weekly", start, start - dt.timedelta(seconds=1), 3)
    assert [run.strftime("%A %H:%M") for run in runs] == ["Sunday 00:30"] * 3
    assert runs[1] - runs[0] == dt.timedelta(days=7)


def test_a_crontab_restricting_day_of_month_and_weekday_runs_when_both_match():
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    runs = _runs("custom", start, start, 3, crontab="*/15 9,17 3 * 1-5", tz=ZoneInfo("UTC"))
    assert [run.isoformat() for run in runs] == [  # 3 February 2026 is the first weekday that is a 3rd
        "2026-02-03T09:00:00+00:00", "2026-02-03T09:15:00+00:00", "2026-02-03T09:30:00+00:00",
    ]


@pytest.mark.parametrize("crontab", [None, "", "hourly", "* * * * * *", "-1 * * * *", "invalid literal * * *",
                                     "0  9 * * *", "0 9 L * *", "@daily"])
def test_invalid_crontabs_are_refused(crontab):
    with pytest.raises(InvalidSchedule, match="Invalid crontab"):
        check_crontab(crontab)


def test_one_offs_run_once_at_their_start():
    start = dt.datetime(2026, 12, 24, 18, tzinfo=PARIS)
    assert first_run("future", start, PARIS) == start
    assert list(occurrences("future", start, PARIS, start - dt.timedelta(days=1))) == []


@pytest.fixture
def job(session, records):
    record = records[0]
    record.enabled = True
    session.flush()
    return record


@pytest.fixture
def users(session, job):
    """alice (may run the job), bob (may approve it) and carol (may do nothing)."""
    people = {name: User(username=name) for name in ("alice", "bob", "carol")}
    session.add_all(people.values())
    session.flush()
    grant(session, people["alice"], RUN_JOB, job)
    grant(session, people["bob"], APPROVE_JOB, job)
    grant(session, people["bob"], RUN_JOB, job)
    session.commit()
    return people


def _schedule(session, job, user, interval="daily", start="2026-12-02T09:00:00", **options):
    schedule = create_schedule(session, job, user, interval=interval, start=start, default_queue="default",
                               time_zone=options.pop("time_zone", "Europe/Paris"), now=options.pop("now", NOW),
                               **options)
    session.commit()
    return schedule


def _runs_of(session, schedule):
    return list(session.scalars(select(JobResult).where(JobResult.schedule_id == schedule.id)))


def test_a_naive_start_is_wall_clock_time_in_the_schedules_zone_and_an_offset_is_that_instant(session, job, users):
    naive = _schedule(session, job, users["alice"], start="2026-12-02T09:00:00")
    offset = _schedule(session, job, users["alice"], start="2026-12-02T09:00:00+00:00")
    assert naive.start_time == dt.datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert offset.start_time == dt.datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert describe(naive)["next_runs"][:2] == ["2026-12-02T09:00:00+01:00", "2026-12-03T09:00:00+01:00"]
    assert len(next_runs(naive)) == 5


def test_a_due_schedule_fires_once_as_its_requester_and_moves_to_its_next_run(session, engine, job, users):
    schedule = _schedule(session, job, users["alice"], data={}, commit=True)
    due = dt.datetime(2026, 12, 2, 8, 0, 1, tzinfo=UTC)
    assert fire_due(engine, default_queue="default", now=due - dt.timedelta(minutes=1)).runs == []
    firing = fire_due(engine, default_queue="default", now=due)
    assert fire_due(engine, default_queue="default", now=due).runs == []
    session.expire_all()
    [run] = _runs_of(session, schedule)
    assert firing.runs == [run.id]
    assert (run.status, run.user.username, run.name) == ("pending", "alice", job.class_path)
    assert run.request["commit"] is True and run.request["requested_by"] == "alice"
    assert [event["body"]["job_result_id"] for event in firing.events] == [str(run.id)]
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 1
    assert (schedule.total_run_count, schedule.last_run_at) == (1, due)
    assert schedule.next_run_at == dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_after_downtime_a_recurring_schedule_fires_once_and_logs_what_it_skipped(session, engine, job, users,
                                                                                  caplog):
    schedule = _schedule(session, job, users["alice"], interval="hourly", start="2026-12-01T13:30:00")
    with caplog.at_level(logging.WARNING, logger="jobruntime.scheduling.firing"):
        fire_due(engine, default_queue="default", now=dt.datetime(2026, 12, 1, 17, 45, tzinfo=UTC))
    session.expire_all()
    assert len(_runs_of(session, schedule)) == 1
    assert schedule.next_run_at == dt.datetime(2026, 12, 1, 18, 30, tzinfo=UTC)  # started 12:30 UTC, fired 17:45
    assert "missed 5 occurrence(s)" in caplog.text


def test_a_past_one_off_fires_once_and_is_then_finished(session, engine, job, users):
    schedule = _schedule(session, job, users["alice"], interval="future", start="2026-12-01T14:00:00")
    for hours in (1, 5, 50):
        fire_due(engine, default_queue="default", now=NOW + dt.timedelta(hours=hours))
    session.expire_all()
    assert len(_runs_of(session, schedule)) == 1
    assert (schedule.next_run_at, describe(schedule)["state"]) == (None, "finished")


def test_concurrent_firing_loops_fire_each_occurrence_once(session, engine, job, users):
    schedules = [_schedule(session, job, users["alice"], interval="future", start="2026-12-01T14:00:00")
                 for _ in range(60)]
    due = NOW + dt.timedelta(hours=2)
    barrier = threading.Barrier(3)
    fired: list[int] = []

    def loop() -> None:
        barrier.wait()
        for _ in range(5):
            try:
                fired.append(len(fire_due(engine, default_queue="default", now=due, batch=7).runs))
            except Exception:  # noqa: BLE001 - SQLite: a loop that lost the race rolls back its batch
                continue

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(10):  # what a lost race left behind, fired by a later pass
        fire_due(engine, default_queue="default", now=due)
    session.expire_all()
    counts = {schedule.id: len(_runs_of(session, schedule)) for schedule in schedules}
    assert set(counts.values()) == {1}
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 60


def test_a_schedule_of_a_disabled_job_skips_its_occurrence_and_says_why(session, engine, job, users, caplog):
    schedule = _schedule(session, job, users["alice"])
    job.enabled = False
    session.commit()
    with caplog.at_level(logging.WARNING, logger="jobruntime.scheduling.firing"):
        fire_due(engine, default_queue="default", now=dt.datetime(2026, 12, 2, 8, 1, tzinfo=UTC))
    session.expire_all()
    assert _runs_of(session, schedule) == []
    assert schedule.enabled and schedule.next_run_at == dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert f"Job {job.class_path} is disabled" in schedule.skip_reason
    assert "skipped" in caplog.text


def test_deleting_a_job_record_keeps_its_schedules_but_disables_them(session, engine, job, users):
    schedule = _schedule(session, job, users["alice"])
    session.delete(job)
    session.commit()
    fire_due(engine, default_queue="default", now=dt.datetime(2026, 12, 2, 8, 1, tzinfo=UTC))
    session.expire_all()
    assert (schedule.enabled, schedule.job_class, schedule.job_model_id) == (False, "local/basic/PassingJob", None)
    assert "its job was deleted" in describe(schedule)["skip_reason"]
    with pytest.raises(InvalidSchedule, match="was deleted"):
        set_enabled(schedule, True)


def test_jobs_with_sensitive_variables_cannot_be_scheduled_nor_require_approval(session, job, users):
    job.has_sensitive_variables = True
    session.flush()
    with pytest.raises(InvalidSchedule) as refused:
        _schedule(session, job, users["alice"])
    assert str(refused.value) == SENSITIVE_SCHEDULE
    job.approval_required = True
    session.flush()
    with pytest.raises(InvalidSchedule) as refused:
        _schedule(session, job, users["alice"], interval="immediately", start=None)
    assert str(refused.value) == SENSITIVE_APPROVAL


def test_a_schedule_needs_run_permission_and_a_start_that_has_not_passed(session, job, users):
    with pytest.raises(PermissionDenied, match="carol does not have permission to run job"):
        _schedule(session, job, users["carol"])
    with pytest.raises(InvalidSchedule, match="greater than or equal to the current date"):
        _schedule(session, job, users["alice"], start="2026-11-30T09:00:00")
    with pytest.raises(InvalidSchedule, match="needs a start time"):
        _schedule(session, job, users["alice"], start=None)


@pytest.fixture
def awaiting(session, job, users):
    job.approval_required = True
    session.commit()
    return _schedule(session, job, users["alice"], interval="immediately", start=None, data={"note": "as typed"})


def test_an_approval_required_schedule_does_not_fire_until_approved(session, engine, awaiting, users):
    later = NOW + dt.timedelta(minutes=5)
    assert fire_due(engine, default_queue="default", now=later).runs == []
    approvals.approve(session, awaiting, users["bob"], now=later)
    session.commit()
    [run_id] = fire_due(engine, default_queue="default", now=later).runs
    assert session.get(JobResult, run_id).user.username == "alice"  # made as the requester, not the approver


def test_nobody_approves_their_own_request_superusers_included(session, awaiting, users):
    users["alice"].is_superuser = True
    session.flush()
    with pytest.raises(approvals.ApprovalRefused) as refused:
        approvals.approve(session, awaiting, users["alice"], now=NOW)
    assert str(refused.value) == "You cannot approve your own job request!"


def test_approving_and_denying_need_approve_job_on_the_job(session, awaiting, users):
    with pytest.raises(approvals.ApprovalRefused, match="You do not have permission to approve this request."):
        approvals.approve(session, awaiting, users["carol"], now=NOW)
    with pytest.raises(approvals.ApprovalRefused, match="You do not have permission to deny this request."):
        approvals.deny(session, awaiting, users["carol"])
    assert approvals.deny(session, awaiting, users["bob"]) == f"Approval of {awaiting.name} was denied"


def test_the_requester_may_withdraw_their_own_request(session, awaiting, users):
    name = awaiting.name
    assert approvals.deny(session, awaiting, users["alice"]) == f"Approval request for {name} was revoked"
    session.commit()
    assert session.scalar(select(func.count()).select_from(ScheduledJob)) == 0


def test_a_past_one_off_is_approved_only_with_force(session, job, users):
    job.approval_required = True
    session.commit()
    schedule = _schedule(session, job, users["alice"], interval="future", start="2026-12-01T14:00:00")
    later = NOW + dt.timedelta(hours=3)
    with pytest.raises(approvals.ApprovalRefused, match="start time is in the past"):
        approvals.approve(session, schedule, users["bob"], now=later)
    approvals.approve(session, schedule, users["bob"], force=True, now=later)
    assert schedule.approved_by_user.username == "bob"


def test_a_dry_run_runs_the_input_without_commit_as_the_approver_and_leaves_the_schedule(session, awaiting, users):
    run_id, events = approvals.dry_run(session, awaiting, users["bob"], default_queue="default", now=NOW)
    session.commit()
    run = session.get(JobResult, run_id)
    assert (run.user.username, run.request["commit"], run.request["data"]) == ("bob", False, {"note": "as typed"})
    assert run.schedule_id == awaiting.id and len(events) == 1
    assert awaiting.awaiting_approval and awaiting.total_run_count == 0
    with pytest.raises(approvals.ApprovalRefused, match="You do not have permission to run this job."):
        approvals.dry_run(session, awaiting, users["carol"], default_queue="default", now=NOW)


def test_prune_removes_old_one_offs_and_keeps_recurring_schedules(session, job, users):
    one_off = _schedule(session, job, users["alice"], interval="future", start="2026-12-01T14:00:00")
    daily = _schedule(session, job, users["alice"])
    assert prune(session, dt.timedelta(days=30), now=NOW + dt.timedelta(days=31)) == 1
    session.commit()
    assert session.scalars(select(ScheduledJob.id)).all() == [daily.id]
    assert one_off.id != daily.id


def test_unknown_time_zones_are_refused():
    with pytest.raises(InvalidSchedule, match="Unknown time zone"):
        zone("Mars/Olympus")


def test_a_schedule_of_an_inactive_requester_skips_its_occurrence(session, engine, job, users):
    schedule = _schedule(session, job, users["alice"])
    users["alice"].is_active = False
    session.commit()
    fire_due(engine, default_queue="default", now=dt.datetime(2026, 12, 2, 8, 1, tzinfo=UTC))
    session.expire_all()
    assert _runs_of(session, schedule) == []
    assert "its requester alice is inactive" in schedule.skip_reason


def test_a_supervisor_fires_a_schedule_as_it_falls_due_between_its_passes(session, engine, job, users, tmp_path):
    now = dt.datetime.now(UTC)
    start = (now + dt.timedelta(seconds=1)).isoformat()
    schedule = _schedule(session, job, users["alice"], interval="future", start=start, now=now)
    with Bus(Settings(broker_url="memory://", home=tmp_path)) as bus:
        relay = OutboxRelay(engine, bus)
        firer = ScheduleFirer(engine, relay, default_queue="default", interval=3600)
        try:
            assert firer.tick() == 0  # the first pass: nothing due yet, but it learns when something will be
            deadline = time.monotonic() + 30
            fired = 0
            while not fired and time.monotonic() < deadline:
                time.sleep(0.05)
                fired = firer.tick()
        finally:
            relay.close()
    session.expire_all()
    assert fired == 1 and len(_runs_of(session, schedule)) == 1
