"""Runs with a schedule, the approval queue and its actions through a real `jobruntime serve` (JOBS-REFERENCE §4, §6.6).

The rules are the scheduling package's; these tests hold the REST API to
Nautobot's status codes, bodies and messages for them.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from jobruntime.models import DeviceRole, JobResult, ScheduledJob, User
from jobruntime.models import Job as JobRecord
from jobruntime.run.auth import APPROVE_JOB, grant
from tests.bus_support import running_worker, wait_for_result
from tests.test_web import api, run_url, stack  # noqa: F401 - the fixture

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

PAST_START = "Please enter a valid date and time greater than or equal to the current date and time."
SENSITIVE = "Unable to schedule job: Job may have sensitive input variables"


def later(seconds: int = 3600) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat()


def allow(stack, username: str, action: str, job: str) -> None:
    with stack.runtime.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        grant(session, user, action, session.get(JobRecord, uuid.UUID(stack.ids[job])))
        session.commit()


def request_approval(stack, **schedule) -> dict:
    """Carol asks to run NeedsApproval; returns the schedule of the 201 answer."""
    answer = api(stack, "POST", run_url(stack, "NeedsApproval"), user="carol",
                 json={"schedule": schedule} if schedule else {})
    assert answer.status_code == 201, answer.text
    assert answer.json()["job_result"] is None
    return answer.json()["schedule"]


def test_an_approval_required_job_through_the_api_makes_a_schedule_and_no_job_result(stack):
    schedule = request_approval(stack)
    assert schedule["interval"] == "immediately"
    assert schedule["url"].endswith(f"/api/extras/scheduled-jobs/{schedule['id']}/")
    with stack.runtime.session() as session:
        stored = session.get(ScheduledJob, uuid.UUID(schedule["id"]))
        assert (stored.interval, stored.approval_required, stored.approved_at) == ("immediately", True, None)
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0
    detail = api(stack, "GET", f"/api/extras/scheduled-jobs/{schedule['id']}/", user="carol").json()
    assert detail["kwargs"]["scheduled_job_pk"] == schedule["id"]
    assert detail["user"]["username"] == "carol" and detail["state"] == "awaiting approval"


def test_a_scheduled_run_stores_its_input_and_makes_no_job_result(stack):
    with stack.runtime.session() as session:
        role = session.scalar(select(DeviceRole).where(DeviceRole.slug == "leaf"))
        role_pk = str(role.pk)
    answer = api(stack, "POST", run_url(stack), user="bob", json={
        "data": {"site_name": "Later", "role": role_pk},
        "schedule": {"interval": "daily", "name": "Nightly", "start_time": later()}})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["job_result"] is None
    assert (body["schedule"]["name"], body["schedule"]["interval"]) == ("Nightly", "daily")
    detail = api(stack, "GET", f"/api/extras/scheduled-jobs/{body['schedule']['id']}/", user="bob").json()
    assert detail["kwargs"]["data"]["role"] == role_pk
    assert detail["kwargs"]["scheduled_job_pk"] == body["schedule"]["id"]
    assert detail["approval_required"] is False and detail["state"] == "scheduled"
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0


def test_an_object_given_by_lookup_is_stored_and_sent_as_its_pk(stack):
    with stack.runtime.session() as session:
        role_pk = str(session.scalar(select(DeviceRole).where(DeviceRole.slug == "leaf")).pk)
    scheduled = api(stack, "POST", run_url(stack), user="bob", json={
        "data": {"site_name": "Lookup", "role": {"slug": "leaf"}},
        "schedule": {"interval": "future", "name": "Once", "start_time": later()}}).json()["schedule"]
    detail = api(stack, "GET", f"/api/extras/scheduled-jobs/{scheduled['id']}/", user="bob").json()
    assert detail["kwargs"]["data"] == {"site_name": "Lookup", "role": role_pk}
    with running_worker(stack.env):
        answer = api(stack, "POST", run_url(stack), user="bob", json={"data": {"site_name": "Now", "role": {"slug": "leaf"}}})
        result_id = uuid.UUID(answer.json()["job_result"]["id"])
        assert wait_for_result(stack.runtime, result_id, timeout=60).status == "completed"
    with stack.runtime.session() as session:
        assert session.get(JobResult, result_id).job_kwargs["data"]["role"] == role_pk


def test_schedule_fields_get_nautobots_messages_in_json_and_multipart(stack):
    cases = [
        ({"name": "n"}, {"schedule": {"interval": ["This field is required."]}}),
        ({"interval": "yearly"}, {"schedule": {"interval": ['"yearly" is not a valid choice.']}}),
        ({"interval": "future", "start_time": later()},
         {"schedule": {"name": ["Please provide a name for the job schedule."]}}),
        ({"interval": "future", "name": "n"}, {"schedule": {"start_time": [PAST_START]}}),
        ({"interval": "future", "name": "n", "start_time": later(-60)}, {"schedule": {"start_time": [PAST_START]}}),
        ({"interval": "future", "name": "n", "start_time": later(5)}, {"schedule": {"start_time": [PAST_START]}}),
        ({"interval": "weekly", "name": "n", "start_time": "next tuesday"}, {"schedule": {"start_time": [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}}),
        ({"interval": "custom", "name": "n"}, {"schedule": {"crontab": ["Please enter a valid crontab."]}}),
    ]
    for schedule, expected in cases:
        answer = api(stack, "POST", run_url(stack), user="bob", json={"data": {"site_name": "x"}, "schedule": schedule})
        assert (answer.status_code, answer.json()) == (400, expected), schedule
    crontab = api(stack, "POST", run_url(stack), user="bob", json={
        "data": {"site_name": "x"}, "schedule": {"interval": "custom", "name": "n", "crontab": "-1 * * * *"}})
    assert crontab.status_code == 400 and crontab.json()["schedule"]["crontab"][0].startswith("Invalid crontab")
    form = api(stack, "POST", run_url(stack), user="bob",
               files={"site_name": (None, "x"), "_schedule_interval": (None, "future"),
                      "_schedule_start_time": (None, later())})
    assert (form.status_code, form.json()) == (400, {"_schedule_name": ["Please provide a name for the job schedule."]})
    custom = api(stack, "POST", run_url(stack), user="bob",
                 files={"site_name": (None, "x"), "_schedule_interval": (None, "custom"),
                        "_schedule_name": (None, "Every quarter hour"), "_schedule_crontab": (None, "*/15 9,17 3 * 1-5")})
    assert custom.status_code == 201, custom.text
    assert custom.json()["schedule"]["crontab"] == "*/15 9,17 3 * 1-5"


def test_a_job_with_sensitive_variables_is_never_scheduled_even_through_multipart(stack):
    with stack.runtime.session() as session:
        session.get(JobRecord, uuid.UUID(stack.ids["MakeSite"])).has_sensitive_variables = True
        session.commit()
    expected = {"schedule": {"interval": [SENSITIVE]}}
    answer = api(stack, "POST", run_url(stack), user="bob", json={
        "data": {"site_name": "x"}, "schedule": {"interval": "future", "name": "n", "start_time": later()}})
    assert (answer.status_code, answer.json()) == (400, expected)
    form = api(stack, "POST", run_url(stack), user="bob", files={
        "site_name": (None, "x"), "_schedule_interval": (None, "future"), "_schedule_name": (None, "n"),
        "_schedule_start_time": (None, later())})
    assert (form.status_code, form.json()) == (400, expected)
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(ScheduledJob)) == 0
        record = session.get(JobRecord, uuid.UUID(stack.ids["NeedsApproval"]))
        record.has_sensitive_variables = True
        session.commit()
    both = api(stack, "POST", run_url(stack, "NeedsApproval"), user="carol", json={})
    assert (both.status_code, both.json()) == (400, [
        "Unable to run or schedule job: This job is flagged as possibly having sensitive variables but is also "
        "flagged as requiring approval.One of these two flags must be removed before this job can be scheduled or run."])


def test_scheduled_jobs_list_paginates_and_shows_each_user_what_they_may_see(stack):
    ids = [request_approval(stack, interval="future", name=f"Later {n}", start_time=later(3600 + n))["id"]
           for n in range(3)]
    first = api(stack, "GET", "/api/extras/scheduled-jobs/", params={"limit": 2}).json()
    assert first["count"] == 3 and [row["id"] for row in first["results"]] == ids[:2] and first["previous"] is None
    second = api(stack, "GET", first["next"].removeprefix(stack.base)).json()
    assert [row["id"] for row in second["results"]] == ids[2:] and second["next"] is None
    assert api(stack, "GET", "/api/extras/scheduled-jobs/", user="carol").json()["count"] == 3
    assert api(stack, "GET", "/api/extras/scheduled-jobs/", user="bob").json()["count"] == 0
    assert api(stack, "GET", f"/api/extras/scheduled-jobs/{ids[0]}/", user="bob").status_code == 404
    allow(stack, "bob", APPROVE_JOB, "NeedsApproval")
    queue = api(stack, "GET", "/api/extras/scheduled-jobs/", user="bob", params={"awaiting_approval": "true"}).json()
    assert queue["count"] == 3


def test_approve_refuses_without_permission_and_the_requester_then_approves(stack):
    schedule_id = request_approval(stack)["id"]
    path = f"/api/extras/scheduled-jobs/{schedule_id}/approve/"
    refused = api(stack, "POST", path, user="bob")
    assert (refused.status_code, refused.json()) == (403, {"detail": "You do not have permission to approve this request."})
    allow(stack, "carol", APPROVE_JOB, "NeedsApproval")
    own = api(stack, "POST", path, user="carol")
    assert (own.status_code, own.json()) == (403, {"detail": "You cannot approve your own job request!"})
    approved = api(stack, "POST", path)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["approved_by_user"]["username"] == "admin" and body["approved_at"] and body["state"] == "scheduled"
    again = api(stack, "POST", path)
    assert again.status_code == 400 and "is not awaiting approval" in again.json()["detail"]
    assert api(stack, "POST", f"/api/extras/scheduled-jobs/{uuid.uuid4()}/approve/").status_code == 404


def test_a_past_one_off_is_approved_only_with_force(stack):
    schedule_id = request_approval(stack, interval="future", name="Soon", start_time=later(60))["id"]
    with stack.runtime.session() as session:
        session.get(ScheduledJob, uuid.UUID(schedule_id)).start_time = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        session.commit()
    path = f"/api/extras/scheduled-jobs/{schedule_id}/approve/"
    refused = api(stack, "POST", path)
    assert (refused.status_code, refused.json()) == (400, [
        "The job's start time is in the past. If you want to force a run anyway, add the `force` query parameter."])
    forced = api(stack, "POST", path, params={"force": "false"})  # any non-empty value counts, as Nautobot reads it
    assert forced.status_code == 200 and forced.json()["approved_by_user"]["username"] == "admin"


def test_deny_needs_approve_job_and_deletes_the_request(stack):
    schedule_id = request_approval(stack)["id"]
    path = f"/api/extras/scheduled-jobs/{schedule_id}/deny/"
    refused = api(stack, "POST", path, user="bob")
    assert (refused.status_code, refused.json()) == (403, {"detail": "You do not have permission to deny this request."})
    denied = api(stack, "POST", path)
    assert (denied.status_code, denied.json()) == (200, None)
    assert api(stack, "GET", f"/api/extras/scheduled-jobs/{schedule_id}/").status_code == 404
    withdrawn = request_approval(stack)["id"]
    assert api(stack, "POST", f"/api/extras/scheduled-jobs/{withdrawn}/deny/", user="carol").status_code == 200
    with stack.runtime.session() as session:
        assert session.scalar(select(func.count()).select_from(ScheduledJob)) == 0
        assert session.scalar(select(func.count()).select_from(JobResult)) == 0


def test_dry_run_runs_the_input_without_commit_as_the_caller_and_keeps_the_schedule(stack):
    schedule_id = request_approval(stack)["id"]
    path = f"/api/extras/scheduled-jobs/{schedule_id}/dry-run/"
    refused = api(stack, "POST", path, user="bob")
    assert (refused.status_code, refused.json()) == (403, {"detail": "You do not have permission to run this job."})
    with running_worker(stack.env):
        answer = api(stack, "POST", path)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["user"]["username"] == "admin" and body["status"]["value"] == "pending"
        assert body["job_kwargs"]["commit"] is False
        assert wait_for_result(stack.runtime, uuid.UUID(body["id"]), timeout=60).status == "completed"
    detail = api(stack, "GET", f"/api/extras/scheduled-jobs/{schedule_id}/").json()
    assert (detail["state"], detail["approved_at"], detail["total_run_count"]) == ("awaiting approval", None, 0)
    with stack.runtime.session() as session:
        session.get(JobRecord, uuid.UUID(stack.ids["NeedsApproval"])).enabled = False
        session.commit()
    not_runnable = api(stack, "POST", path)
    assert (not_runnable.status_code, not_runnable.json()) == (
        405, {"detail": 'Method "This job cannot be dry-run at this time." not allowed.'})
