"""Shared set-up for the benchmarks: a migrated database with the benchmark jobs enabled."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import sync
from jobruntime.core.settings import Settings
from jobruntime.models import Job as JobRecord
from jobruntime.run.runtime import Runtime
from jobruntime.store.database import migrate
from jobruntime.testing import ensure_user

HERE = Path(__file__).parent
JOBS_ROOT = HERE / "jobs"
PG_BASE = os.environ.get("JOBRUNTIME_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def fresh_postgres_url() -> str:
    """A new empty database, so every run starts from the same state."""
    name = f"jobruntime_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG_BASE}/test", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_BASE.replace('postgresql://', 'postgresql+psycopg://')}/{name}"


def drop_postgres(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(f"{PG_BASE}/test", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepared_runtime(database_url: str, home: Path) -> Runtime:
    runtime = Runtime.from_settings(Settings(database_url=database_url, jobs_root=JOBS_ROOT, home=home))
    migrate(runtime.engine)
    with runtime.session() as session:
        sync(session, discover(JOBS_ROOT))
        for record in session.query(JobRecord):
            record.enabled = True
        session.commit()
    ensure_user(runtime, "bench")
    return runtime
