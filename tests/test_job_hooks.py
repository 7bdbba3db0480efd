"""Object-change events and job hooks on the real bus: after commit, once per (hook, change), never in a loop.

These tests run `jobruntime worker` processes against RabbitMQ and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from sqlalchemy import func, select

from jobruntime.authoring.records import find_record
from jobruntime.bus.broker import Bus
from jobruntime.bus.outbox import RUN_EXCHANGE, OutboxRelay
from jobruntime.changes.hooks import hook_run_id
from jobruntime.models import JobHook, JobResult, ObjectChange, OutboxEvent
from tests.bus_support import child_pids, running_worker, wait_for_result
from tests.rabbit import delete_queues
from tests.test_worker import log_messages, publish, stack  # noqa: F401 - stack is a fixture

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

LOG_RECEIVER = "local/change_jobs/LogReceiver"
EDITING_RECEIVER = "local/change_jobs/EditingReceiver"


def add_hook(stack, job: str, content_types: list[str], *actions: str, enabled: bool = True) -> JobHook:
    with stack.runtime.session() as session:
        hook = JobHook(name=f"{job} {'/'.join(actions)}", slug=f"hook-{len(actions)}-{job.rsplit('/', 1)[1].lower()}",
                       job=find_record(session, job), content_types=content_types, enabled=enabled,
                       **{f"type_{action}": True for action in actions})
        session.add(hook)
        session.commit()
        return hook


def changes(stack, object_type: str = "dcim.device") -> list[ObjectChange]:
    with stack.runtime.session() as session:
        return list(session.scalars(select(ObjectChange).where(ObjectChange.changed_object_type == object_type)
                                    .order_by(ObjectChange.time)))


def runs_of(stack, job: str) -> list[JobResult]:
    with stack.runtime.session() as session:
        return list(session.scalars(select(JobResult).where(JobResult.name == job)))


def unpublished(stack) -> int:
    with stack.runtime.session() as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published.is_(None)))


def collect(subscription, until: float, count: int | None = None) -> list[tuple[str, dict]]:
    """Events received until ``until`` (monotonic), or until ``count`` have arrived."""
    seen = []
    while time.monotonic() < until and (count is None or len(seen) < count):
        message = subscription.get(timeout=0.5)
        if message is not None:
            seen.append((message[0], json.loads(message[1])))
    return seen


def test_a_committed_run_announces_each_change_and_starts_one_hook_run_per_change(stack):
    hook = add_hook(stack, LOG_RECEIVER, ["dcim.device"], "create")
    with running_worker(stack.env), Bus(stack.settings) as bus:
        with bus.subscribe(["object.change.dcim.device.*"]) as subscription:
            request = publish(stack, "local/change_jobs/CreateDevices", commit=True)
            assert wait_for_result(stack.runtime, request.job_result_id).status == "completed"
            events = collect(subscription, time.monotonic() + 30, count=3)
        created = changes(stack)
        hook_runs = [wait_for_result(stack.runtime, hook_run_id(hook.id, change.id)) for change in created]
    assert [key for key, _ in events] == ["object.change.dcim.device.create"] * 3
    first = events[0][1]
    assert first["change"]["object_repr"] == "sw0" and first["change"]["request_id"] == str(request.job_result_id)
    assert first["object_data"]["name"] == "sw0"
    assert first["snapshots"]["differences"]["added"]["name"] == "sw0"
    assert [run.status for run in hook_runs] == ["completed"] * 3
    for index, run in enumerate(hook_runs):
        assert run.name == LOG_RECEIVER and run.user_id is not None
        assert log_messages(stack, run.id) == [
            f"create dcim.device sw{index} object=sw{index} user=alice snapshot=sw{index}"
        ]
    assert len(runs_of(stack, LOG_RECEIVER)) == 3


@pytest.mark.parametrize(("job", "commit"), [("local/change_jobs/CreateDevices", False),
                                             ("local/change_jobs/CreateThenRaise", True)])
def test_a_dry_or_raising_run_records_announces_and_starts_nothing(stack, job, commit):
    add_hook(stack, LOG_RECEIVER, ["dcim.device", "dcim.site"], "create")
    with running_worker(stack.env), Bus(stack.settings) as bus:
        with bus.subscribe(["object.change.#"]) as subscription:
            request = publish(stack, job, commit=commit)
            wait_for_result(stack.runtime, request.job_result_id)
            events = collect(subscription, time.monotonic() + 3)
    # the events exchange is shared: only this run's changes count (another test session may be creating sites)
    assert [event for event in events if event[1]["change"]["request_id"] == str(request.job_result_id)] == []
    assert changes(stack) == [] and changes(stack, "dcim.site") == []
    assert runs_of(stack, LOG_RECEIVER) == []


def test_a_delete_hook_gets_no_object_but_the_snapshot_for_each_cascaded_delete(stack):
    hook = add_hook(stack, LOG_RECEIVER, ["dcim.device", "dcim.interface"], "delete")
    with running_worker(stack.env):
        for job in ("local/change_jobs/CreateDevices", "local/change_jobs/DeleteDeviceWithInterface"):
            request = publish(stack, job, commit=True)
            assert wait_for_result(stack.runtime, request.job_result_id).status == "completed"
        deletes = [change for change in changes(stack) + changes(stack, "dcim.interface") if change.action == "delete"]
        runs = [wait_for_result(stack.runtime, hook_run_id(hook.id, change.id)) for change in deletes]
    assert [(change.changed_object_type, change.object_repr) for change in deletes] == [
        ("dcim.device", "sw9"), ("dcim.interface", "eth0")]
    assert [log_messages(stack, run.id) for run in runs] == [
        ["delete dcim.device sw9 object=None user=alice snapshot=sw9"],
        ["delete dcim.interface eth0 object=None user=alice snapshot=eth0"],
    ]


def test_a_receiver_that_edits_the_object_is_recorded_but_starts_no_second_run(stack):
    hook = add_hook(stack, EDITING_RECEIVER, ["dcim.device"], "create", "update")
    with running_worker(stack.env):
        request = publish(stack, "local/change_jobs/CreateDevices", commit=True)
        wait_for_result(stack.runtime, request.job_result_id)
        created = [change for change in changes(stack) if change.action == "create"]
        runs = [wait_for_result(stack.runtime, hook_run_id(hook.id, change.id)) for change in created]
        time.sleep(3)  # a second round of runs, were there one, would have been published by now
    assert [run.status for run in runs] == ["completed"] * 3
    updates = [change for change in changes(stack) if change.action == "update"]
    assert sorted(change.object_data["serial"] for change in updates) == ["seen-sw0", "seen-sw1", "seen-sw2"]
    assert {(change.change_context, change.change_context_detail) for change in updates} == {
        ("job-hook", EDITING_RECEIVER)}
    assert len(runs_of(stack, EDITING_RECEIVER)) == 3


def test_a_hook_of_a_disabled_job_starts_a_run_that_errors_and_a_disabled_hook_starts_none(stack):
    hook = add_hook(stack, LOG_RECEIVER, ["dcim.device"], "create")
    add_hook(stack, EDITING_RECEIVER, ["dcim.device"], "create", enabled=False)
    with stack.runtime.session() as session:
        find_record(session, LOG_RECEIVER).enabled = False
        session.commit()
    with running_worker(stack.env):
        request = publish(stack, "local/change_jobs/CreateDevices", commit=True)
        wait_for_result(stack.runtime, request.job_result_id)
        runs = [wait_for_result(stack.runtime, hook_run_id(hook.id, change.id)) for change in changes(stack)]
    assert {(run.status, run.reason) for run in runs} == {("errored", "Job Log the change is not enabled to be run!")}
    assert runs_of(stack, EDITING_RECEIVER) == []


def test_hook_runs_committed_but_never_published_run_once_even_when_published_twice(stack):
    """A worker that dies between its commit and the dispatch leaves the runs in the outbox: a sweep sends them.

    A dispatcher that crashes after publishing and before stamping sends them again; each still runs once.
    """
    from jobruntime.testing import run_job_for_testing

    hook = add_hook(stack, LOG_RECEIVER, ["dcim.device"], "create")
    run_job_for_testing("local/change_jobs/CreateDevices", runtime=stack.runtime, username="alice")
    with stack.runtime.session() as session:
        pending = list(session.scalars(select(OutboxEvent).where(OutboxEvent.exchange == RUN_EXCHANGE)))
    assert len(pending) == 3 and all(row.published is None for row in pending)
    with running_worker(stack.env), Bus(stack.settings) as bus:
        relay = OutboxRelay(stack.runtime.engine, bus)
        relay.publish_rows([{column: getattr(row, column) for column in ("id", "exchange", "routing_key", "body")}
                            for row in pending])  # the first publication, its stamp lost with the process
        relay.close()
        runs = [wait_for_result(stack.runtime, hook_run_id(hook.id, change.id), timeout=60)
                for change in changes(stack)]
        with stack.runtime.session() as session:  # the sweep takes rows left unstamped
            session.execute(OutboxEvent.__table__.update().values(published=None))
            session.commit()
        deadline = time.monotonic() + 30
        while unpublished(stack) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert unpublished(stack) == 0
        time.sleep(2)  # the second deliveries reach the worker
    assert [run.status for run in runs] == ["completed"] * 3
    assert len(runs_of(stack, LOG_RECEIVER)) == 3
    assert all(len(log_messages(stack, run.id)) == 1 for run in runs)


def test_a_worker_killed_after_the_commit_and_before_the_dispatch_loses_no_hook_run(stack):
    """The receiver's queue has no worker yet, so its runs wait in the outbox when the worker is SIGKILLed."""
    hook_queue = f"hooks-{stack.queue}"
    hook = add_hook(stack, LOG_RECEIVER, ["dcim.device"], "create")
    with stack.runtime.session() as session:
        find_record(session, LOG_RECEIVER).task_queues = [hook_queue]
        session.commit()
    try:
        with running_worker(stack.env) as first:
            request = publish(stack, "local/change_jobs/CreateDevices", commit=True)
            assert wait_for_result(stack.runtime, request.job_result_id).status == "completed"
            with stack.runtime.session() as session:
                waiting = session.scalars(select(OutboxEvent).where(OutboxEvent.exchange == RUN_EXCHANGE)).all()
            assert len(waiting) == 3 and {row.published for row in waiting} == {None}
            for pid in child_pids(first.pid):
                os.kill(pid, signal.SIGKILL)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        with running_worker(stack.env, queues=f"{stack.queue},{hook_queue}"):
            runs = [wait_for_result(stack.runtime, hook_run_id(hook.id, change.id), timeout=60)
                    for change in changes(stack)]
            time.sleep(2)
    finally:
        delete_queues([hook_queue])
    assert [(run.status, run.task_queue) for run in runs] == [("completed", hook_queue)] * 3
    assert len(runs_of(stack, LOG_RECEIVER)) == 3
