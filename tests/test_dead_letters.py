"""The supervisors' dead-letter sweep ends a pending run only for a request the broker gave up on and
that proves it is the run's own, directly against both databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from jobruntime.bus.messages import RunRequest
from jobruntime.bus.topology import FIRST_DEATH_REASON_HEADER, REASON_HEADER
from jobruntime.models import JobResult, User
from jobruntime.run.auth import create_token, signed
from jobruntime.run.events import result_event_row
from jobruntime.worker.dead_letters import end_dead_lettered_run

SECRET = "sweep-secret"
JOB = "local/basic/PassingJob"
GAVE_UP = {FIRST_DEATH_REASON_HEADER: "delivery_limit"}
BROKER_REASON = ("The broker dead-lettered the request (delivery_limit): no worker process could take it; "
                 "it is kept in jobruntime.dead-letter")


@pytest.fixture
def people(session, records):
    """alice and bob, each with a token; PassingJob's record exists."""
    alice, bob = User(username="alice"), User(username="bob")
    session.add_all([alice, bob])
    session.flush()
    tokens = {"alice": create_token(session, alice), "bob": create_token(session, bob)}
    session.commit()
    return {"alice": alice.id, "bob": bob.id, "tokens": tokens, "record": records[0].id}


def _request(**fields) -> RunRequest:
    return RunRequest(**{"job": JOB, "requested_by": "alice", **fields})


def _pending(engine, people, run: RunRequest, **columns) -> None:
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.insert().values(
            id=run.job_result_id, name=JOB, job_model_id=people["record"], status="pending",
            user_id=people["alice"], **columns))


def _row(engine, job_result_id):
    with engine.connect() as connection:
        return connection.execute(select(JobResult.__table__).where(JobResult.id == job_result_id)).first()


def _sweep(engine, body: bytes, headers=GAVE_UP):
    return end_dead_lettered_run(engine, body, headers, signing_secret=SECRET, result_event=result_event_row)


def test_the_broker_giving_up_on_a_users_own_request_ends_their_pending_run(engine, people):
    request = signed(_request(), SECRET)
    _pending(engine, people, request)
    events = _sweep(engine, request.to_json())
    row = _row(engine, request.job_result_id)
    assert (row.status, row.reason, row.user_id) == ("errored", BROKER_REASON, people["alice"])
    assert [event["routing_key"] for event in events] == ["job.result.errored"]
    assert _sweep(engine, request.to_json()) == []  # ended once


@pytest.mark.parametrize("credentials", ["none", "another-users-token", "forged-signature", "token-of-another"])
def test_a_dead_letter_proving_no_one_or_another_user_leaves_a_pending_run_alone(engine, people, credentials):
    victim = _request()
    _pending(engine, people, victim)
    body = {
        "none": lambda: _request(job_result_id=victim.job_result_id),
        "another-users-token": lambda: _request(job_result_id=victim.job_result_id, requested_by="bob",
                                                token=people["tokens"]["bob"]),
        "forged-signature": lambda: signed(_request(job_result_id=victim.job_result_id), "guessed"),
        "token-of-another": lambda: _request(job_result_id=victim.job_result_id, token=people["tokens"]["bob"]),
    }[credentials]().to_json()
    assert _sweep(engine, body) == []
    assert (_row(engine, victim.job_result_id).status, _row(engine, victim.job_result_id).reason) == ("pending", None)


@pytest.mark.parametrize("headers", [
    {REASON_HEADER: "Invalid token for user alice", **GAVE_UP},  # a worker's, whatever else it says
    {FIRST_DEATH_REASON_HEADER: "rejected"},
    {},
], ids=["a-workers", "rejected", "no-reason"])
def test_only_a_spent_delivery_limit_ends_a_run_even_for_its_own_users_request(engine, people, headers):
    request = signed(_request(), SECRET)
    _pending(engine, people, request)
    assert _sweep(engine, request.to_json(), headers) == []
    assert _row(engine, request.job_result_id).status == "pending"


def test_the_request_the_reaper_requeued_ends_its_run_only_as_it_was_stored(engine, people):
    request = _request(data={"n": 1})
    _pending(engine, people, request, attempt=1, request=request.stored())
    altered = {**request.stored(), "data": {"n": 2}}
    assert _sweep(engine, json.dumps(altered).encode()) == []
    assert _row(engine, request.job_result_id).status == "pending"
    assert len(_sweep(engine, json.dumps(request.stored()).encode())) == 1
    assert (_row(engine, request.job_result_id).status, _row(engine, request.job_result_id).user_id) == (
        "errored", people["alice"])


def test_a_run_without_a_row_is_recorded_errored_only_for_a_proven_requester(engine, people):
    unproven = _request(requested_by="bob")
    assert _sweep(engine, unproven.to_json()) == []
    assert _row(engine, unproven.job_result_id) is None
    proven = _request(requested_by="bob", token=people["tokens"]["bob"])
    assert len(_sweep(engine, proven.to_json())) == 1
    row = _row(engine, proven.job_result_id)
    assert (row.status, row.reason, row.user_id, row.name) == ("errored", BROKER_REASON, people["bob"], JOB)


def test_a_dead_letter_leaves_runs_that_are_not_pending_and_bodies_that_name_none(engine, people):
    request = signed(_request(), SECRET)
    _pending(engine, people, request)
    with engine.begin() as connection:
        connection.execute(JobResult.__table__.update().where(JobResult.id == request.job_result_id)
                           .values(status="running"))
    assert _sweep(engine, request.to_json()) == []
    assert _row(engine, request.job_result_id).status == "running"
    deep = b"[" * 100_000 + b"]" * 100_000
    unknown_job = signed(_request(job="local/nowhere/Nothing"), SECRET).to_json()
    for garbage in (b"{not json", b"[]", b'{"job_result_id": "nope"}', b'{"job": "local/x/Y"}', b"\xff\xfe", deep,
                    unknown_job):
        assert _sweep(engine, garbage) == []
