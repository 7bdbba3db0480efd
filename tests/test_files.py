"""Files end to end: `runjob --file`, `Client.request(files=...)` and workers on RabbitMQ,
PostgreSQL and a real SeaweedFS server (or the embedded ``file://`` store)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from kombu import Connection
from sqlalchemy import func, select

from jobruntime.bus.broker import Bus
from jobruntime.client import Client
from jobruntime.models import JobLogEntry, JobResult
from jobruntime.storage import open_store
from tests.bus_support import (
    JOBRUNTIME,
    RABBIT_URL,
    bus_environment,
    bus_runtime,
    child_pids,
    running_worker,
    seed_jobs_and_users,
    wait_for_result,
)
from tests.rabbit import poisoned_queue
from tests.storage_support import free_port, fresh_bucket

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

FILE_JOBS = Path(__file__).parent / "file_jobs"
READ = "local/uploads/ReadInventory"
INVENTORY = b"name,site\nsw1,HQ\nsw2,HQ\n"


def _storage(kind: str, request, tmp_path: Path, monkeypatch) -> dict[str, str]:
    """The environment of one store: a fresh bucket on the SeaweedFS server, or a directory."""
    if kind == "file":
        return {"JOBRUNTIME_STORAGE_URL": (tmp_path / "files").as_uri()}
    server = request.getfixturevalue("seaweedfs")
    return {"JOBRUNTIME_STORAGE_URL": fresh_bucket(server, monkeypatch, "runs"), **server.env}


@pytest.fixture(params=["s3", "file"])
def stack(request, engine, db_url, tmp_path, monkeypatch):
    env = bus_environment(db_url, tmp_path, JOBRUNTIME_JOBS_ROOT=str(FILE_JOBS),
                          **_storage(request.param, request, tmp_path, monkeypatch))
    settings, runtime = bus_runtime(engine, env)
    bob_token = seed_jobs_and_users(runtime, FILE_JOBS)
    inventory = tmp_path / "inventory.csv"
    inventory.write_bytes(INVENTORY)
    yield SimpleNamespace(env=env, settings=settings, runtime=runtime, store=runtime.store, inventory=inventory,
                          bob_token=bob_token, tmp_path=tmp_path)
    with Connection(RABBIT_URL) as connection:
        try:
            connection.channel().queue_delete(env["JOBRUNTIME_DEFAULT_QUEUE"])
        except Exception:  # noqa: BLE001 - the queue may not exist
            pass


def runjob(stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([JOBRUNTIME, "runjob", *args], env={**os.environ, **stack.env, **env},
                          capture_output=True, text=True, timeout=120)


def uploads(stack) -> list[str]:
    return stack.store.keys("uploads/")


def messages(stack, job_result_id) -> list[str]:
    with stack.runtime.session() as session:
        return list(session.scalars(
            select(JobLogEntry.message).where(JobLogEntry.job_result_id == job_result_id).order_by(JobLogEntry.seq)
        ))


def results(stack) -> int:
    with stack.runtime.session() as session:
        return session.scalar(select(func.count()).select_from(JobResult))


def publish(stack, files, *, username="alice", token=None, data=None):
    with Client(stack.settings, username=username, token=token) as client:
        request = client.request(READ, data=data or {}, files=files)
        client.publish(request)
    return request


def test_runjob_uploads_the_file_the_job_reads_it_and_the_upload_is_deleted(stack):
    with running_worker(stack.env):
        completed = runjob(stack, "-u", "alice", "--file", f"inventory=@{stack.inventory}", READ)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    digest = hashlib.sha256(INVENTORY).hexdigest()
    assert f"inventory.csv: {len(INVENTORY)} bytes, 3 lines, first 'name,site', sha256 {digest}" in completed.stdout
    assert uploads(stack) == []


def test_a_request_carries_a_reference_to_the_uploaded_file_not_its_bytes(stack):
    with Client(stack.settings, username="alice") as client:
        request = client.request(READ, files={"inventory": stack.inventory})
    reference = request.files["inventory"]
    assert reference.url == f"{stack.store.url}/uploads/{request.job_result_id}/inventory/inventory.csv"
    assert (reference.name, reference.size, reference.sha256, reference.content_type) == (
        "inventory.csv", len(INVENTORY), hashlib.sha256(INVENTORY).hexdigest(), "text/csv")
    assert INVENTORY not in request.to_json()
    assert uploads(stack) == [f"uploads/{request.job_result_id}/inventory/inventory.csv"]


def test_an_invalid_request_uploads_nothing(stack):
    with Client(stack.settings, username="alice") as client, pytest.raises(ValueError, match="must be a class path"):
        client.request("not-a-class-path", files={"inventory": stack.inventory})
    assert uploads(stack) == []


def test_a_client_request_with_files_runs_and_every_upload_is_gone_whatever_the_status(stack):
    with running_worker(stack.env):
        requests = {
            outcome: publish(stack, {"inventory": io.BytesIO(INVENTORY), "notes": stack.inventory},
                             data={"outcome": outcome})
            for outcome in ("complete", "fail", "raise")
        }
        statuses = {outcome: wait_for_result(stack.runtime, request.job_result_id, timeout=60).status
                    for outcome, request in requests.items()}
    assert statuses == {"complete": "completed", "fail": "failed", "raise": "errored"}
    assert "notes: name,site\nsw1,HQ\nsw2,HQ\n" in messages(stack, requests["complete"].job_result_id)
    assert uploads(stack) == []


def test_a_run_refused_for_permission_deletes_its_uploads(stack):
    with running_worker(stack.env):
        request = publish(stack, {"inventory": stack.inventory}, username="bob", token=stack.bob_token)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=60)
    assert result.status == "errored" and "permission" in result.reason.lower()
    assert uploads(stack) == []


@pytest.mark.parametrize("change, reason", [
    (lambda store, key: store.write(key, io.BytesIO(INVENTORY.upper())),
     "inventory: the uploaded file's checksum does not match"),
    (lambda store, key: store.write(key, io.BytesIO(INVENTORY[:5])),
     f"inventory: the uploaded file is truncated (5 of {len(INVENTORY)} bytes)"),
    (lambda store, key: store.delete(key), "inventory: the uploaded file is missing from storage"),
], ids=["tampered", "truncated", "missing"])
def test_an_unusable_upload_ends_the_run_errored_naming_the_variable_and_the_job_never_starts(stack, change, reason):
    with Client(stack.settings, username="alice") as client:
        request = client.request(READ, files={"inventory": stack.inventory})
        change(stack.store, stack.store.key_for(request.files["inventory"].url))
        with running_worker(stack.env):
            client.publish(request)
            result = wait_for_result(stack.runtime, request.job_result_id, timeout=60)
    assert result.status == "errored" and result.reason.startswith(reason)
    assert not any("bytes" in message for message in messages(stack, request.job_result_id))
    assert uploads(stack) == []


def test_publish_uploads_files_for_a_raw_request(stack):
    request_file = stack.tmp_path / "request.json"
    request_file.write_text(json.dumps({"job": READ, "requested_by": "alice", "data": {"outcome": "complete"}}))
    with running_worker(stack.env):
        published = subprocess.run(
            [JOBRUNTIME, "publish", str(request_file), "--file", f"inventory=@{stack.inventory}"],
            env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=60,
        )
        assert published.returncode == 0, published.stdout + published.stderr
        job_result_id = uuid.UUID(json.loads(published.stdout)["job_result_id"])
        assert wait_for_result(stack.runtime, job_result_id, timeout=60).status == "completed"
    assert any(message.startswith("inventory.csv: 24 bytes") for message in messages(stack, job_result_id))
    assert uploads(stack) == []


def test_an_oversized_file_is_refused_before_anything_is_uploaded_or_published(stack):
    completed = runjob(stack, "-u", "alice", "--file", f"inventory=@{stack.inventory}", READ,
                       JOBRUNTIME_MAX_UPLOAD_BYTES="10")
    assert completed.returncode == 4
    assert f"inventory: {stack.inventory} is {len(INVENTORY)} bytes, more than the 10 bytes" in completed.stderr
    assert uploads(stack) == [] and results(stack) == 0


def test_two_files_for_one_variable_are_refused(stack):
    completed = runjob(stack, "-u", "alice", "--file", f"inventory=@{stack.inventory}",
                       "--file", f"inventory=@{stack.inventory}", READ)
    assert completed.returncode == 4 and "two files for inventory" in completed.stderr


def test_runjob_local_reads_the_file_where_it_is(stack):
    completed = runjob(stack, "--local", "-u", "alice", "--file", f"inventory=@{stack.inventory}", READ)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"inventory.csv: {len(INVENTORY)} bytes, 3 lines" in completed.stdout
    assert uploads(stack) == []


def test_a_missing_required_file_is_reported_like_any_required_variable(stack):
    completed = runjob(stack, "--local", "-u", "alice", READ)
    assert completed.returncode == 2
    assert "inventory: This field is required." in completed.stdout


def test_a_file_for_a_variable_the_job_does_not_have_is_reported(stack):
    completed = runjob(stack, "--local", "-u", "alice", "--file", f"inventory=@{stack.inventory}",
                       "--file", f"firmware=@{stack.inventory}", READ)
    assert completed.returncode == 2
    assert "firmware: Job data contained an unknown property" in completed.stdout


def test_the_embedded_default_takes_files_with_no_server(stack):
    if stack.store.url.startswith("s3://"):
        pytest.skip("the embedded default stores files in a directory")
    env = {"JOBRUNTIME_BROKER_URL": "memory://", "JOBRUNTIME_SIGNING_SECRET": ""}
    env_without_storage = {key: value for key, value in stack.env.items() if key != "JOBRUNTIME_STORAGE_URL"}
    completed = subprocess.run(
        [JOBRUNTIME, "runjob", "-u", "alice", "--file", f"inventory=@{stack.inventory}", READ],
        env={**os.environ, **env_without_storage, **env}, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"inventory.csv: {len(INVENTORY)} bytes, 3 lines" in completed.stdout
    assert open_store((stack.tmp_path / "files").as_uri()).keys("uploads/") == []


def test_a_store_down_at_upload_is_one_line_and_nothing_is_published(stack):
    if not stack.store.url.startswith("s3://"):
        pytest.skip("an S3 endpoint that is down")
    completed = runjob(stack, "-u", "alice", "--file", f"inventory=@{stack.inventory}", READ,
                       AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{free_port()}")
    assert completed.returncode == 4
    assert completed.stderr.strip().splitlines()[-1].startswith("Error: Storage at http://127.0.0.1:")
    assert results(stack) == 0


def test_a_store_down_at_fetch_is_retried_then_ends_the_run_errored_with_the_stores_error(stack):
    if not stack.store.url.startswith("s3://"):
        pytest.skip("an S3 endpoint that is down")
    with Client(stack.settings, username="alice") as client:
        request = client.request(READ, files={"inventory": stack.inventory})
        with running_worker({**stack.env, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}"}):
            client.publish(request)
            result = wait_for_result(stack.runtime, request.job_result_id, timeout=90)
    assert result.status == "errored"
    assert result.reason.startswith("The uploaded files could not be fetched: Storage at http://127.0.0.1:")
    assert not any("bytes" in message for message in messages(stack, request.job_result_id))


def test_a_sensitive_job_keeps_the_file_out_of_its_stored_input_and_log(stack):
    with running_worker(stack.env):
        with Client(stack.settings, username="alice") as client:
            request = client.request("local/uploads/SensitiveUpload", files={"secret_file": stack.inventory})
            client.publish(request)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=60)
    assert result.status == "completed"
    assert (result.job_kwargs, result.request) == (None, None)
    assert messages(stack, request.job_result_id) == [f"read {len(INVENTORY)} bytes"]
    assert uploads(stack) == []


def test_the_uploads_of_a_request_the_broker_dead_lettered_are_deleted(stack):
    """Every worker process that took the request died before claiming it; the supervisor's sweep cleans up."""
    settings = stack.settings.replace(check_consumers=False)
    poison = f"poison-{stack.env['JOBRUNTIME_DEFAULT_QUEUE']}"
    with Bus(settings) as bus, running_worker(stack.env), poisoned_queue(bus, poison) as queue, \
            Client(settings, username="alice", record_pending=True) as client:
        request = client.request(READ, task_queue=queue, files={"inventory": stack.inventory})
        client.publish(request)
        result = wait_for_result(stack.runtime, request.job_result_id, timeout=120)
    assert result.status == "errored" and "dead-lettered" in result.reason
    deadline = time.monotonic() + 30
    while uploads(stack) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert uploads(stack) == []


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def _cli_peak_rss_kib(stack, *args: str) -> int:
    """Peak RSS of one `jobruntime runjob` process, read from its rusage by a parent that does nothing else."""
    measure = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    completed = subprocess.run([sys.executable, "-c", measure, JOBRUNTIME, "runjob", *args],
                               env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return int(completed.stdout)


def test_a_50_mib_file_never_sits_whole_in_the_worker_or_the_cli(stack):
    big = stack.tmp_path / "big.txt"
    line = b"x" * 99 + b"\n"
    with open(big, "wb") as target:
        for _ in range(50 * 1024 * 1024 // len(line)):
            target.write(line)
    with running_worker(stack.env) as supervisor:
        (worker,) = child_pids(supervisor.pid)
        small_cli = _cli_peak_rss_kib(stack, "-u", "alice", "--file", f"inventory=@{stack.inventory}", READ)
        before = _peak_rss_kib(worker)
        big_cli = _cli_peak_rss_kib(stack, "-u", "alice", "--file", f"inventory=@{big}", READ)
        after = _peak_rss_kib(worker)
    assert uploads(stack) == []
    with stack.runtime.session() as session:
        logged = session.scalars(select(JobLogEntry.message).where(JobLogEntry.message.like("big.txt%"))).one()
    assert logged.startswith(f"big.txt: {big.stat().st_size} bytes, {big.stat().st_size // len(line)} lines")
    assert (after - before) < 32 * 1024, f"worker peak RSS grew by {(after - before) // 1024} MiB"
    assert (big_cli - small_cli) < 32 * 1024, f"runjob peak RSS grew by {(big_cli - small_cli) // 1024} MiB"


def test_a_run_cancelled_while_pending_has_its_uploads_deleted_when_a_worker_gets_it(stack):
    with running_worker(stack.env):
        pass  # declares the run queue
    with Client(stack.settings.replace(check_consumers=False), username="alice", record_pending=True) as client:
        request = client.request(READ, files={"inventory": stack.inventory})
        client.publish(request)
    cancelled = subprocess.run([JOBRUNTIME, "results", "cancel", str(request.job_result_id), "-u", "alice"],
                               env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=60)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert len(uploads(stack)) == 1
    with running_worker(stack.env):
        deadline = time.monotonic() + 60
        while uploads(stack) and time.monotonic() < deadline:
            time.sleep(0.2)
    result = wait_for_result(stack.runtime, request.job_result_id)
    assert (result.status, result.reason) == ("errored", "cancelled by alice")
    assert uploads(stack) == []
    assert not any("bytes" in message for message in messages(stack, request.job_result_id))
