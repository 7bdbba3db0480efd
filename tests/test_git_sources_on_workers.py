"""Git jobs on real workers: each worker fetches the pinned commit itself (no shared files), without a restart."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from kombu import Connection

from jobruntime.client import Client
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import User
from jobruntime.run.runtime import Runtime
from tests.bus_support import JOBRUNTIME, RABBIT_URL, bus_environment, running_worker, settings_from, wait_for_result
from tests.cli_support import invoker
from tests.git_support import hello_repository

pytestmark = [pytest.mark.bus, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

WAITER = '''
import time
from pathlib import Path

from jobruntime import Job, StringVar
from .helpers import GREETING


class Waiter(Job):
    class Meta:
        has_sensitive_variables = False

    gate = StringVar()

    def run(self, data, commit):
        while not Path(data["gate"]).exists():
            time.sleep(0.05)
        return GREETING
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def git_daemon(tmp_path):
    """``git daemon`` serving every repository under ``tmp_path/served`` on 127.0.0.1; yields its base URL."""
    root = tmp_path / "served"
    root.mkdir()
    port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={root}", "--listen=127.0.0.1",
         f"--port={port}", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield SimpleNamespace(root=root, url=f"git://127.0.0.1:{port}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


@pytest.fixture
def stack(engine, db_url, tmp_path, git_daemon):
    """A worker environment and a command line whose JOBRUNTIME_HOME differ: they share no files."""
    worker_env = bus_environment(db_url, tmp_path / "worker-home")
    cli = invoker({**worker_env, "JOBRUNTIME_HOME": str(tmp_path / "cli-home")})
    settings = settings_from(worker_env)
    runtime = Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))
    with runtime.session() as session:
        session.add(User(username="alice", is_superuser=True))
        session.commit()
    repository = hello_repository(git_daemon.root)
    repository.write("jobs/waiter.py", WAITER)
    repository.push("waiter")
    cli("git", "add", "team", f"{git_daemon.url}/team.git")
    cli("git", "sync", "team")
    cli("jobs", "enable", "git.team/hello/Hello")
    cli("jobs", "enable", "git.team/waiter/Waiter")
    yield SimpleNamespace(env=worker_env, settings=settings, runtime=runtime, cli=cli, repository=repository,
                          home=tmp_path / "worker-home")
    with Connection(RABBIT_URL) as connection:
        connection.channel().queue_delete(worker_env["JOBRUNTIME_DEFAULT_QUEUE"])


def run_on_worker(stack, job, data=None, wait=True):
    with Client(stack.settings, username="alice") as client:
        request = client.request(job, data=data or {})
        client.publish(request)
    return wait_for_result(stack.runtime, request.job_result_id, timeout=60) if wait else request


def head(stack) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=stack.repository.work, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_a_worker_that_stayed_up_runs_the_new_commit_after_a_sync(stack):
    first_commit = head(stack)
    with running_worker(stack.env):
        first = run_on_worker(stack, "git.team/hello/Hello")
        stack.repository.write("jobs/helpers.py", "GREETING = 'hello v2'\n")
        second_commit = stack.repository.push("v2")
        stack.cli("git", "sync", "team")
        second = run_on_worker(stack, "git.team/hello/Hello")
    assert (first.status, first.data["output"].strip(), first.source) == (
        "completed", "hello v1", f"git.team@{first_commit}")
    assert (second.status, second.data["output"].strip(), second.source) == (
        "completed", "hello v2", f"git.team@{second_commit}")
    fetched = {path.name for path in (stack.home / "git" / "team" / "commits").iterdir()}
    assert {first_commit, second_commit} <= fetched


def test_a_run_in_flight_during_a_sync_finishes_on_its_commit(stack, tmp_path):
    gate = tmp_path / "gate"
    first_commit = head(stack)
    with running_worker(stack.env, concurrency=2):
        waiting = run_on_worker(stack, "git.team/waiter/Waiter", {"gate": str(gate)}, wait=False)
        wait_for_result(stack.runtime, waiting.job_result_id, timeout=60, statuses=("running",))
        stack.repository.write("jobs/helpers.py", "GREETING = 'hello v2'\n")
        stack.repository.push("v2")
        stack.cli("git", "sync", "team")
        after = run_on_worker(stack, "git.team/hello/Hello")
        gate.touch()
        finished = wait_for_result(stack.runtime, waiting.job_result_id, timeout=60)
    assert after.data["output"].strip() == "hello v2"
    assert (finished.status, finished.data["output"].strip(), finished.source) == (
        "completed", "hello v1", f"git.team@{first_commit}")


def test_the_sync_runs_on_a_worker_once_a_repository_is_added(stack):
    stack.repository.write("jobs/helpers.py", "GREETING = 'hello v3'\n")
    new_commit = stack.repository.push("v3")
    stack.cli("jobs", "disable", "plugins/jobruntime.sources.sync_job/SyncGitRepository")
    stack.cli("git", "add", "again", stack.repository.url)
    with running_worker(stack.env):
        synced = subprocess.run(
            [JOBRUNTIME, "git", "sync", "team", "--on-worker", "-u", "alice"],
            env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=120,
        )
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "Refreshed Job record" in synced.stdout
        assert new_commit in synced.stdout
        after = run_on_worker(stack, "git.team/hello/Hello")
    assert after.data["output"].strip() == "hello v3" and after.source == f"git.team@{new_commit}"
    assert not (Path(stack.env["JOBRUNTIME_HOME"]).parent / "cli-home" / "git" / "team" / "commits" / new_commit).exists()


def test_sibling_worker_processes_share_one_copy_of_a_commit(stack):
    commit = head(stack)
    with running_worker(stack.env, concurrency=2):
        requests = [run_on_worker(stack, "git.team/hello/Hello", wait=False) for _ in range(6)]
        results = [wait_for_result(stack.runtime, request.job_result_id, timeout=60) for request in requests]
    assert {(result.status, result.source) for result in results} == {("completed", f"git.team@{commit}")}
    assert [path.name for path in (stack.home / "git" / "team" / "commits").iterdir()] == [commit]


def test_a_run_whose_commit_cannot_be_fetched_errors_and_the_worker_keeps_serving(stack):
    hidden = stack.repository.bare.with_name("hidden.git")
    stack.repository.bare.rename(hidden)  # the server no longer has the repository
    with running_worker(stack.env):
        lost = run_on_worker(stack, "git.team/hello/Hello")
        hidden.rename(stack.repository.bare)
        served = run_on_worker(stack, "git.team/hello/Hello")
    assert lost.status == "errored" and lost.reason.startswith(f"Unable to fetch commit {head(stack)}")
    assert (served.status, served.data["output"].strip()) == ("completed", "hello v1")
