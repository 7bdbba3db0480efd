"""Helpers for tests that run real workers against RabbitMQ and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import sync
from jobruntime.bus.broker import Bus
from jobruntime.core.sanitize import Sanitizer
from jobruntime.core.settings import Settings
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, User
from jobruntime.run.auth import create_token
from jobruntime.run.runtime import Runtime
from tests.rabbit import AMQP_URL

RABBIT_URL = os.environ.get("JOBRUNTIME_TEST_BROKER_URL", AMQP_URL)
JOB_MODULES = Path(__file__).parent / "job_modules"
JOBRUNTIME = str(Path(sys.executable).parent / "jobruntime")
TERMINAL = ("completed", "failed", "errored")


def bus_environment(db_url: str, home: Path, **overrides: str) -> dict[str, str]:
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {
        "JOBRUNTIME_DATABASE_URL": db_url,
        "JOBRUNTIME_BROKER_URL": RABBIT_URL,
        "JOBRUNTIME_JOBS_ROOT": str(JOB_MODULES),
        "JOBRUNTIME_HOME": str(home),
        "JOBRUNTIME_DEFAULT_QUEUE": queue,
        "JOBRUNTIME_LEASE_SECONDS": "2",
        "JOBRUNTIME_SIGNING_SECRET": "test-signing-secret",
        "JOBRUNTIME_LOG_FLUSH_INTERVAL": "0.1",
    }
    env.update(overrides)
    return env


def settings_from(env: dict[str, str]) -> Settings:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return Settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def running_worker(
    env: dict[str, str], queues: str | None = None, concurrency: int = 1, *, log: Path | None = None,
    wait: bool = True,
) -> Iterator[subprocess.Popen]:
    """A `jobruntime worker` process; waits until it consumes (unless ``wait`` is false), stops it with SIGTERM
    afterwards. ``log`` keeps its output (one line per delivery's outcome, among others)."""
    queues = queues or env["JOBRUNTIME_DEFAULT_QUEUE"]
    # Not a pipe: nobody reads it, and a full pipe would stall the worker.
    output = log.open("a") if log is not None else tempfile.TemporaryFile()
    process = subprocess.Popen(
        [JOBRUNTIME, "worker", "-Q", queues, "--concurrency", str(concurrency)],
        env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT, text=True,
    )
    output.close()
    try:
        if wait:
            wait_for_consumers(env, queues.split(",")[0], concurrency)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_consumers(env: dict[str, str], queue: str, count: int, timeout: float = 30) -> None:
    with Bus(settings_from(env)) as bus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if bus.queue_workers(queue) >= count:
                return
            time.sleep(0.1)
    raise TimeoutError(f"no worker consumed {queue} within {timeout} s")


def wait_for_result(runtime, job_result_id: uuid.UUID, timeout: float = 30, statuses=TERMINAL) -> JobResult:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with runtime.session() as session:
                result = session.scalars(select(JobResult).where(JobResult.id == job_result_id)).first()
        except OperationalError:
            result = None  # the database is restarting; the pool reconnects on the next try
        if result is not None and result.status in statuses:
            return result
        time.sleep(0.1)
    raise TimeoutError(f"JobResult {job_result_id} did not reach {statuses} within {timeout} s")


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` forked (a supervisor's worker processes)."""
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def broker_connections(pid: int, port: int = 5672) -> int:
    """Established TCP connections process ``pid`` holds to the broker's ``port``, read from /proc."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            sockets.add(target[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                established = fields[3] == "01"
                if established and int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in sockets:
                    count += 1
    return count


def bus_runtime(engine, env: dict[str, str]) -> tuple[Settings, Runtime]:
    """The settings of ``env`` and a runtime on ``engine`` with them."""
    settings = settings_from(env)
    return settings, Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))


def seed_jobs_and_users(runtime: Runtime, jobs_root: Path) -> str:
    """Every job of ``jobs_root`` recorded and enabled, superuser alice and plain bob; returns bob's API token."""
    with runtime.session() as session:
        sync(session, discover(jobs_root))
        for record in session.scalars(select(JobRecord)):
            record.enabled = True
        session.add_all([User(username="alice", is_superuser=True), User(username="bob")])
        session.flush()
        bob_token = create_token(session, session.scalars(select(User).where(User.username == "bob")).one())
        session.commit()
    return bob_token
