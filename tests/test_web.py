"""The HTTP gateway against a real `jobruntime serve`, real workers, PostgreSQL and RabbitMQ.

Status codes and messages are Nautobot 1.6's (JOBS-REFERENCE §4.4), so its REST
clients work unchanged; pynautobot, a client written for Nautobot, drives it too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import sync
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import DeviceRole, Site, User
from jobruntime.models import Job as JobRecord
from jobruntime.run.auth import RUN_JOB, create_token, grant
from jobruntime.run.runtime import Runtime
from tests.bus_support import bus_environment, running_worker, settings_from, wait_for_result
from tests.web_support import serving

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

WEB_JOBS = Path(__file__).parent / "web_jobs"
MAKE_SITE = "local/branch/MakeSite"


@pytest.fixture
def stack(engine, db_url, tmp_path) -> Iterator[SimpleNamespace]:
    env = bus_environment(db_url, tmp_path, JOBRUNTIME_JOBS_ROOT=str(WEB_JOBS))
    settings = settings_from(env)
    runtime = Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))
    with runtime.session() as session:
        sync(session, discover(WEB_JOBS))
        records = {record.job_class_name: record for record in session.scalars(select(JobRecord))}
        for record in records.values():
            record.enabled = True
        admin, bob, carol = User(username="admin", is_superuser=True), User(username="bob"), User(username="carol")
        session.add_all([admin, bob, carol, DeviceRole(name="Leaf", slug="leaf")])
        session.flush()
        grant(session, bob, RUN_JOB, records["MakeSite"])
        grant(session, carol, RUN_JOB, records["NeedsApproval"])
        tokens = {user.username: create_token(session, user) for user in (admin, bob, carol)}
        session.commit()
        ids = {name: str(record.id) for name, record in records.items()}
    with serving(env) as base:
        yield SimpleNamespace(env=env, runtime=runtime, base=base, tokens=tokens, ids=ids)


def api(stack, method: str, path: str, user: str | None = "admin", **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if user is not None:
        headers["Authorization"] = f"Token {stack.tokens[user]}"
    return httpx.request(method, f"{stack.base}{path}", headers=headers, timeout=30, **kwargs)


def run_url(stack, job: str = "MakeSite") -> str:
    return f"/api/extras/jobs/{stack.ids[job]}/run/"


def test_every_answer_names_the_api_version_and_anonymous_requests_are_refused(stack):
    answer = api(stack, "GET", "/api/extras/jobs/", user=None)
    assert answer.status_code == 403
    assert answer.json() == {"detail": "Authentication credentials were not provided."}
    assert answer.headers["API-Version"] == "1.3"
    bad = api(stack, "GET", "/api/extras/jobs/", user=None, headers={"Authorization": "Token not-a-token"})
    assert (bad.status_code, bad.json()) == (403, {"detail": "Invalid token"})
    root = api(stack, "GET", "/api/")
    assert root.status_code == 200 and root.headers["API-Version"] == "1.3"
    assert root.json()["extras"].endswith("/api/extras/")


def test_status_answers_an_authenticated_client(stack):
    answer = api(stack, "GET", "/api/status/")
    assert answer.status_code == 200
    assert answer.json()["database"] == "postgresql"


def test_jobs_list_filters_and_paginates(stack):
    first = api(stack, "GET", "/api/extras/jobs/", params={"limit": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    second = httpx.get(first["next"], headers={"Authorization": f"Token {stack.tokens['admin']}"}).json()
    assert len(second["results"]) == 1 and second["next"] is None
    names = {job["job_class_name"] for job in first["results"] + second["results"]}
    assert names == {"MakeSite", "NeedsApproval", "Elsewhere"}
    approval = api(stack, "GET", "/api/extras/jobs/", params={"approval_required": "true"}).json()
    assert [job["job_class_name"] for job in approval["results"]] == ["NeedsApproval"]
    grouped = api(stack, "GET", "/api/extras/jobs/", params={"grouping": "Web Jobs", "hidden": "false"}).json()
    assert grouped["count"] == 3
    assert api(stack, "GET", "/api/extras/jobs/", params={"enabled": "maybe"}).status_code == 400


def test_job_detail_and_variables(stack):
    job = api(stack, "GET", f"/api/extras/jobs/{stack.ids['MakeSite']}/").json()
    assert job["class_path"] == MAKE_SITE and job["name"] == "Make site" and job["enabled"] is True
    variables = api(stack, "GET", f"/api/extras/jobs/{stack.ids['MakeSite']}/variables/").json()
    assert variables == [
        {"name": "site_name", "type": "StringVar", "required": True, "max_length": 50},
        {"name": "steps", "type": "IntegerVar", "required": True, "min_value": 1, "max_value": 5, "default": 2},
        {"name": "role", "type": "ObjectVar", "required": False, "model": "dcim.devicerole"},
        {"name": "pause", "type": "IntegerVar", "required": False, "min_value": 0, "max_value": 5000, "default": 0},
    ]
    assert api(stack, "GET", f"/api/extras/jobs/{uuid.uuid4()}/").status_code == 404


def test_patch_needs_change_job_and_sets_overrides(stack):
    path = f"/api/extras/jobs/{stack.ids['MakeSite']}/"
    refused = api(stack, "PATCH", path, user="bob", json={"enabled": False})
    assert (refused.status_code, refused.json()) == (403, {"detail": "You do not have permission to perform this action."})
    changed = api(stack, "PATCH", path, json={"name": "Build a site", "soft_time_limit": 30, "ignored": 1}).json()
    assert (changed["name"], changed["name_override"], changed["soft_time_limit"]) == ("Build a site", True, 30.0)
    restored = api(stack, "PATCH", path, json={"name_override": False}).json()
    assert (restored["name"], restored["name_override"]) == ("Make site", False)
    bad = api(stack, "PATCH", path, json={"soft_time_limit": -1})
    assert bad.status_code == 400 and "soft_time_limit" in bad.json()


def test_a_run_is_validated_published_and_completed_by_a_worker(stack):
    with running_worker(stack.env):
        answer = api(stack, "POST", run_url(stack), user="bob", headers={"Content-Type": "application/json;"},
                     content=json.dumps({"data": {"site_name": "Web 1", "role": {"slug": "leaf"}}, "commit": True,
                                         "unknown_key": "ignored"}))
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["schedule"] is None
        job_result = body["job_result"]
        assert job_result["user"]["username"] == "bob"
        assert job_result["url"].endswith(f"/api/extras/job-results/{job_result['id']}/")
        stored = wait_for_result(stack.runtime, uuid.UUID(job_result["id"]))
    assert stored.status == "completed"
    with stack.runtime.session() as session:
        assert session.scalar(select(Site).where(Site.name == "Web 1")) is not None
    detail = api(stack, "GET", f"/api/extras/job-results/{job_result['id']}/", user="bob").json()
    assert detail["status"] == {"value": "completed", "label": "Completed"}
    assert detail["job_model"]["id"] == stack.ids["MakeSite"]
    logs = api(stack, "GET", f"/api/extras/job-results/{job_result['id']}/logs/", user="bob").json()
    assert [entry["message"] for entry in logs][:3] == ["step 1 of 2", "step 2 of 2", "Created the site"]
    page = api(stack, "GET", "/api/extras/job-logs/", user="bob",
               params={"job_result": job_result["id"], "limit": 2}).json()
    assert page["count"] == len(logs) and len(page["results"]) == 2 and page["next"]


def test_refusals_have_nautobots_codes_and_messages(stack):
    with stack.runtime.session() as session:
        session.get(JobRecord, uuid.UUID(stack.ids["Elsewhere"])).installed = False
        session.commit()
    cases = [
        ("bob", run_url(stack, "NeedsApproval"), {}, 404, {"detail": "Not found."}),
        ("carol", run_url(stack, "MakeSite"), {}, 404, {"detail": "Not found."}),
        ("admin", run_url(stack, "Elsewhere"), {}, 405,
         {"detail": "This job is not presently installed and cannot be run"}),
        ("bob", run_url(stack), {"data": {"steps": 9}}, 400,
         {"errors": {"site_name": ["This field is required."],
                     "steps": ["Ensure this value is less than or equal to 5."]}}),
        ("bob", run_url(stack), {"data": {"site_name": "x"}, "task_queue": "elsewhere"}, 400,
         {"task_queue": ['"elsewhere" is not a valid choice.']}),
        ("bob", run_url(stack), {"data": {"site_name": "x"}, "commit": "perhaps"}, 400,
         {"commit": ["Must be a valid boolean."]}),
        ("bob", run_url(stack), {"data": "site"}, 400, {"data": ["Expected a dictionary of items."]}),
    ]
    for user, path, body, status, expected in cases:
        answer = api(stack, "POST", path, user=user, json=body)
        assert (answer.status_code, answer.json()) == (status, expected), (user, path, body)


def test_a_disabled_job_is_refused_before_its_input_is_read(stack):
    with stack.runtime.session() as session:
        session.get(JobRecord, uuid.UUID(stack.ids["MakeSite"])).enabled = False
        session.commit()
    answer = api(stack, "POST", run_url(stack), user="bob", json={"data": "not even a dict"})
    assert (answer.status_code, answer.json()) == (403, {"detail": "This job is not enabled to be run."})


def test_no_worker_on_the_queue_is_503_and_leaves_no_run(stack):
    answer = api(stack, "POST", run_url(stack, "Elsewhere"), json={})
    assert answer.status_code == 503
    assert "nowhere" in answer.json()["detail"]
    listed = api(stack, "GET", "/api/extras/job-results/").json()
    assert listed["count"] == 0


def test_users_see_only_their_own_results(stack):
    with running_worker(stack.env):
        mine = api(stack, "POST", run_url(stack), user="bob", json={"data": {"site_name": "Bob site"}}).json()
        assert wait_for_result(stack.runtime, uuid.UUID(mine["job_result"]["id"])).status == "completed"
    result_path = f"/api/extras/job-results/{mine['job_result']['id']}/"
    assert api(stack, "GET", result_path, user="carol").status_code == 404
    assert api(stack, "GET", "/api/extras/job-results/", user="carol").json()["count"] == 0
    assert api(stack, "GET", "/api/extras/job-results/", user="bob").json()["count"] == 1
    assert api(stack, "GET", "/api/extras/job-results/", params={"user": "bob", "status": "completed"}).json()["count"] == 1
    assert api(stack, "DELETE", result_path, user="carol").status_code == 404
    assert api(stack, "DELETE", result_path, user="bob").status_code == 204
    assert api(stack, "GET", result_path, user="bob").status_code == 404


def test_stream_sends_log_lines_live_then_the_final_status(stack):
    with running_worker(stack.env):
        answer = api(stack, "POST", run_url(stack), user="bob",
                     json={"data": {"site_name": "Streamed", "steps": 3, "pause": 400}, "commit": True}).json()
        path = f"/api/extras/job-results/{answer['job_result']['id']}/stream/"
        events = []
        with httpx.stream("GET", f"{stack.base}{path}", timeout=60,
                          headers={"Authorization": f"Token {stack.tokens['bob']}"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[len("event: "):]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[len("data: "):])))
    messages = [data["message"] for kind, data in events if kind == "log"]
    assert messages[:4] == ["step 1 of 3", "step 2 of 3", "step 3 of 3", "Created the site"]
    assert len(messages) == len(set(data["seq"] for kind, data in events if kind == "log"))
    assert events[-1] == ("status", {"status": "completed", "reason": None, "completed": events[-1][1]["completed"]})


def test_legacy_class_path_endpoint_answers_200_with_the_job_class(stack):
    with running_worker(stack.env):
        answer = api(stack, "POST", f"/api/extras/jobs/{MAKE_SITE}/run/", user="bob",
                     json={"data": {"site_name": "Legacy"}})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        wait_for_result(stack.runtime, uuid.UUID(body["result"]["id"]))
    assert body["id"] == MAKE_SITE and body["pk"] == stack.ids["MakeSite"]
    assert body["vars"] == {"site_name": "StringVar", "steps": "IntegerVar", "role": "ObjectVar", "pause": "IntegerVar"}
    assert body["test_methods"] == ["test_site_exists"]


def test_openapi_document_describes_the_run_body(stack):
    document = api(stack, "GET", "/api/docs/").json()
    assert document["openapi"].startswith("3.1")
    run_body = document["components"]["schemas"]["JobRunBody"]
    assert set(run_body["properties"]) == {"data", "commit", "task_queue", "schedule"}
    assert "/api/extras/jobs/{id}/run/" in document["paths"]


def test_pynautobot_lists_runs_and_reads_a_job(stack):
    pynautobot = pytest.importorskip("pynautobot")
    nautobot = pynautobot.api(stack.base, token=stack.tokens["bob"])
    assert nautobot.version == "1.3"
    jobs = {job.job_class_name: job for job in nautobot.extras.jobs.all()}
    assert set(jobs) == {"MakeSite", "NeedsApproval", "Elsewhere"}
    with running_worker(stack.env):
        ran = nautobot.extras.jobs.run(job_id=jobs["MakeSite"].id, data={"site_name": "From pynautobot"}, commit=True)
        result_id = ran.job_result.id
        wait_for_result(stack.runtime, uuid.UUID(result_id))
    result = nautobot.extras.job_results.get(result_id)
    assert result.status.value == "completed"
    messages = [entry.message for entry in nautobot.extras.job_logs.filter(job_result=result_id)]
    assert "Created the site" in messages
