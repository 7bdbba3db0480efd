"""Helpers for job authors' own tests.

    from jobruntime.testing import run_job_for_testing

    def test_new_branch_creates_switches():
        result = run_job_for_testing(NewBranch, data={...})
        assert result.status == "completed"

The database is the one ``JOBRUNTIME_DATABASE_URL`` names (migrated beforehand
with ``jobruntime migrate``), or the ``runtime`` passed in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from jobruntime.authoring.discovery import load_job_class
from jobruntime.authoring.job import Job
from jobruntime.authoring.records import refresh_record
from jobruntime.models import JobResult, User
from jobruntime.run.local import run_local
from jobruntime.run.runtime import Runtime


def ensure_user(runtime: Runtime, username: str, *, superuser: bool = False) -> User:
    with runtime.session() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            user = User(username=username, is_superuser=superuser)
            session.add(user)
            session.commit()
        return user


def run_job_for_testing(
    job: type[Job] | str,
    data: dict[str, Any] | None = None,
    commit: bool = True,
    username: str | None = "test-user",
    *,
    runtime: Runtime | None = None,
    profile: bool = False,
) -> JobResult:
    """Run a job class (or class_path) through the real pipeline; its Job record is created and enabled.

    Returns the stored JobResult with its ``logs`` loaded.
    """
    runtime = runtime or Runtime.from_settings()
    job_class = job if isinstance(job, type) else load_job_class(job, runtime.settings.jobs_root)
    if username:
        ensure_user(runtime, username)
    with runtime.session() as session:
        record, _created = refresh_record(session, job_class)
        record.enabled = True
        session.commit()
    result = run_local(
        runtime, job_class.class_path(), data=data, commit=commit, username=username, job_class=job_class,
        profile=profile,
    )
    with runtime.session() as session:
        return session.scalars(
            select(JobResult)
            .where(JobResult.id == result.id)
            .options(selectinload(JobResult.logs), selectinload(JobResult.user), selectinload(JobResult.job_model))
        ).one()
