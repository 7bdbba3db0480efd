"""The one statement a worker reads before it admits a request: record, run row, requester and grant."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from jobruntime.bus.messages import RunRequest
from jobruntime.models import JobResult
from jobruntime.run.auth import RUN_JOB, create_token, grant
from jobruntime.store.prebuilt import in_session
from jobruntime.worker import admission
from jobruntime.worker.admission import AdmissionReadAhead, read_admission

JOB_MODULES = Path(__file__).parent / "job_modules"


def request(**fields) -> RunRequest:
    return RunRequest(**{"job": "local/basic/PassingJob", "requested_by": "alice", **fields})


def test_it_reads_the_record_by_class_path_or_id_and_the_requester_by_name(session, records, alice):
    passing, _failing = records
    by_path = read_admission(in_session(session), request(), RUN_JOB)
    by_id = read_admission(in_session(session), request(job=str(passing.id)), RUN_JOB)
    for facts in (by_path, by_id):
        assert (facts.record.id, facts.record.class_path) == (passing.id, "local/basic/PassingJob")
        assert (facts.user.id, facts.user.username, facts.token_expires) == (alice.id, "alice", None)
        assert (facts.run, facts.granted) == (None, False)


def test_a_token_names_its_holder_with_its_expiry(session, records, alice):
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    key = create_token(session, alice, expires=expires)
    facts = read_admission(in_session(session), request(requested_by="mallory", token=key), RUN_JOB)
    assert (facts.user.username, facts.token_expires) == ("alice", expires)
    unknown = read_admission(in_session(session), request(token="not-a-token"), RUN_JOB)
    assert (unknown.record is not None, unknown.user) == (True, None)


def test_a_grant_on_the_job_or_on_every_job_is_seen_and_no_other(session, records, alice):
    passing, failing = records
    grant(session, alice, RUN_JOB, passing)
    assert read_admission(in_session(session), request(), RUN_JOB).granted is True
    assert read_admission(in_session(session), request(job="local/basic/FailingJob"), RUN_JOB).granted is False
    assert read_admission(in_session(session), request(), "approve_job").granted is False
    grant(session, alice, RUN_JOB)
    assert read_admission(in_session(session), request(job="local/basic/FailingJob"), RUN_JOB).granted is True
    assert failing.id != passing.id


def test_the_run_row_is_read_when_it_exists_with_its_user(session, records, alice):
    passing, _failing = records
    job_result_id = uuid.uuid4()
    session.add(JobResult(id=job_result_id, name=passing.class_path, job_model_id=passing.id, status="pending",
                          attempt=2, user_id=alice.id, request={"job": passing.class_path, "requested_by": "alice"}))
    session.flush()
    facts = read_admission(in_session(session), request(job_result_id=job_result_id), RUN_JOB)
    assert {key: facts.run[key] for key in ("name", "status", "attempt", "user_id")} == {
        "name": "local/basic/PassingJob", "status": "pending", "attempt": 2, "user_id": alice.id}
    assert facts.run["request"] == {"job": passing.class_path, "requested_by": "alice"}
    assert facts.run["created"] is not None


@pytest.mark.parametrize("job", ["local/basic/NoSuchJob", "plugins/nowhere.jobs/Nothing", str(uuid.uuid4())])
def test_a_job_that_does_not_exist_yields_nothing_else(session, records, alice, job):
    facts = read_admission(in_session(session), request(job=job), RUN_JOB)
    assert (facts.record, facts.run, facts.user, facts.granted) == (None, None, None, False)


def _facts(admission) -> tuple:
    return (admission.record and admission.record.id, admission.run, admission.user and admission.user.id,
            admission.token_expires, admission.granted)


def _body(**fields) -> bytes:
    return request(**fields).model_dump_json().encode()


def _never() -> list[bytes]:
    raise AssertionError("read ahead again: the facts should have been kept")


def test_facts_read_ahead_for_waiting_requests_are_those_a_read_of_each_gives(session, records, alice):
    passing, _failing = records
    grant(session, alice, RUN_JOB, passing)
    pending = uuid.uuid4()
    session.add(JobResult(id=pending, name=passing.class_path, job_model_id=passing.id, status="pending",
                          user_id=alice.id))
    session.flush()
    key = create_token(session, alice)
    waiting = [request(job_result_id=pending), request(job="local/basic/FailingJob"), request(token=key),
               request(job=str(passing.id)), request(job="local/basic/NoSuchJob")]
    ahead = AdmissionReadAhead()
    db = in_session(session)
    first = ahead.read(db, request(), RUN_JOB, lambda: [item.model_dump_json().encode() for item in waiting])
    assert _facts(first) == _facts(read_admission(db, request(), RUN_JOB))
    kept = [ahead.read(db, item, RUN_JOB, _never) for item in waiting]
    assert [_facts(facts) for facts in kept] == [_facts(read_admission(db, item, RUN_JOB)) for item in waiting]
    assert (kept[0].run["status"], kept[2].user.id, kept[3].record.id, kept[4].record) == (
        "pending", alice.id, passing.id, None)


def test_a_fact_read_ahead_serves_once_and_never_once_older_than_max_age(session, records, alice, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(admission.time, "monotonic", lambda: clock[0])
    twice, later = request(), request()
    ahead = AdmissionReadAhead(max_age=0.5)
    db = in_session(session)
    reads = []

    def waiting() -> list[bytes]:
        reads.append(clock[0])
        return [twice.model_dump_json().encode(), twice.model_dump_json().encode(), later.model_dump_json().encode()]

    ahead.read(db, request(), RUN_JOB, waiting)
    assert ahead.read(db, twice, RUN_JOB, _never).record is not None  # the two copies were read once...
    ahead.read(db, twice, RUN_JOB, waiting)  # ...and serve once: the second copy reads again
    assert reads == [1000.0, 1000.0]
    clock[0] += 0.6
    ahead.read(db, later, RUN_JOB, waiting)  # read ahead 0.6 s ago: read again
    assert reads == [1000.0, 1000.0, 1000.6]
    assert ahead.read(db, twice, RUN_JOB, _never).record is not None


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", b"[1]", b'{"job": 5, "job_result_id": "x"}', b'{"job": "local/basic/PassingJob"}',
    b'{"job": "local/basic/PassingJob", "job_result_id": "not-a-uuid"}', b"[" * 100_000,
    b'{"job": "local/basic/PassingJob", "job_result_id": "%s", "token": 7}' % str(uuid.uuid4()).encode(),
])
def test_a_waiting_body_that_does_not_parse_is_not_read_ahead(session, records, alice, body):
    ahead = AdmissionReadAhead()
    facts = ahead.read(in_session(session), request(), RUN_JOB, lambda: [body])
    assert facts.record.class_path == "local/basic/PassingJob"
    assert ahead._facts == {}
