"""Requests that may not touch the run they name, against a real worker on RabbitMQ and PostgreSQL.

Anyone who can publish can name any run's ``job_result_id``; only a request that proves
it comes from the run's user may change that run. Everyone else is answered on the bus
(a dead letter with the reason, and a ``job.error`` for their follower).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kombu import Connection
from sqlalchemy import select

from jobruntime.authoring.records import find_record
from jobruntime.bus.broker import Bus
from jobruntime.bus.topology import REASON_HEADER
from jobruntime.client import Client, RunRejected
from jobruntime.models import JobResult, User
from jobruntime.run.auth import RUN_JOB, create_token, grant
from tests.bus_support import RABBIT_URL, running_worker, wait_for_result
from tests.rabbit import DeadLetterTap
from tests.test_worker import stack  # noqa: F401 - the worker test stack: users alice (superuser) and bob

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

QUICK = "local/bus_jobs/Quick"
NO_CREDENTIALS = "No credentials: the request carries neither a token nor a signature"


def _raw(job, job_result_id, **fields):
    """A request body as any publisher may send it, credentials or not."""
    return json.dumps({"job": job, "job_result_id": str(job_result_id), "requested_by": "alice", **fields}).encode()


def _publish_raw(stack, *bodies):
    with Connection(RABBIT_URL) as connection:
        producer = connection.Producer()
        for body in bodies:
            producer.publish(body, exchange="jobruntime.run", routing_key=stack.queue,
                             content_type="application/json", delivery_mode=2)


def _user_with_token(stack, username, *, may_run=None):
    """A new user and their token; ``may_run`` names a job they are granted."""
    with stack.runtime.session() as session:
        user = User(username=username)
        session.add(user)
        session.flush()
        if may_run is not None:
            grant(session, user, RUN_JOB, find_record(session, may_run))
        token = create_token(session, user)
        session.commit()
    return token


def _by_token(stack, username, token):
    """A client that proves who it is with a token (no signing secret)."""
    return Client(stack.settings.replace(signing_secret=None), username=username, token=token)


def _dead_letters(tap, markers, timeout=30):
    """The dead letter whose body holds each marker, by marker."""
    found = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(markers) and time.monotonic() < deadline:
        message = tap.get(timeout=max(deadline - time.monotonic(), 0.1))
        for marker in markers:
            if message is not None and marker in message.body:
                found[marker] = message
    return found


def _rows(stack, *job_result_ids):
    """(status, reason, attempt, username) of each run that has a row."""
    with stack.runtime.session() as session:
        return session.execute(
            select(JobResult.status, JobResult.reason, JobResult.attempt, User.username)
            .outerjoin(User, User.id == JobResult.user_id).where(JobResult.id.in_(job_result_ids))
        ).all()


def _errors(subscription, count, timeout=30):
    """The first ``count`` job.error payloads, in arrival order."""
    payloads = []
    deadline = time.monotonic() + timeout
    while len(payloads) < count and time.monotonic() < deadline:
        message = subscription.get(timeout=0.5)
        if message is not None:
            payloads.append(json.loads(message[1]))
    return payloads


def test_requests_that_prove_another_user_or_no_one_never_change_a_pending_run(stack):
    """The intruders' requests arrive before the genuine one: the genuine run still runs, as its user's."""
    carol_token = _user_with_token(stack, "carol", may_run=QUICK)
    settings = stack.settings.replace(check_consumers=False)
    with Bus(settings) as bus:
        bus.declare_run_queues([stack.queue])
    with Client(settings, username="alice", record_pending=True) as alice:
        genuine = alice.request(QUICK)
        victim = genuine.job_result_id
        with _by_token(stack, "bob", stack.bob_token) as bob, _by_token(stack, "carol", carol_token) as carol:
            unpermitted, permitted = bob.request(QUICK, job_result_id=victim), carol.request(QUICK, job_result_id=victim)
        _publish_raw(stack, _raw(QUICK, victim), _raw(QUICK, victim, commit="true"),
                     unpermitted.to_json(), permitted.to_json())
        tap = DeadLetterTap()
        alice.publish(genuine)
        assert _rows(stack, victim)[0].status == "pending"  # its publisher's row, as runjob records it
        with running_worker(stack.env):
            wait_for_result(stack.runtime, victim, timeout=60)
            parked = _dead_letters(tap, [b'"commit": "true"', b'"requested_by": "alice"}', b'"bob"', b'"carol"'])
        tap.close()
    assert _rows(stack, victim) == [("completed", None, 1, "alice")]
    reasons = {marker: message.headers[REASON_HEADER] for marker, message in parked.items()}
    assert reasons == {
        b'"commit": "true"': "commit: Input should be a valid boolean",
        b'"requested_by": "alice"}': NO_CREDENTIALS,
        b'"bob"': f"job_result_id {victim} already belongs to another user's run of {QUICK}; "
                  f"give every request a new id",
        b'"carol"': f"job_result_id {victim} already belongs to another user's run of {QUICK}; "
                    f"give every request a new id",
    }


def test_unauthenticated_requests_leave_no_row_and_get_one_answer_whether_the_job_exists(stack):
    ids = {name: uuid.uuid4() for name in ("known", "unknown", "known-bad-token", "unknown-bad-token")}
    bodies = [
        _raw(QUICK, ids["known"]),
        _raw("local/bus_jobs/Nope", ids["unknown"]),
        _raw(QUICK, ids["known-bad-token"], token="not-a-token"),
        _raw("local/bus_jobs/Nope", ids["unknown-bad-token"], token="not-a-token"),
    ]
    tap = DeadLetterTap()
    with running_worker(stack.env), Bus(stack.settings) as bus:
        errors = bus.subscribe(["job.error"])
        _publish_raw(stack, *bodies)
        parked = _dead_letters(tap, [str(job_result_id).encode() for job_result_id in ids.values()])
        announced = {payload["job_result_id"]: payload["reason"] for payload in _errors(errors, len(ids))}
        errors.close()
        tap.close()
    reasons = {name: parked[str(job_result_id).encode()].headers[REASON_HEADER] for name, job_result_id in ids.items()}
    assert reasons == {"known": NO_CREDENTIALS, "unknown": NO_CREDENTIALS,
                       "known-bad-token": "Invalid token for user alice",
                       "unknown-bad-token": "Invalid token for user alice"}
    assert announced == {str(ids[name]): reason for name, reason in reasons.items()}
    assert _rows(stack, *ids.values()) == []


def test_another_users_request_reusing_a_run_id_of_the_same_job_is_told_of_the_conflict(stack):
    carol_token = _user_with_token(stack, "carol", may_run=QUICK)
    with Client(stack.settings, username="alice") as alice, running_worker(stack.env):
        first = alice.request(QUICK)
        alice.publish(first)
        assert wait_for_result(stack.runtime, first.job_result_id).status == "completed"
        with _by_token(stack, "carol", carol_token) as carol:
            reused = carol.request(QUICK, job_result_id=first.job_result_id)
            with carol.follow(reused.job_result_id, job=QUICK, sent=reused.to_json()) as follower:
                carol.publish(reused)
                with pytest.raises(RunRejected) as rejected:
                    follower.wait(timeout=60)
    assert rejected.value.reason == (f"job_result_id {first.job_result_id} already belongs to another user's run of "
                                     f"{QUICK}; give every request a new id")
    assert _rows(stack, first.job_result_id) == [("completed", None, 1, "alice")]
