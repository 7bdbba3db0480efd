"""Who may run what: tokens and signatures prove the requester, permissions and queues limit the run."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jobruntime.bus.messages import RunRequest
from jobruntime.models import ObjectPermission, Token, User
from jobruntime.run.auth import (
    AuthenticationFailed,
    InvalidQueue,
    PermissionDenied,
    authenticate,
    check_queue,
    create_token,
    grant,
    has_permission,
    require_permission,
    sign,
    signed,
    valid_queues,
)
from jobruntime.store.prebuilt import in_session

JOB_MODULES = Path(__file__).parent / "job_modules"
SECRET = "internal-publishers-secret"


def request(**fields) -> RunRequest:
    return RunRequest(job="local/basic/PassingJob", requested_by="alice", **fields)


def refused(session, run_request: RunRequest, secret: str | None = SECRET) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        authenticate(in_session(session), run_request, secret)
    return str(caught.value)


def test_token_store_keeps_only_the_hash_of_the_key(session, alice):
    key = create_token(session, alice, description="ci")
    stored = session.scalars(select(Token)).one()
    assert stored.key_hash != key
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert stored.description == "ci"


def test_each_token_gets_a_new_key(session, alice):
    assert create_token(session, alice) != create_token(session, alice)


def test_token_authenticates_its_user(session, alice):
    key = create_token(session, alice)
    assert authenticate(in_session(session), request(token=key), None).id == alice.id


def test_token_of_another_user_is_invalid_for_the_requested_user(session, alice):
    bob = User(username="bob")
    session.add(bob)
    session.flush()
    assert refused(session, request(token=create_token(session, bob))) == "Invalid token for user alice"


def test_unknown_token_is_invalid(session, alice):
    assert refused(session, request(token="not-a-key")) == "Invalid token for user alice"


def test_expired_token_is_refused(session, alice):
    key = create_token(session, alice, expires=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
    session.commit()
    session.expire_all()
    assert refused(session, request(token=key)) == "Token expired"


def test_token_before_its_expiry_is_accepted(session, alice):
    key = create_token(session, alice, expires=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    assert authenticate(in_session(session), request(token=key), None).id == alice.id


def test_request_without_credentials_is_refused(session, alice):
    assert refused(session, request()) == "No credentials: the request carries neither a token nor a signature"


def test_signature_vouches_for_the_requested_user(session, alice):
    assert authenticate(in_session(session), signed(request(), SECRET), SECRET).id == alice.id


def test_signature_is_the_hex_hmac_of_the_canonical_bytes():
    run_request = request()
    expected = hmac.new(SECRET.encode(), run_request.canonical_bytes(), hashlib.sha256).hexdigest()
    assert sign(run_request, SECRET) == expected


def test_changing_data_after_signing_invalidates_the_signature(session, alice):
    tampered = signed(request(data={"site": "Branch 7"}), SECRET).model_copy(update={"data": {"site": "HQ"}})
    assert refused(session, tampered) == "Invalid signature"


def test_changing_requested_by_after_signing_invalidates_the_signature(session, alice):
    original = signed(RunRequest(job="local/basic/PassingJob", requested_by="bob"), SECRET)
    assert refused(session, original.model_copy(update={"requested_by": "alice"})) == "Invalid signature"


def test_token_takes_no_part_in_the_signature(session, alice):
    with_token = signed(request(), SECRET).model_copy(update={"token": "anything"})
    assert authenticate(in_session(session), with_token, SECRET).id == alice.id


def test_signature_survives_a_trip_over_the_wire(session, alice):
    sent = signed(request(data={"count": 2, "name": "é"}), SECRET)
    assert authenticate(in_session(session), RunRequest.parse(sent.to_json()), SECRET).id == alice.id


def test_signature_made_with_another_secret_is_invalid(session, alice):
    assert refused(session, signed(request(), "other-secret")) == "Invalid signature"


def test_signed_request_is_refused_when_no_secret_is_configured(session, alice):
    assert refused(session, signed(request(), SECRET), None) == (
        "Signed request refused: no signing secret is configured on this worker"
    )


def test_bad_signature_is_not_rescued_by_a_valid_token(session, alice):
    key = create_token(session, alice)
    assert refused(session, request(token=key, signature="00" * 32)) == "Invalid signature"


def test_signed_request_for_an_unknown_user_is_refused(session):
    assert refused(session, signed(request(), SECRET)) == "No such user: alice"


def test_inactive_user_is_refused_even_with_a_valid_token(session, alice):
    key = create_token(session, alice)
    alice.is_active = False
    session.flush()
    assert refused(session, request(token=key)) == "User alice is inactive"


def test_authentication_failure_is_a_permission_error():
    assert issubclass(AuthenticationFailed, PermissionError) and issubclass(PermissionDenied, PermissionError)


def test_user_without_grants_may_not_run_a_job(session, alice, records):
    assert has_permission(in_session(session), alice, "run_job", records[0]) is False


def test_grant_for_one_job_allows_only_that_job(session, alice, records):
    passing, failing = records
    grant(session, alice, "run_job", passing)
    assert has_permission(in_session(session), alice, "run_job", passing) is True
    assert has_permission(in_session(session), alice, "run_job", failing) is False


def test_grant_for_every_job_allows_any_job(session, alice, records):
    grant(session, alice, "run_job")
    assert all(has_permission(in_session(session), alice, "run_job", record) for record in records)


def test_grant_for_another_action_does_not_allow_running(session, alice, records):
    grant(session, alice, "approve_job")
    assert has_permission(in_session(session), alice, "run_job", records[0]) is False


def test_superuser_needs_no_grant(session, records):
    root = User(username="root", is_superuser=True)
    session.add(root)
    session.flush()
    assert has_permission(in_session(session), root, "run_job", records[0]) is True


def test_require_permission_names_user_and_job_for_running(session, alice, records):
    with pytest.raises(PermissionDenied) as caught:
        require_permission(in_session(session), alice, "run_job", records[0])
    assert str(caught.value) == "User alice does not have permission to run job local/basic/PassingJob"


def test_require_permission_names_any_other_action(session, alice, records):
    with pytest.raises(PermissionDenied) as caught:
        require_permission(in_session(session), alice, "approve_job", records[0])
    assert str(caught.value) == 'User alice does not have permission "approve_job" on job local/basic/PassingJob'


def test_require_permission_passes_with_a_grant(session, alice, records):
    grant(session, alice, "run_job", records[0])
    require_permission(in_session(session), alice, "run_job", records[0])


@pytest.mark.parametrize("one_job", [True, False], ids=["one-job", "every-job"])
def test_granting_twice_keeps_one_permission(session, alice, records, one_job):
    job = records[0] if one_job else None
    first = grant(session, alice, "run_job", job)
    assert grant(session, alice, "run_job", job) is first
    assert session.scalar(select(func.count()).select_from(ObjectPermission)) == 1


def test_grant_refuses_an_action_name_too_long_to_store(session, alice):
    with pytest.raises(ValueError, match="An action name must be 1 to 50 characters"):
        grant(session, alice, "x" * 51)


def test_job_without_task_queues_runs_on_the_default_queue(records):
    passing = records[0]
    passing.task_queues = []
    assert valid_queues(passing, "default") == ["default"]
    assert check_queue(passing, None, "default") == "default"


def test_job_task_queues_replace_the_default_queue(records):
    passing = records[0]
    passing.task_queues = ["net", "bulk"]
    assert valid_queues(passing, "default") == ["net", "bulk"]


def test_no_queue_requested_resolves_to_the_first_valid_queue(records):
    passing = records[0]
    passing.task_queues = ["net", "bulk"]
    assert check_queue(passing, None, "default") == "net"


def test_requested_valid_queue_is_kept(records):
    passing = records[0]
    passing.task_queues = ["net", "bulk"]
    assert check_queue(passing, "bulk", "default") == "bulk"


def test_queue_the_job_does_not_allow_is_refused_with_the_valid_ones(records):
    passing = records[0]
    passing.task_queues = ["net", "bulk"]
    with pytest.raises(InvalidQueue) as caught:
        check_queue(passing, "default", "default")
    assert str(caught.value) == (
        '"default" is not a valid task queue for local/basic/PassingJob; valid queues: net, bulk'
    )
