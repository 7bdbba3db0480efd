"""Short runs decided in batches (``JOBRUNTIME_BATCH_SIZE`` with prefetch above 1), on the real bus.

A batch only groups what runs already do alone: every test here checks a guarantee
of unbatched runs (exactly-once effects, redelivery after a crash, no delivery held
behind a long run, a lone run's latency) on a worker that batches.
"""

from __future__ import annotations

import json
import os
import signal
import time
from types import SimpleNamespace

import pytest
from kombu import Connection
from sqlalchemy import func, select

from jobruntime.bus.broker import Bus
from jobruntime.bus.topology import DELIVERY_COUNT_HEADER, HANDED_BACK_COUNT_HEADER
from jobruntime.client import Client
from jobruntime.models import JobResult, OutboxEvent
from tests.bus_support import (
    JOB_MODULES,
    RABBIT_URL,
    bus_environment,
    bus_runtime,
    child_pids,
    running_worker,
    seed_jobs_and_users,
    wait_for_result,
)
from tests.test_worker import log_messages, result_events, sites

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

BATCHING = {"JOBRUNTIME_PREFETCH": "16", "JOBRUNTIME_BATCH_SIZE": "100", "JOBRUNTIME_BATCH_TIME": "30"}


@pytest.fixture
def stack(engine, db_url, tmp_path):
    env = bus_environment(db_url, tmp_path, **BATCHING)
    settings, runtime = bus_runtime(engine, env)
    settings = settings.replace(check_consumers=False)  # a backlog is published before any worker starts
    seed_jobs_and_users(runtime, JOB_MODULES)
    with Bus(settings) as bus:
        bus.declare_run_queues([env["JOBRUNTIME_DEFAULT_QUEUE"]])
    client = Client(settings, username="alice")
    yield SimpleNamespace(env=env, settings=settings, runtime=runtime, queue=env["JOBRUNTIME_DEFAULT_QUEUE"],
                          client=client, log=tmp_path / "worker.log")
    client.close()
    with Connection(RABBIT_URL) as connection:
        connection.default_channel.queue_delete(env["JOBRUNTIME_DEFAULT_QUEUE"])


def publish(stack, job, **fields):
    request = stack.client.request(job, **fields)
    stack.client.publish(request)
    return request


def test_a_backlog_of_short_runs_is_decided_once_each_with_its_changes(stack):
    requests = [publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 0, "number": 100 + n}, commit=True)
                for n in range(12)]
    with running_worker({**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "2"}):  # none claimed: each decided in one write
        results = [wait_for_result(stack.runtime, request.job_result_id) for request in requests]
    assert {(result.status, result.attempt) for result in results} == {("completed", 1)}
    for request in requests:
        number = request.data["number"]
        assert (sites(stack, f"Slow {number}"), log_messages(stack, request.job_result_id)) == (1, ["attempt 1"])
        assert result_events(stack, request.job_result_id) == ["completed"]


def test_a_duplicate_in_the_same_batch_is_not_applied_twice(stack):
    request = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 0, "number": 200}, commit=True)
    stack.client.publish(request)  # the same request again, right behind it
    follow_up = publish(stack, "local/bus_jobs/Quick")
    with running_worker(stack.env, log=stack.log):
        result = wait_for_result(stack.runtime, request.job_result_id)
        wait_for_result(stack.runtime, follow_up.job_result_id)
    assert (result.status, result.attempt) == ("completed", 1)
    assert (sites(stack, "Slow 200"), log_messages(stack, request.job_result_id)) == (1, ["attempt 1"])
    assert f"duplicate {request.job_result_id}" in stack.log.read_text()


def test_a_copy_of_a_run_that_wrote_nothing_is_decided_once_in_its_batch(stack):
    """Both copies may run (the first is decided only when the batch closes); only one decision is written."""
    publish(stack, "local/bus_jobs/Quick")  # a fresh worker may start on it before the rest has arrived: alone
    request = publish(stack, "local/bus_jobs/Quick")
    stack.client.publish(request)  # the same request again, right behind it
    follow_up = publish(stack, "local/bus_jobs/Quick")
    copy_handled = (f"duplicate {request.job_result_id}", f"Run {request.job_result_id} was decided by another")
    with running_worker(stack.env, log=stack.log):
        result = wait_for_result(stack.runtime, request.job_result_id)
        wait_for_result(stack.runtime, follow_up.job_result_id)
        deadline = time.monotonic() + 10
        while not any(line in stack.log.read_text() for line in copy_handled):
            assert time.monotonic() < deadline, "the copy was not handled"
            time.sleep(0.1)
    assert (result.status, result.attempt) == ("completed", 1)
    assert (log_messages(stack, request.job_result_id), result_events(stack, request.job_result_id)) == (
        ["quick and done"], ["completed"])


def test_runs_decided_before_a_crash_and_not_yet_acked_are_delivered_again_and_change_nothing(stack):
    """The batch never closed (it waits for the run in hand, unclaimed for its whole claim window): every delivery
    of it comes back after the crash, and the runs whose commits were made are duplicates, applied once."""
    env = {**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "10"}  # a claim window longer than the sleeping job
    publish(stack, "local/bus_jobs/Quick")  # a fresh worker may start on it before the rest has arrived: alone
    quick = [publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 0, "number": 300 + n}, commit=True)
             for n in range(4)]
    sleeping = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 4, "number": 310}, commit=True)
    with running_worker(env, log=stack.log) as supervisor:
        decided = [wait_for_result(stack.runtime, request.job_result_id) for request in quick]
        assert all(result_events(stack, request.job_result_id) == ["completed"] for request in quick)
        for pid in child_pids(supervisor.pid):
            os.kill(pid, signal.SIGKILL)
        result = wait_for_result(stack.runtime, sleeping.job_result_id, timeout=40)
        deadline = time.monotonic() + 20
        while not all(f"duplicate {request.job_result_id}" in stack.log.read_text() for request in quick):
            assert time.monotonic() < deadline, "the crashed batch's deliveries were not delivered again"
            time.sleep(0.2)
    assert {(run.status, run.attempt) for run in decided} == {("completed", 1)}
    for request in quick:
        number = request.data["number"]
        assert (sites(stack, f"Slow {number}"), log_messages(stack, request.job_result_id)) == (1, ["attempt 1"])
    assert (result.status, result.attempt, sites(stack, "Slow 310")) == ("completed", 1, 1)


def test_a_run_that_outlasts_its_claim_window_hands_the_deliveries_behind_it_back_unspent(stack):
    """They go back as copies: the broker counts no delivery of them, and another consumer gets them at once."""
    slow = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 6, "number": 400}, commit=True)
    behind = [publish(stack, "local/bus_jobs/Quick") for _ in range(3)]
    wanted = {str(request.job_result_id) for request in behind}
    with running_worker(stack.env):
        wait_for_result(stack.runtime, slow.job_result_id, timeout=10, statuses=("running",))
        taken = []
        with Connection(RABBIT_URL) as connection:
            channel = connection.channel()
            deadline = time.monotonic() + 4
            while len(taken) < len(wanted) and time.monotonic() < deadline:
                message = channel.basic_get(stack.queue, no_ack=False)
                if message is None:
                    time.sleep(0.05)
                    continue
                taken.append(message)
                channel.basic_ack(message.delivery_tag)
        with stack.runtime.session() as session:
            still_running = session.get(JobResult, slow.job_result_id).status
        result = wait_for_result(stack.runtime, slow.job_result_id)
    assert {json.loads(message.body)["job_result_id"] for message in taken} == wanted
    assert still_running == "running"
    for message in taken:
        headers = message.headers or {}
        assert (message.delivery_info["redelivered"], headers.get(DELIVERY_COUNT_HEADER, 0)) == (False, 0)
        assert HANDED_BACK_COUNT_HEADER not in headers  # none had been delivered before
    assert (result.status, result.attempt) == ("completed", 1)


def test_a_lone_run_is_not_kept_waiting_for_a_batch(stack):
    """No other delivery waits behind it: it is decided as an unbatched run is, not after the batch time (30 s)."""
    with running_worker(stack.env):
        with stack.client.follow((request := stack.client.request("local/bus_jobs/Quick")).job_result_id) as follower:
            started = time.monotonic()
            stack.client.publish(request)
            event = follower.wait(timeout=10)
            elapsed = time.monotonic() - started
    assert (event.status, elapsed < 5) == ("completed", True)


def test_the_last_run_of_a_burst_closes_its_batch_at_once(stack):
    """Runs that had others waiting behind them are batched; once nothing waits the batch closes, whatever the
    batch time (30 s): their events are published and their deliveries acked, so a crash then returns none."""
    requests = [publish(stack, "local/bus_jobs/Quick") for _ in range(5)]
    ids = {str(request.job_result_id) for request in requests}
    with running_worker(stack.env) as supervisor:
        results = [wait_for_result(stack.runtime, request.job_result_id) for request in requests]
        deadline = time.monotonic() + 4  # the relay stamps what it published every 0.5 s; a sweep waits 5 s
        while unpublished(stack, ids):
            assert time.monotonic() < deadline, "the batch's events were not published"
            time.sleep(0.1)
        supervisor.kill()  # its worker processes die with it
        supervisor.wait()
        time.sleep(1)
    assert {result.status for result in results} == {"completed"}
    with Connection(RABBIT_URL) as connection:
        assert connection.default_channel.queue_declare(stack.queue, passive=True).message_count == 0


def unpublished(stack, ids):
    with stack.runtime.session() as session:
        return [body for body, published in session.execute(select(OutboxEvent.body, OutboxEvent.published))
                if isinstance(body, dict) and body.get("job_result_id") in ids and published is None]


def test_a_backlog_drained_through_worker_restarts_loses_no_request_to_the_delivery_limit(stack):
    """A stop (SIGTERM: a deploy) is no crash: the requests a worker had prefetched go back uncounted, so three
    restarts mid-backlog on a queue whose delivery limit is 1 dead-letter none of them (rejected back, the ones
    two workers in a row had prefetched would be)."""
    queue = f"{stack.queue}-restarts"
    settings = stack.settings.replace(default_queue=queue, max_attempts=1)
    env = {**stack.env, "JOBRUNTIME_DEFAULT_QUEUE": queue, "JOBRUNTIME_MAX_ATTEMPTS": "1",
           "JOBRUNTIME_LOG_FLUSH_INTERVAL": "2"}  # a claim window no run outlasts: none hands the others back
    with Bus(settings) as bus:
        bus.declare_run_queues([queue])
    with Client(settings, username="alice") as client:
        requests = [client.request("local/bus_jobs/Brief") for _ in range(60)]
        for request in requests:
            client.publish(request)
    ids = [request.job_result_id for request in requests]

    def ended() -> int:
        with stack.runtime.session() as session:
            return session.scalar(select(func.count()).select_from(JobResult).where(
                JobResult.id.in_(ids), JobResult.status.in_(("completed", "failed", "errored"))))

    try:
        for _ in range(3):
            before = ended()
            with running_worker(env):  # stopped as soon as it has ended a run, with the backlog prefetched
                deadline = time.monotonic() + 20
                while ended() == before:
                    assert time.monotonic() < deadline, "the worker ended no run"
                    time.sleep(0.01)
        with running_worker(env):
            results = [wait_for_result(stack.runtime, job_result_id, timeout=30) for job_result_id in ids]
    finally:
        with Connection(RABBIT_URL) as connection:
            connection.default_channel.queue_delete(queue)
    assert {(result.status, result.reason, result.attempt) for result in results} == {("completed", None, 1)}
