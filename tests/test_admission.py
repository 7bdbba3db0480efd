"""The one statement a worker reads before it admits a request: record, run row, requester and grant."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from jobruntime.worker.admission import read_admission
from jobruntime.run.auth import RUN_JOB, create_token, grant
from jobruntime.bus.messages import RunRequest
from jobruntime.models import JobResult
from jobruntime.store.prebuilt import in_session

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


def test_the_run_row_is_read_when_it_exists(session, records, alice):
    passing, _failing = records
    job_result_id = uuid.uuid4()
    session.add(JobResult(id=job_result_id, name=passing.class_path, job_model_id=passing.id, status="pending",
                          attempt=2, request={"job": passing.class_path, "requested_by": "alice"}))
    session.flush()
    facts = read_admission(in_session(session), request(job_result_id=job_result_id), RUN_JOB)
    assert {key: facts.run[key] for key in ("name", "status", "attempt")} == {
        "name": "local/basic/PassingJob", "status": "pending", "attempt": 2}
    assert facts.run["request"] == {"job": passing.class_path, "requested_by": "alice"}
    assert facts.run["created"] is not None


@pytest.mark.parametrize("job", ["local/basic/NoSuchJob", "plugins/nowhere.jobs/Nothing", str(uuid.uuid4())])
def test_a_job_that_does_not_exist_yields_nothing_else(session, records, alice, job):
    facts = read_admission(in_session(session), request(job=job), RUN_JOB)
    assert (facts.record, facts.run, facts.user, facts.granted) == (None, None, None, False)
