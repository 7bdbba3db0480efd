"""``/api/extras/job-hooks/`` through a real `jobruntime serve`: the rules `jobruntime hooks create` checks, as REST."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from jobruntime.models import Job as JobRecord
from jobruntime.models import JobHook, User
from jobruntime.run.auth import CHANGE_JOB, grant
from tests.test_web import api, stack  # noqa: F401 - the fixture

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

PATH = "/api/extras/job-hooks/"


@pytest.fixture
def receiver(stack) -> str:
    """MakeSite's record marked as a hook receiver: the hook rules read only the record."""
    with stack.runtime.session() as session:
        session.get(JobRecord, uuid.UUID(stack.ids["MakeSite"])).is_job_hook_receiver = True
        session.commit()
    return stack.ids["MakeSite"]


def hook(job: str, **fields) -> dict:
    return {"name": "Devices", "content_types": ["dcim.device"], "job": job, "type_create": True, **fields}


def test_a_hook_is_created_listed_changed_and_deleted(stack, receiver):
    created = api(stack, "POST", PATH, json=hook(receiver, unknown="ignored"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["slug"], body["content_types"], body["enabled"]) == (
        "Devices", "devices", ["dcim.device"], True)
    assert (body["type_create"], body["type_update"], body["type_delete"]) == (True, False, False)
    assert body["job"]["id"] == receiver
    listed = api(stack, "GET", PATH, user="bob", params={"limit": 1}).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"] and listed["next"] is None
    path = f"{PATH}{body['id']}/"
    changed = api(stack, "PATCH", path, json={"enabled": False, "type_delete": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["enabled"], changed.json()["type_delete"]) == (False, True)
    assert api(stack, "GET", PATH, params={"enabled": "true"}).json()["count"] == 0
    assert api(stack, "DELETE", path).status_code == 204
    assert api(stack, "GET", path).status_code == 404
    with stack.runtime.session() as session:
        assert session.scalars(select(JobHook)).first() is None


def test_hook_rules_answer_400_keyed_by_field(stack, receiver):
    assert api(stack, "POST", PATH, json=hook(receiver)).status_code == 201
    cases = [
        ({}, {"name": ["This field is required."], "content_types": ["This field is required."],
              "job": ["This field is required."]}),
        (hook(receiver, name="None", type_create=False),
         {"type_create": ["You must select at least one type: create, update, and/or delete."]}),
        (hook(receiver, name="Clash", type_update=True),
         {"type_create": ["A job hook already exists for create on dcim | device to job Make site"]}),
        (hook(str(uuid.uuid4()), name="Nobody"), None),
        (hook(stack.ids["NeedsApproval"], name="Not a receiver"), None),
        (hook(receiver, name="Bad type", content_types=["dcim.nothing"]), None),
        (hook(receiver, name="Devices", content_types=["dcim.site"]), None),
    ]
    for body, expected in cases:
        answer = api(stack, "POST", PATH, json=body)
        assert answer.status_code == 400, (body, answer.text)
        if expected is not None:
            assert answer.json() == expected
    assert api(stack, "POST", PATH, json=hook(str(uuid.uuid4()), name="x")).json()["job"][0].startswith("Invalid pk")
    assert "not a job hook receiver" in api(stack, "POST", PATH, json=hook(
        stack.ids["NeedsApproval"], name="x")).json()["job"][0]
    assert "is not a change-logged model" in api(stack, "POST", PATH, json=hook(
        receiver, name="x", content_types=["dcim.nothing"])).json()["content_types"][0]
    assert api(stack, "POST", PATH, json=hook(receiver, content_types=["dcim.site"])).json() == {
        "non_field_errors": ['JobHook: name "Devices" already exists']}
    disjoint = api(stack, "POST", PATH, json=hook(receiver, name="Deletes", type_create=False, type_delete=True))
    assert disjoint.status_code == 201, disjoint.text


def test_changing_hooks_needs_change_job_on_the_receiver(stack, receiver):
    refused = api(stack, "POST", PATH, user="bob", json=hook(receiver))
    assert (refused.status_code, refused.json()) == (403, {"detail": "You do not have permission to perform this action."})
    created = api(stack, "POST", PATH, json=hook(receiver)).json()
    path = f"{PATH}{created['id']}/"
    assert api(stack, "PATCH", path, user="bob", json={"enabled": False}).status_code == 403
    assert api(stack, "DELETE", path, user="bob").status_code == 403
    with stack.runtime.session() as session:
        bob = session.scalar(select(User).where(User.username == "bob"))
        grant(session, bob, CHANGE_JOB, session.get(JobRecord, uuid.UUID(receiver)))
        session.commit()
    assert api(stack, "PATCH", path, user="bob", json={"enabled": False}).json()["enabled"] is False
    assert api(stack, "DELETE", path, user="bob").status_code == 204
    assert api(stack, "GET", PATH, user=None).status_code == 403


def test_openapi_document_describes_hooks_and_scheduled_jobs(stack):
    document = api(stack, "GET", "/api/docs/").json()
    assert set(document["paths"]["/api/extras/job-hooks/"]) == {"get", "post"}
    assert "force" in [p["name"] for p in document["paths"]["/api/extras/scheduled-jobs/{id}/approve/"]["post"]["parameters"]]
    assert set(document["components"]["schemas"]["JobHookBody"]["properties"]) == {
        "name", "content_types", "job", "enabled", "type_create", "type_update", "type_delete"}


def test_unknown_api_paths_and_methods_answer_in_json(stack):
    missing = api(stack, "GET", "/api/extras/nothing-here/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    wrong = api(stack, "PUT", "/api/extras/job-hooks/")
    assert (wrong.status_code, wrong.json()) == (405, {"detail": 'Method "PUT" not allowed.'})
    assert httpx.get(f"{stack.base}/no-such-page/", timeout=30).status_code == 404
