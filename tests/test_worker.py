"""The worker on the real bus: delivery semantics, refusals, time limits, crashes and restarts.

These tests run `jobruntime worker` processes against RabbitMQ and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from types import SimpleNamespace

import pytest
from kombu import Connection
from sqlalchemy import func, select

from jobruntime.bus.broker import Bus, NoWorkers, QueueNotFound
from jobruntime.bus.messages import RunRequest
from jobruntime.bus.topology import REASON_HEADER
from jobruntime.client import Client
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobLogEntry, JobResult, Site
from jobruntime.run.auth import signed
from tests.bus_support import (
    JOB_MODULES,
    JOBRUNTIME,
    RABBIT_URL,
    broker_connections,
    bus_environment,
    bus_runtime,
    child_pids,
    running_worker,
    seed_jobs_and_users,
    wait_for_consumers,
    wait_for_result,
)
from tests.rabbit import DeadLetterTap, poisoned_queue

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]


@pytest.fixture
def stack(engine, db_url, tmp_path):
    env = bus_environment(db_url, tmp_path)
    settings, runtime = bus_runtime(engine, env)
    bob_token = seed_jobs_and_users(runtime, JOB_MODULES)
    yield SimpleNamespace(env=env, settings=settings, runtime=runtime, queue=env["JOBRUNTIME_DEFAULT_QUEUE"],
                          bob_token=bob_token)
    with Connection(RABBIT_URL) as connection:
        channel = connection.channel()
        for queue in (env["JOBRUNTIME_DEFAULT_QUEUE"], "net-" + env["JOBRUNTIME_DEFAULT_QUEUE"]):
            try:
                channel.queue_delete(queue)
            except Exception:  # noqa: BLE001 - the queue may not exist
                channel = connection.channel()


def publish(stack, job, **fields):
    with Client(stack.settings, username=fields.pop("username", "alice"), token=fields.pop("token", None)) as client:
        request = client.request(job, **fields)
        client.publish(request)
    return request


def sites(stack, name):
    with stack.runtime.session() as session:
        return session.scalar(select(func.count()).select_from(Site).where(Site.name == name))


def log_messages(stack, job_result_id):
    with stack.runtime.session() as session:
        return list(session.scalars(
            select(JobLogEntry.message).where(JobLogEntry.job_result_id == job_result_id).order_by(JobLogEntry.seq)
        ))


def test_published_run_completes_and_commits(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SlowSite", data={"number": 1}, commit=True)
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert result.status == "completed"
    assert result.worker and result.attempt == 1
    assert sites(stack, "Slow 1") == 1


def test_runjob_follows_the_run_live_and_exits_by_status(stack):
    with running_worker(stack.env):
        completed = subprocess.run(
            [JOBRUNTIME, "runjob", "-u", "alice", "--commit", "local/bus_jobs/Quick"],
            env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=60,
        )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "success: quick and done" in completed.stdout
    assert "local/bus_jobs/Quick: SUCCESS" in completed.stdout


def test_runjob_json_and_no_wait(stack):
    with running_worker(stack.env):
        env = {**os.environ, **stack.env}
        body = json.loads(subprocess.run(
            [JOBRUNTIME, "runjob", "-u", "alice", "--json", "local/bus_jobs/Quick"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout)
        assert body["status"] == "completed" and body["logs"][0]["message"] == "quick and done"
        printed = subprocess.run(
            [JOBRUNTIME, "runjob", "-u", "alice", "--no-wait", "local/bus_jobs/Quick"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()
        assert wait_for_result(stack.runtime, uuid.UUID(printed)).status == "completed"


def test_a_worker_process_holds_one_broker_connection(stack):
    with running_worker(stack.env, concurrency=2) as supervisor:
        requests = [publish(stack, "local/bus_jobs/Quick") for _ in range(4)]
        assert [wait_for_result(stack.runtime, request.job_result_id).status for request in requests] == [
            "completed"] * 4
        workers = child_pids(supervisor.pid)
        assert len(workers) == 2
        assert [broker_connections(pid) for pid in workers] == [1, 1]


def test_redelivered_request_does_not_run_twice(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SlowSite", data={"number": 2}, commit=True)
        wait_for_result(stack.runtime, request.job_result_id)
        with Bus(stack.settings) as bus:
            bus.publish_run(request.to_json(), stack.queue, message_id="again")
        follow_up = publish(stack, "local/bus_jobs/Quick")
        wait_for_result(stack.runtime, follow_up.job_result_id)
    assert sites(stack, "Slow 2") == 1
    assert log_messages(stack, request.job_result_id) == ["attempt 1"]


def test_publishing_to_a_queue_without_workers_is_refused(stack):
    with Bus(stack.settings) as bus:
        bus.declare_run_queues([stack.queue])
    with pytest.raises(NoWorkers, match=f"No workers running on queue {stack.queue}"):
        publish(stack, "local/bus_jobs/Quick")


def test_publishing_to_a_missing_queue_is_refused(stack):
    with pytest.raises(QueueNotFound, match="jobruntime worker -Q"):
        publish(stack, "local/bus_jobs/Quick", task_queue=f"missing-{uuid.uuid4().hex[:6]}")


def _dead_letter_with(tap: DeadLetterTap, marker: bytes, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = tap.get(timeout=max(deadline - time.monotonic(), 0.1))
        if message is not None and marker in message.body:
            return message
    return None


def test_malformed_message_is_dead_lettered_and_the_worker_keeps_serving(stack):
    tap = DeadLetterTap()
    with running_worker(stack.env):
        marker = f"garbage-{uuid.uuid4().hex}".encode()
        with Bus(stack.settings) as bus:
            bus.publish_run(b"{not json " + marker, stack.queue, message_id="bad")
        parked = _dead_letter_with(tap, marker)
        tap.close()
        follow_up = publish(stack, "local/bus_jobs/Quick")
        assert wait_for_result(stack.runtime, follow_up.job_result_id).status == "completed"
    assert parked is not None
    assert parked.headers[REASON_HEADER].startswith("Invalid JSON at line 1")


def test_unknown_job_is_dead_lettered_with_the_reason(stack):
    tap = DeadLetterTap()
    with running_worker(stack.env):
        with Client(stack.settings, username="alice") as client:
            request = client.request("local/bus_jobs/Nope")
            client.bus.publish_run(request.to_json(), stack.queue, message_id="unknown")
        parked = _dead_letter_with(tap, str(request.job_result_id).encode())
        tap.close()
    assert parked is not None and parked.headers[REASON_HEADER] == 'Job "local/bus_jobs/Nope" not found'


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"username": "bob", "token": "<bob>"}, "User bob does not have permission to run job local/bus_jobs/Quick"),
        ({"task_queue": "<net>"}, "is not a valid task queue for local/bus_jobs/Quick"),
    ],
    ids=["no-permission", "wrong-queue"],
)
def test_refused_requests_end_errored_with_the_reason(stack, fields, reason):
    settings = stack.settings.replace(signing_secret=None) if "token" in fields else stack.settings
    if fields.get("token") == "<bob>":
        fields["token"] = stack.bob_token
    net = "net-" + stack.queue
    if fields.get("task_queue") == "<net>":
        fields["task_queue"] = net
    with running_worker(stack.env, queues=f"{stack.queue},{net}"):
        with Client(settings, username=fields.pop("username", "alice"), token=fields.pop("token", None)) as client:
            request = client.request("local/bus_jobs/Quick", **fields)
            client.publish(request)
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert result.status == "errored"
    assert reason in result.reason


def test_disabled_job_ends_errored_with_the_reference_message(stack):
    with stack.runtime.session() as session:
        session.scalars(select(JobRecord).where(JobRecord.job_class_name == "Quick")).one().enabled = False
        session.commit()
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/Quick")
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert result.status == "errored" and result.reason == "Job Quick is not enabled to be run!"


def test_invalid_variables_error_before_the_job_starts(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": "soon"})
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert result.status == "errored"
    assert "seconds: Enter a whole number." in log_messages(stack, request.job_result_id)[0]


def test_soft_time_limit_raises_inside_the_job(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/Sleeper", data={"seconds": 10})
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert result.status == "errored"
    assert result.reason == "soft time limit (1 s) exceeded"
    assert "soft time limit reached, cleaning up" in log_messages(stack, request.job_result_id)


def test_hard_time_limit_kills_the_run_and_says_so(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/Sleeper", data={"seconds": 20, "survive_soft": 1})
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=20)
        wait_for_consumers(stack.env, stack.queue, 1)
        follow_up = publish(stack, "local/bus_jobs/Quick")
        assert wait_for_result(stack.runtime, follow_up.job_result_id).status == "completed"
    assert result.status == "errored"
    assert result.reason == "hard time limit (3 s) exceeded"


def _running(stack, job_result_id, timeout=20):
    return wait_for_result(stack.runtime, job_result_id, timeout=timeout, statuses=("running",))


def test_worker_killed_mid_job_is_rerun_once_after_the_lease_expires(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 30, "number": 3}, commit=True)
        running = _running(stack, request.job_result_id)
        os.kill(int(running.worker.split(":")[1]), signal.SIGKILL)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=40)
    assert result.status == "completed"
    assert result.attempt == 2
    assert sites(stack, "Slow 3") == 1
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(JobResult).where(JobResult.status == "running")) == 0


def _result_statuses(subscription, job_result_id, quiet=2.0):
    """The job.result.<status> events of one run, until it announced none for ``quiet`` seconds after a terminal one
    (events of other runs do not count)."""
    statuses: list[str] = []
    deadline = time.monotonic() + 30
    last_seen = time.monotonic()
    while time.monotonic() < deadline:
        if statuses and statuses[-1] in ("completed", "failed", "errored") and time.monotonic() - last_seen >= quiet:
            return statuses
        message = subscription.get(timeout=0.2)
        if message is not None and json.loads(message[1]).get("job_result_id") == str(job_result_id):
            statuses.append(json.loads(message[1])["status"])
            last_seen = time.monotonic()
    raise TimeoutError(f"run {job_result_id} announced {statuses} and no final status")


def test_a_run_stays_running_until_post_run_has_finished_and_announces_one_final_status(stack):
    with running_worker(stack.env), Bus(stack.settings) as bus:
        with bus.subscribe(["job.result.*"]) as subscription:
            request = publish(stack, "local/bus_jobs/SiteThenPostRun", data={"seconds": 1, "fail": 1}, commit=True)
            statuses = _result_statuses(subscription, request.job_result_id)
    assert statuses == ["running", "errored"]
    result = wait_for_result(stack.runtime, request.job_result_id)
    assert (result.status, result.reason) == ("errored", "post_run: RuntimeError: post_run broke")
    assert sites(stack, "Post run") == 1  # run() committed before post_run() broke, as in the reference
    assert "post_run of attempt 1" in log_messages(stack, request.job_result_id)


def test_a_worker_lost_during_post_run_ends_the_run_errored_without_running_it_again(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SiteThenPostRun", data={"seconds": 30}, commit=True)
        deadline = time.monotonic() + 20
        while sites(stack, "Post run") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        running = _running(stack, request.job_result_id)
        os.kill(int(running.worker.split(":")[1]), signal.SIGKILL)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=40)
    assert (result.status, result.attempt) == ("errored", 1)
    assert result.reason == "worker lost during post_run(); run() and the tests had ended completed"
    assert sites(stack, "Post run") == 1
    assert "post_run of attempt 2" not in log_messages(stack, request.job_result_id)


def test_a_job_holding_the_gil_past_its_lease_keeps_its_run(stack):
    """Its process cannot renew the lease; the supervisor does, so the run is not handed to another worker."""
    with running_worker(stack.env, concurrency=2):
        request = publish(stack, "local/bus_jobs/GilHolder", data={"seconds": 6})
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=40)
    assert (result.status, result.attempt) == ("completed", 1)
    assert log_messages(stack, request.job_result_id).count("attempt 1 done") == 1


def test_a_run_whose_request_the_broker_dead_lettered_does_not_stay_pending(stack):
    """Every worker process that took the request died before claiming it; the broker gave up on it."""
    settings = stack.settings.replace(check_consumers=False)
    with Bus(settings) as bus, running_worker(stack.env), poisoned_queue(bus, f"poison-{stack.queue}") as queue, \
            Client(settings, username="alice", record_pending=True) as client:
        request = client.request("local/bus_jobs/Quick", task_queue=queue)
        client.publish(request)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=30)
    assert result.status == "errored"
    assert result.reason == ("The broker dead-lettered the request (delivery_limit): no worker process could "
                             "take it; it is kept in jobruntime.dead-letter")


def test_sensitive_run_of_a_lost_worker_is_not_rerun(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SensitiveSlow", data={"seconds": 30})
        running = _running(stack, request.job_result_id)
        os.kill(int(running.worker.split(":")[1]), signal.SIGKILL)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=40)
    assert result.status == "errored"
    assert result.reason.startswith("worker lost: its input was not stored")
    assert result.request is None and result.job_kwargs is None


def test_cancel_stops_a_running_job(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SensitiveSlow", data={"seconds": 30})
        _running(stack, request.job_result_id)
        cancelled = subprocess.run(
            [JOBRUNTIME, "results", "cancel", str(request.job_result_id), "-u", "carol"],
            env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=30,
        )
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=20)
    assert result.status == "errored" and result.reason == "cancelled by carol"


def test_long_job_outlives_the_broker_consumer_timeout(stack):
    subprocess.run(["rabbitmqctl", "eval", "application:set_env(rabbit, consumer_timeout, 3000)."],
                   check=True, capture_output=True)
    try:
        with running_worker(stack.env):
            request = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 8, "number": 4}, commit=True)
            result = wait_for_result(stack.runtime, request.job_result_id, timeout=40)
            follow_up = publish(stack, "local/bus_jobs/Quick")
            assert wait_for_result(stack.runtime, follow_up.job_result_id).status == "completed"
    finally:
        subprocess.run(["rabbitmqctl", "eval", "application:set_env(rabbit, consumer_timeout, 1800000)."],
                       check=True, capture_output=True)
    assert result.status == "completed" and result.attempt == 1


def test_worker_reconnects_after_a_broker_restart(stack):
    with running_worker(stack.env):
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
        try:
            time.sleep(1)
        finally:
            subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
        deadline = time.monotonic() + 60
        with Client(stack.settings, username="alice") as client:
            while True:
                request = client.request("local/bus_jobs/Quick")
                with client.follow(request.job_result_id) as follower:
                    try:
                        client.publish(request)
                    except (NoWorkers, QueueNotFound):
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
                        continue
                    # The result event travels over the worker's one, reconnected, connection.
                    assert follower.wait(timeout=30).status == "completed"
                    break
        assert wait_for_result(stack.runtime, request.job_result_id).status == "completed"


def test_worker_serves_again_after_a_postgresql_restart(stack):
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    with running_worker(stack.env):
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                       check=True, capture_output=True)
        subprocess.run(["pg_isready", "-h", "127.0.0.1", "-t", "30"], check=True, capture_output=True)
        stack.runtime.engine.dispose()
        stack.runtime.autocommit_engine.dispose()
        request = publish(stack, "local/bus_jobs/Quick", task_queue=stack.queue)
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert result.status == "completed"


def test_publish_command_sends_a_raw_request(stack, tmp_path):
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps({"job": "local/bus_jobs/Quick", "requested_by": "alice"}))
    with running_worker(stack.env):
        published = subprocess.run(
            [JOBRUNTIME, "publish", str(request_file)],
            env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=60, check=True,
        )
        job_result_id = uuid.UUID(json.loads(published.stdout)["job_result_id"])
        assert wait_for_result(stack.runtime, job_result_id).status == "completed"
    assert json.loads(published.stdout)["queue"] == stack.queue


def test_result_and_log_events_are_published_after_commit(stack):
    """A short run commits once: its log lines, then its result; it was never seen running, so says nothing of it."""
    env = {**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "2"}  # the claim window: the run is over well before
    with running_worker(env), Bus(stack.settings) as bus:
        with bus.subscribe(["job.result.*", "job.log.*"]) as subscription:
            request = publish(stack, "local/bus_jobs/Quick")
            seen: list[tuple[str, dict]] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(key == "job.result.completed" for key, _ in seen):
                message = subscription.get(timeout=0.5)
                if message is not None and json.loads(message[1]).get("job_result_id") == str(request.job_result_id):
                    seen.append((message[0], json.loads(message[1])))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(key == "job.log.success" for key, _ in seen):
                message = subscription.get(timeout=0.5)
                if message is not None:
                    seen.append((message[0], json.loads(message[1])))
    keys = [key for key, _ in seen]
    assert keys == ["job.log.success", "job.result.completed"]
    completed = dict(seen)["job.result.completed"]
    assert completed["output"] == "\nok" and completed["log_counts"]["success"] == 1
    assert dict(seen)["job.log.success"]["entries"][0]["message"] == "quick and done"


def _raw_request(job, job_result_id, **fields):
    return {"job": job, "job_result_id": str(job_result_id), "requested_by": "alice", **fields}


def test_hostile_requests_end_with_their_reason_and_the_worker_process_survives(stack):
    """Input the schema allows but the database or the broker cannot take is refused up front, each with its reason."""
    quick = "local/bus_jobs/Quick"
    ids = {name: uuid.uuid4() for name in ("nan", "nul", "deep", "files", "count", "owner")}
    cases = {
        "nan": json.dumps(_raw_request(quick, ids["nan"]))[:-1].encode() + b', "data": {"x": NaN}}',
        "nul": json.dumps(_raw_request(quick, ids["nul"], requested_by="al\x00ice")).encode(),
        "deep": json.dumps(_raw_request(quick, ids["deep"], data={"x": json.loads("[" * 80 + "]" * 80)})).encode(),
    }
    tap = DeadLetterTap()
    with running_worker(stack.env) as worker, Client(stack.settings, username="alice") as client:
        processes = child_pids(worker.pid)
        with Connection(RABBIT_URL) as connection:
            producer = connection.Producer()
            for body in cases.values():
                producer.publish(body, exchange="jobruntime.run", routing_key=stack.queue,
                                 content_type="application/json")
            counted = client.request(quick, job_result_id=ids["count"])
            producer.publish(counted.to_json(), exchange="jobruntime.run", routing_key=stack.queue,
                             content_type="application/json", headers={"x-delivery-count": "abc"})
            producer.publish(client.request("local/" + "x" * 300_000 + "/Y").to_json(),  # not found: a huge reason
                             exchange="jobruntime.run", routing_key=stack.queue, content_type="application/json")
        upload = {"url": "file:///etc/passwd", "name": "passwd", "size": 1, "sha256": "0" * 64}
        with_files = RunRequest.model_validate({**client.request(quick, job_result_id=ids["files"]).model_dump(),
                                                "files": {"upload": upload}, "signature": None})
        client.publish(signed(with_files, stack.settings.signing_secret))
        owner = publish(stack, quick, job_result_id=ids["owner"])
        wait_for_result(stack.runtime, owner.job_result_id)
        publish(stack, "local/bus_jobs/SlowSite", job_result_id=ids["owner"], data={"number": 9}, commit=True)
        parked = {name: _dead_letter_with(tap, str(ids[name]).encode()) for name in ("nan", "nul", "deep")}
        huge = _dead_letter_with(tap, b"x" * 1000)  # dead letters arrive in order: this one first
        reused = _dead_letter_with(tap, str(ids["owner"]).encode())
        tap.close()
        results = {name: wait_for_result(stack.runtime, ids[name]) for name in ("files", "count", "owner")}
        assert child_pids(worker.pid) == processes
    assert {name: message.headers[REASON_HEADER] for name, message in parked.items()} == {
        "nan": "data.x is NaN, which is not a finite JSON number",
        "nul": "requested_by contains a NUL character, which cannot be stored",
        "deep": "data is nested more than 64 levels deep",
    }
    assert results["files"].reason.startswith("upload: file:///etc/passwd is not in this worker's storage")
    assert results["count"].status == "completed"
    assert (results["owner"].status, results["owner"].name) == ("completed", quick)
    assert sites(stack, "Slow 9") == 0
    assert reused.headers[REASON_HEADER] == (
        f"job_result_id {ids['owner']} already belongs to a run of {quick}; give every request a new id"
    )
    assert huge.headers[REASON_HEADER].endswith('… [truncated, 300008 characters in all]" not found')
    assert len(huge.headers[REASON_HEADER]) < 300


def test_a_run_published_from_the_command_line_is_pending_until_claimed_and_can_be_cancelled(stack):
    def cli(*args):
        done = subprocess.run([JOBRUNTIME, *args], env={**os.environ, **stack.env}, capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    with running_worker(stack.env):
        busy = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 4, "number": 5}, commit=True)
        _running(stack, busy.job_result_id)
        waiting = cli("runjob", "-u", "alice", "--commit", "--no-wait", "--data", '{"number": 6}',
                      "local/bus_jobs/SlowSite").strip()
        shown = json.loads(cli("results", "show", waiting, "--json"))
        assert (shown["status"], shown["user"]) == ("pending", "alice")
        cli("results", "cancel", waiting, "-u", "carol")
        wait_for_result(stack.runtime, busy.job_result_id)
        follow_up = publish(stack, "local/bus_jobs/Quick")  # served after the cancelled run's message
        wait_for_result(stack.runtime, follow_up.job_result_id)
        cancelled = wait_for_result(stack.runtime, uuid.UUID(waiting))
    assert (cancelled.status, cancelled.reason, cancelled.attempt) == ("errored", "cancelled by carol", 0)
    assert sites(stack, "Slow 6") == 0


def test_a_refused_publish_leaves_no_pending_run_behind(stack):
    with Bus(stack.settings) as bus:
        bus.declare_run_queues([stack.queue])
    with Client(stack.settings, username="alice", record_pending=True) as client:
        request = client.request("local/bus_jobs/Quick")
        with pytest.raises(NoWorkers):
            client.publish(request)
    with stack.runtime.session() as session:
        assert session.get(JobResult, request.job_result_id) is None


def test_a_line_logged_before_a_long_wait_is_written_while_the_job_waits(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/LogThenWait", data={"seconds": 6})
        _running(stack, request.job_result_id)
        deadline = time.monotonic() + 4
        while len(log_messages(stack, request.job_result_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        seen_while_waiting = log_messages(stack, request.job_result_id)
        still_running = wait_for_result(stack.runtime, request.job_result_id, statuses=("running",)).status
    assert (seen_while_waiting, still_running) == (["first", "second"], "running")


def result_events(stack, job_result_id):
    """The outbox's result events for one run, oldest first: what the run announced, in order."""
    from jobruntime.models import OutboxEvent

    with stack.runtime.session() as session:
        bodies = session.scalars(select(OutboxEvent.body).order_by(OutboxEvent.created))
        return [body["status"] for body in bodies
                if isinstance(body, dict) and body.get("job_result_id") == str(job_result_id) and "status" in body]


def test_a_short_run_is_claimed_and_decided_in_one_write(stack):
    """No running state was ever committed for it: one result event, the row a first attempt with a lease holder."""
    with running_worker({**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "2"}):
        request = publish(stack, "local/bus_jobs/SlowSite", data={"number": 7}, commit=True)
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert (result.status, result.attempt, result.worker is not None) == ("completed", 1, True)
    assert result.started <= result.completed
    assert result_events(stack, request.job_result_id) == ["completed"]
    assert (sites(stack, "Slow 7"), log_messages(stack, request.job_result_id)) == (1, ["attempt 1"])


def test_a_run_that_outlasts_its_claim_window_is_claimed_while_it_runs(stack):
    with running_worker(stack.env):
        request = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 3, "number": 8}, commit=True)
        running = _running(stack, request.job_result_id, timeout=5)
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert (running.attempt, running.lease_expires is not None) == (1, True)
    assert (result.status, result.attempt) == ("completed", 1)
    assert result_events(stack, request.job_result_id) == ["running", "completed"]
    assert sites(stack, "Slow 8") == 1


def test_an_unclaimed_run_whose_row_another_delivery_wrote_commits_nothing(stack):
    """The deciding write takes only a pending row: the job's changes roll back, the other run's row stands."""
    env = {**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "10"}  # a claim window longer than the job
    with running_worker(env):
        request = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 3, "number": 9}, commit=True)
        time.sleep(1)
        with stack.runtime.session() as session:
            record = session.scalars(select(JobRecord).where(JobRecord.job_class_name == "SlowSite")).one()
            session.add(JobResult(id=request.job_result_id, name=record.class_path, job_model_id=record.id,
                                  status="completed", attempt=1))
            session.commit()
        follow_up = publish(stack, "local/bus_jobs/Quick")
        wait_for_result(stack.runtime, follow_up.job_result_id)
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert (result.status, result.worker, result.data) == ("completed", None, None)
    assert sites(stack, "Slow 9") == 0
    assert log_messages(stack, request.job_result_id) == []


def test_a_short_run_of_a_pending_row_keeps_its_creation_time(stack):
    """The publisher recorded the run pending: the deciding write takes it over, and the event tells its true age."""
    from datetime import datetime

    from jobruntime.models import OutboxEvent

    with running_worker({**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "2"}):
        with Client(stack.settings, username="alice", record_pending=True) as client:
            request = client.request("local/bus_jobs/Quick")
            client.publish(request)
        with stack.runtime.session() as session:
            pending_created = session.get(JobResult, request.job_result_id).created
        result = wait_for_result(stack.runtime, request.job_result_id)
    with stack.runtime.session() as session:
        bodies = [body for body in session.scalars(select(OutboxEvent.body))
                  if body.get("job_result_id") == str(request.job_result_id) and "status" in body]
    assert (result.status, result.attempt, result.created) == ("completed", 1, pending_created)
    announced = [(body["status"], datetime.fromisoformat(body["created"].replace("Z", "+00:00"))) for body in bodies]
    assert announced == [("completed", pending_created)]


def test_a_worker_killed_before_it_claimed_its_run_leaves_nothing_and_the_redelivery_runs_it_once(stack):
    with running_worker({**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "10"}) as supervisor:
        request = publish(stack, "local/bus_jobs/SlowSite", data={"seconds": 3, "number": 10}, commit=True)
        time.sleep(1)  # the job sleeps, unclaimed: a claim window longer than the job
        with stack.runtime.session() as session:
            assert session.get(JobResult, request.job_result_id) is None
        for pid in child_pids(supervisor.pid):
            os.kill(pid, signal.SIGKILL)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=40)
    assert (result.status, result.attempt) == ("completed", 1)
    assert sites(stack, "Slow 10") == 1
    assert log_messages(stack, request.job_result_id) == ["attempt 1"]


def test_a_full_batch_of_log_lines_claims_the_run_within_its_window(stack):
    env = {**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "10", "JOBRUNTIME_LOG_BATCH_SIZE": "2"}
    with running_worker(env):
        request = publish(stack, "local/bus_jobs/LogThenWait", data={"seconds": 3})
        running = _running(stack, request.job_result_id, timeout=5)
        seen_while_waiting = log_messages(stack, request.job_result_id)
        result = wait_for_result(stack.runtime, request.job_result_id)
    assert (running.status, seen_while_waiting) == ("running", ["first", "second"])
    assert (result.status, result.attempt) == ("completed", 1)
    assert result_events(stack, request.job_result_id) == ["running", "completed"]


def test_a_run_cancelled_before_its_claim_is_stopped_when_the_claim_finds_it_taken(stack):
    """Cancelling a pending run ends it at once; the worker already running it stops at its claim, not at the job's end."""
    from jobruntime.worker.leases import request_cancel

    with running_worker({**stack.env, "JOBRUNTIME_LOG_FLUSH_INTERVAL": "1"}):
        with Client(stack.settings, username="alice", record_pending=True) as client:
            request = client.request("local/bus_jobs/SlowSite", data={"seconds": 30, "number": 11}, commit=True)
            client.publish(request)
        time.sleep(0.3)
        assert request_cancel(stack.runtime.engine, request.job_result_id, "carol") == "pending"
        started = time.monotonic()
        follow_up = publish(stack, "local/bus_jobs/Quick")
        assert wait_for_result(stack.runtime, follow_up.job_result_id, timeout=15).status == "completed"
        waited = time.monotonic() - started
        cancelled = wait_for_result(stack.runtime, request.job_result_id)
    assert waited < 10, f"the worker was busy for {waited:.1f} s with a run cancelled before its claim"
    assert (cancelled.status, cancelled.reason) == ("errored", "cancelled by carol")
    assert sites(stack, "Slow 11") == 0
