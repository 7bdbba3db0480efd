"""What the bus reveals: no credential in a dead letter, and broker users that each see only their part."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kombu import Connection, Queue

from jobruntime.bus.broker import Bus, RequestTooLarge
from jobruntime.bus.credentials import strip_credentials, token_fingerprint
from jobruntime.bus.messages import ERROR_ROUTING_KEY
from jobruntime.bus.topology import DEAD_QUEUE, DEAD_RUNS_QUEUE, REASON_HEADER, run_exchange
from jobruntime.client import Client
from jobruntime.core.settings import Settings
from jobruntime.models import JobResult
from tests.bus_support import child_pids, running_worker, wait_for_result
from tests.rabbit import (
    AMQP_URL,
    BROKER_ADDRESS,
    VHOST,
    DeadLetterTap,
    delete_queues,
    rabbitmqctl,
    raw_get,
    unique,
)
from tests.test_worker import _dead_letter_with, publish, stack  # noqa: F401 - the worker stack fixture


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_dead_lettered_request_keeps_a_fingerprint_of_its_token_and_never_the_token(stack):  # noqa: F811
    unknown_job = {"job": "local/bus_jobs/Nope", "job_result_id": str(uuid.uuid4()), "requested_by": "bob",
                   "token": stack.bob_token}
    malformed = {"job": "local/bus_jobs/Quick", "job_result_id": str(uuid.uuid4()), "requested_by": "bob",
                 "token": stack.bob_token, "signature": "ab" * 32, "commit": "true"}
    tap = DeadLetterTap()
    with running_worker(stack.env), Bus(stack.settings) as bus:
        for index, body in enumerate((unknown_job, malformed)):
            bus.publish_run(json.dumps(body).encode(), stack.queue, message_id=f"secret-{index}")
        parked = [_dead_letter_with(tap, body["job_result_id"].encode()) for body in (unknown_job, malformed)]
    tap.close()
    assert all(message is not None for message in parked)
    assert all(stack.bob_token.encode() not in message.body for message in parked)
    kept = [json.loads(message.body) for message in parked]
    assert kept[0] == {**{key: value for key, value in unknown_job.items() if key != "token"},
                       "token_sha256_prefix": token_fingerprint(stack.bob_token)}
    assert (kept[1]["token_sha256_prefix"], kept[1]["signature_sha256_prefix"]) == (
        token_fingerprint(stack.bob_token), token_fingerprint("ab" * 32))
    assert "token" not in kept[1] and "signature" not in kept[1]
    assert parked[1].headers[REASON_HEADER] == "commit: Input should be a valid boolean"


@pytest.mark.parametrize(
    "body",
    [
        b'{"job": "local/a/B", "token": "0123456789abcdef", "data": {',  # cut short
        b'{"token": "0123456789abcdef", "x": NaN, "y": 1e999999}',  # JSON with numbers Python cannot read back
        b'\xff\xfe{"token":"0123456789abcdef"}',  # not UTF-8
        b'[{"token" : "0123456789abcdef"}]',  # not an object
        b'{"token": "0123456789abcdef", "token": "0123456789abcdef"}',  # the key twice
        b'{"\\u0074oken": "0123456789abcdef"}',  # the key escaped
        b'{"job": "x", "token": "01234567\\"89abcdef"}',  # an escaped quote in the token
        b'{"job": "x", "token": "0123456789abcdef',  # cut inside the token
    ],
    ids=["cut", "nan", "not-utf8", "array", "twice", "escaped-key", "escaped-quote", "cut-token"],
)
def test_no_kept_body_holds_the_token_however_broken_the_body_is(body):
    kept = strip_credentials(body)
    assert b"0123456789abcdef" not in kept and b"89abcdef" not in kept
    assert b"token_sha256_prefix" in kept


def test_a_body_without_credentials_is_kept_byte_for_byte():
    body = b'{"job": "local/a/B",  "requested_by": "alice"}'
    assert strip_credentials(body) == body


DEFINITIONS = json.loads((Path(__file__).parents[1] / "infra/rabbitmq/definitions.json").read_text())
PERMISSIONS = {item["user"]: item for item in DEFINITIONS["permissions"]}
SUBSCRIPTION = "jobruntime.subscription.0123456789abcdef0123456789abcdef"
RUN_QUEUES = ("default", "net", "default.workers", "test.run.1a2b")


def _allowed(user: str, access: str, name: str) -> bool:
    """Whether the definitions let ``user`` do ``access`` (configure, write, read) on ``name``, as RabbitMQ matches."""
    return re.search(PERMISSIONS[user][access], name) is not None


def test_definitions_declare_a_publisher_a_worker_and_an_events_reader_without_passwords():
    assert {user["name"]: (user["password_hash"], user["tags"]) for user in DEFINITIONS["users"]} == {
        "jobruntime-publisher": ("", []), "jobruntime-worker": ("", []), "jobruntime-events": ("", []),
    }
    assert set(PERMISSIONS) == {user["name"] for user in DEFINITIONS["users"]}
    assert all(item["vhost"] == "/" for item in DEFINITIONS["permissions"])


@pytest.mark.parametrize("user", ["jobruntime-publisher", "jobruntime-events"])
def test_only_workers_may_read_or_bind_run_queues_and_dead_letters(user):
    for name in (*RUN_QUEUES, "jobruntime.run", "jobruntime.dead", DEAD_QUEUE, DEAD_RUNS_QUEUE):
        assert not _allowed(user, "read", name), name
    for name in RUN_QUEUES:
        assert not _allowed(user, "configure", name) and not _allowed(user, "write", name), name
    assert _allowed(user, "read", "jobruntime.events") and _allowed(user, "read", SUBSCRIPTION)


def test_the_publisher_writes_only_to_the_run_exchange_and_its_own_subscription():
    names = (*RUN_QUEUES, "jobruntime.run", "jobruntime.events", "jobruntime.dead", DEAD_QUEUE, "amq.default",
             SUBSCRIPTION)
    writable = [name for name in names if _allowed("jobruntime-publisher", "write", name)]
    assert writable == ["jobruntime.run", SUBSCRIPTION]
    assert not _allowed("jobruntime-events", "write", "jobruntime.run")


def test_a_worker_reads_run_queues_and_its_sweep_queue_but_not_events_or_the_operators_dead_letters():
    for name in (*RUN_QUEUES, "jobruntime.run", "jobruntime.dead", DEAD_RUNS_QUEUE):
        assert _allowed("jobruntime-worker", "read", name), name
    for name in ("jobruntime.events", DEAD_QUEUE, SUBSCRIPTION, "amq.default", "amq.topic"):
        assert not _allowed("jobruntime-worker", "read", name), name
    assert not _allowed("jobruntime-worker", "write", "amq.default")


@contextmanager
def _broker_user(role: str) -> Iterator[str]:
    """A uniquely named broker user holding the definitions' permissions of ``role``; its AMQP URL."""
    name, password = unique(role.removeprefix("jobruntime-")), uuid.uuid4().hex
    permission = PERMISSIONS[role]
    rabbitmqctl("add_user", name, password)
    try:
        rabbitmqctl("set_permissions", "-p", VHOST, name, permission["configure"], permission["write"],
                    permission["read"])
        yield f"amqp://{name}:{password}@{BROKER_ADDRESS}/{VHOST}"
    finally:
        rabbitmqctl("delete_user", name)


def _refused(url: str, action) -> bool:
    """Whether the broker refuses ``action(channel)`` for the user of ``url`` (403 ACCESS_REFUSED)."""
    with Connection(url) as connection:
        try:
            action(connection.channel())
        except Exception as exc:  # noqa: BLE001 - any channel error other than 403 fails the assertion below
            return getattr(exc, "reply_code", None) == 403
    return False


def _bind_own_queue(exchange: str):
    def bind(channel) -> None:
        own = f"jobruntime.subscription.{uuid.uuid4().hex}"
        channel.queue_declare(own, exclusive=True, auto_delete=True)
        channel.queue_bind(own, exchange, "#")

    return bind


def test_the_publisher_user_can_publish_a_run_and_follow_events_but_not_read_a_run_queue():
    queue = unique("run")
    with Bus(Settings(broker_url=AMQP_URL)) as operator, _broker_user("jobruntime-publisher") as url:
        operator.declare_run_queues([queue])
        try:
            with Bus(Settings(broker_url=url, check_consumers=False)) as publisher:
                with publisher.subscribe(["job.result.*"]) as subscription:
                    publisher.publish_run(b'{"job": "local/a/B"}', queue, message_id="publisher")
                    operator.publish_event("job.result.completed", b"{}")
                    assert subscription.get(timeout=10) == ("job.result.completed", b"{}")
            assert _refused(url, lambda channel: Queue(queue, no_declare=True)(channel).get())
            assert _refused(url, _bind_own_queue("jobruntime.run"))
            assert _refused(url, _bind_own_queue("jobruntime.dead"))
            assert raw_get(queue).body == b'{"job": "local/a/B"}'
        finally:
            delete_queues([queue])


def _publish_run(channel) -> None:
    run_exchange(channel).publish(channel.prepare_message(b"{}"), routing_key="default")
    channel.basic_qos(0, 1, False)  # a round trip: a refused publish closes the channel before it answers


def test_the_events_user_can_subscribe_but_not_publish_runs_or_read_dead_letters():
    with _broker_user("jobruntime-events") as url:
        with Bus(Settings(broker_url=url)) as reader, reader.subscribe(["job.#"]):
            pass
        assert _refused(url, _publish_run)
        assert _refused(url, _bind_own_queue("jobruntime.dead"))
        assert _refused(url, lambda channel: Queue(DEAD_QUEUE, no_declare=True)(channel).get())


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_request_over_the_size_limit_is_dead_lettered_with_the_reason_and_the_worker_serves_on(stack):  # noqa: F811
    job_result_id = str(uuid.uuid4())
    request = {"job": "local/bus_jobs/Quick", "job_result_id": job_result_id, "requested_by": "alice"}
    body = json.dumps({**request, "data": {"blob": "b" * stack.settings.max_request_bytes}}).encode()
    tap = DeadLetterTap()
    with running_worker(stack.env) as worker, Bus(stack.settings) as bus:
        processes = child_pids(worker.pid)
        with bus.subscribe([ERROR_ROUTING_KEY]) as errors:
            bus.publish_run(body, stack.queue, message_id="oversized")
            parked = _dead_letter_with(tap, job_result_id.encode(), timeout=60)
            error = errors.get(timeout=30)
        follow_up = publish(stack, "local/bus_jobs/Quick")
        assert wait_for_result(stack.runtime, follow_up.job_result_id, timeout=60).status == "completed"
        assert child_pids(worker.pid) == processes
    tap.close()
    reason = (f"The request is {len(body)} bytes, more than the {1024 * 1024} workers take "
              "(JOBRUNTIME_MAX_REQUEST_BYTES); send large inputs as uploaded files")
    assert parked is not None and parked.headers[REASON_HEADER] == reason and parked.body == body
    assert error is not None and json.loads(error[1])["reason"] == reason


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_publisher_refuses_a_request_over_the_size_limit_before_recording_or_queueing_it(stack):  # noqa: F811
    with Client(stack.settings, username="alice", record_pending=True) as client:
        request = client.request("local/bus_jobs/Quick", data={"blob": "b" * stack.settings.max_request_bytes})
        with pytest.raises(RequestTooLarge, match=r"more than the 1048576 workers take \(JOBRUNTIME_MAX_REQUEST"):
            client.publish(request)
    with stack.runtime.session() as session:
        assert session.get(JobResult, request.job_result_id) is None


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_worker_and_a_publisher_run_jobs_with_nothing_but_the_definitions_permissions(stack):  # noqa: F811
    tap = DeadLetterTap()
    with _broker_user("jobruntime-worker") as worker_url, _broker_user("jobruntime-publisher") as publisher_url:
        with running_worker({**stack.env, "JOBRUNTIME_BROKER_URL": worker_url}):
            publisher_settings = stack.settings.replace(broker_url=publisher_url)
            with Client(publisher_settings, username="alice") as client:
                request = client.request("local/bus_jobs/Quick")
                with client.follow(request.job_result_id, job=request.job) as follower:
                    client.publish(request)
                    followed = follower.wait(timeout=60)
                marker = uuid.uuid4().hex
                client.bus.publish_run(f'{{"job": "local/bus_jobs/Quick", "requested_by": "{marker}", '
                                       f'"commit": "yes"}}'.encode(), stack.queue, message_id=marker)
                parked = _dead_letter_with(tap, marker.encode(), timeout=60)
    tap.close()
    assert followed.status == "completed"
    assert wait_for_result(stack.runtime, request.job_result_id).status == "completed"
    assert parked is not None and parked.headers[REASON_HEADER] == "commit: Input should be a valid boolean"
