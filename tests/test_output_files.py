"""Output files: ``create_file()`` in a job, listed on its result, downloaded, deleted with it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import sync
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult
from jobruntime.run.events import result_event_row
from jobruntime.run.local import run_local
from jobruntime.run.runtime import Runtime
from tests.cli_support import invoker
from tests.storage_support import fresh_bucket

FILE_JOBS = Path(__file__).parent / "file_jobs"
REPORT = "local/uploads/WriteReport"
CSV = b"device,status\nsw1,ok\n"


@pytest.fixture(params=["file", "s3"])
def files_runtime(request, runtime, session, tmp_path, monkeypatch):
    """A runtime whose JOBS_ROOT has the file jobs, on a directory store or a fresh SeaweedFS bucket."""
    env = {"JOBRUNTIME_DATABASE_URL": runtime.settings.database_url, "JOBRUNTIME_JOBS_ROOT": str(FILE_JOBS),
           "JOBRUNTIME_HOME": str(tmp_path)}
    if request.param == "s3":
        server = request.getfixturevalue("seaweedfs")
        env |= server.env | {"JOBRUNTIME_STORAGE_URL": fresh_bucket(server, monkeypatch, "outputs")}
    settings = runtime.settings.replace(jobs_root=FILE_JOBS, storage_url=env.get("JOBRUNTIME_STORAGE_URL"))
    files_runtime = Runtime(settings=settings, engine=runtime.engine, sanitizer=runtime.sanitizer)
    sync(session, discover(FILE_JOBS))
    for record in session.scalars(select(JobRecord)):
        record.enabled = True
    session.commit()
    files_runtime.cli = invoker(env)
    return files_runtime


def test_output_files_are_stored_listed_and_downloaded(files_runtime, tmp_path):
    result = run_local(files_runtime, REPORT)
    assert result.status == "completed"
    listed = json.loads(files_runtime.cli("results", "files", str(result.id), "--json").output)
    assert [(entry["name"], entry["size"], entry["sha256"]) for entry in listed] == [
        ("report.csv", len(CSV), hashlib.sha256(CSV).hexdigest()),
        ("raw.bin", 256, hashlib.sha256(bytes(range(256))).hexdigest()),
    ]
    assert listed[0]["url"] == f"{files_runtime.store.url}/outputs/{result.id}/report.csv"
    target = tmp_path / "downloaded.csv"
    files_runtime.cli("results", "download", str(result.id), "report.csv", "-o", str(target))
    assert target.read_bytes() == CSV
    shown = json.loads(files_runtime.cli("results", "show", str(result.id), "--json").output)
    assert [entry["name"] for entry in shown["files"]] == ["report.csv", "raw.bin"]


def test_the_download_url_fetches_the_file(files_runtime):
    result = run_local(files_runtime, REPORT)
    (entry, _raw) = json.loads(files_runtime.cli("results", "files", str(result.id), "--json").output)
    if files_runtime.store.url.startswith("s3://"):
        import urllib.request

        with urllib.request.urlopen(entry["download_url"], timeout=30) as response:
            assert response.read() == CSV
    else:
        assert Path(entry["download_url"]).read_bytes() == CSV


def test_output_files_of_a_dry_run_that_errored_are_kept(files_runtime):
    result = run_local(files_runtime, REPORT, data={"outcome": "raise"}, commit=False)
    assert result.status == "errored"
    assert [entry["name"] for entry in result.data["files"]] == ["report.csv", "raw.bin"]
    assert len(files_runtime.store.keys(f"outputs/{result.id}/")) == 2


def test_deleting_a_result_deletes_its_output_files(files_runtime):
    kept, deleted = run_local(files_runtime, REPORT), run_local(files_runtime, REPORT)
    files_runtime.cli("results", "delete", str(deleted.id))
    assert files_runtime.store.keys(f"outputs/{deleted.id}/") == []
    assert len(files_runtime.store.keys(f"outputs/{kept.id}/")) == 2
    with files_runtime.session() as session:
        assert session.get(JobResult, deleted.id) is None and session.get(JobResult, kept.id) is not None
    missing = files_runtime.cli("results", "download", str(deleted.id), "report.csv", code=4)
    assert f"No JobResult {deleted.id}" in missing.output


def test_prune_deletes_finished_results_older_than_the_age_with_their_files(files_runtime):
    old, recent = run_local(files_runtime, REPORT), run_local(files_runtime, REPORT)
    with files_runtime.engine.begin() as connection:
        connection.execute(update(JobResult.__table__).where(JobResult.__table__.c.id == old.id).values(
            created=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)))
    pruned = files_runtime.cli("results", "prune", "--older-than", "30d")
    assert pruned.output.startswith("Deleted 1 JobResult(s)")
    assert files_runtime.store.keys(f"outputs/{old.id}/") == []
    assert len(files_runtime.store.keys(f"outputs/{recent.id}/")) == 2
    assert "expected a number of days" in files_runtime.cli("results", "prune", "--older-than", "soon", code=4).output


def test_the_result_event_lists_the_output_files(files_runtime):
    result = run_local(files_runtime, REPORT)
    with files_runtime.session() as session:
        row = {column.key: getattr(session.get(JobResult, result.id), column.key)
               for column in JobResult.__table__.c}
    event = result_event_row(row)["body"]
    assert [entry["name"] for entry in event["files"]] == ["report.csv", "raw.bin"]
