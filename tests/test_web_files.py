"""FileVar input through the HTTP gateway: multipart run requests whose files go to the store, not the bus.

A real `jobruntime serve` and worker, PostgreSQL, RabbitMQ, and both stores (SeaweedFS S3 and file://).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select

from jobruntime.models import Job as JobRecord
from jobruntime.models import JobLogEntry, JobResult, User
from jobruntime.run.auth import create_token
from tests.bus_support import bus_environment, bus_runtime, running_worker, seed_jobs_and_users, wait_for_result
from tests.test_files import FILE_JOBS, INVENTORY, _storage
from tests.test_web_ui import csrf_of, web_session
from tests.web_support import serving

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]
READ = "ReadInventory"


@pytest.fixture(params=["s3", "file"])
def gateway(request, engine, db_url, tmp_path, monkeypatch):
    env = bus_environment(db_url, tmp_path, JOBRUNTIME_JOBS_ROOT=str(FILE_JOBS), JOBRUNTIME_MAX_UPLOAD_BYTES="4096",
                          **_storage(request.param, request, tmp_path, monkeypatch))
    settings, runtime = bus_runtime(engine, env)
    seed_jobs_and_users(runtime, FILE_JOBS)
    with runtime.session() as session:
        ids = {record.job_class_name: str(record.id) for record in session.scalars(select(JobRecord))}
        token = create_token(session, session.scalars(select(User).where(User.username == "alice")).one())
        session.commit()
    with serving(env) as base:
        yield SimpleNamespace(env=env, runtime=runtime, store=runtime.store, base=base, token=token, ids=ids,
                              tokens={"alice": token})


def post_run(gateway, files, **form: str) -> httpx.Response:
    """``POST .../run/`` as multipart, as the superuser alice."""
    return httpx.post(f"{gateway.base}/api/extras/jobs/{gateway.ids[READ]}/run/", files=files, data=form,
                      headers={"Authorization": f"Token {gateway.token}"}, timeout=60)


def test_a_multipart_run_stores_the_file_and_the_worker_reads_it(gateway):
    with running_worker(gateway.env):
        answer = post_run(gateway, {"inventory": ("inventory.csv", INVENTORY, "text/csv")}, _commit="true")
        assert answer.status_code == 201, answer.text
        result_id = uuid.UUID(answer.json()["job_result"]["id"])
        result = wait_for_result(gateway.runtime, result_id)
    assert result.status == "completed", result.reason
    with gateway.runtime.session() as session:
        messages = list(session.scalars(select(JobLogEntry.message).where(JobLogEntry.job_result_id == result_id)))
        stored = session.get(JobResult, result_id)
    assert messages[0].startswith(f"inventory.csv: {len(INVENTORY)} bytes, 3 lines, first 'name,site'")
    assert "files" not in (stored.request or {}).get("data", {})  # the request carried a reference, not bytes
    assert gateway.store.keys("uploads/") == []  # deleted once the run ended


def test_a_file_part_for_a_variable_that_is_no_file_input_is_a_400(gateway):
    answer = post_run(gateway, {"inventory": ("a.csv", INVENTORY), "outcome": ("b.txt", b"complete")})
    assert answer.status_code == 400
    assert answer.json() == {"errors": {"outcome": ["This field is not a file input of this job."]}}
    assert gateway.store.keys("uploads/") == []


def test_a_missing_required_file_is_a_400_naming_it(gateway):
    answer = post_run(gateway, {"notes": ("notes.txt", b"hello")})
    assert (answer.status_code, answer.json()) == (400, {"errors": {"inventory": ["This field is required."]}})


def test_a_file_over_the_limit_is_a_413_and_nothing_is_kept(gateway):
    answer = post_run(gateway, {"inventory": ("big.csv", b"x" * 5000)})
    assert answer.status_code == 413
    assert "larger than the 4096 bytes JOBRUNTIME_MAX_UPLOAD_BYTES allows" in answer.json()["detail"]
    assert gateway.store.keys("uploads/") == []
    with gateway.runtime.session() as session:
        assert session.scalars(select(JobResult)).first() is None


def test_the_job_page_form_runs_a_job_with_a_file(gateway):
    """A person's path: the generated form's file input goes to the store like a REST file part."""
    browser = web_session(gateway, "alice")
    page = f"/jobs/{gateway.ids[READ]}/"
    csrf = csrf_of(browser.get(page).text)
    with running_worker(gateway.env):
        answer = browser.post(page, data={"csrf_token": csrf, "outcome": "complete"},
                              files={"inventory": ("site-a.csv", INVENTORY, "text/csv")})
        assert answer.status_code == 303, answer.text
        result_id = uuid.UUID(answer.headers["location"].strip("/").split("/")[-1])
        result = wait_for_result(gateway.runtime, result_id)
    assert result.status == "completed", result.reason
    assert result.data["output"].strip() == "site-a.csv"
    assert gateway.store.keys("uploads/") == []
